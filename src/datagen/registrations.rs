//! Registration messages for the card-making benchmark: verified records as collection
//! would send them to card making (`registration_requested` envelopes, NDJSON, one
//! envelope per line), with the card fields encrypted under the deployment's personal
//! data key. Lets the benchmark fill the order queue without running the whole
//! collection and verification pipeline first (measured separately).
//!
//! The people and the envelope writer are shared with [`super::card_statuses`].

use std::io::Write;

use chrono::NaiveDate;

use crate::contracts::messages::{CardFields, Registration, RegistrationRequested};
use crate::contracts::{Envelope, Message};
use crate::domain::citizen_id::check_character;
use crate::domain::{BatchId, RecordId};
use crate::pii::PiiKeys;

/// County codes of a Yingkou-like city the orders are spread over.
pub const COUNTIES: [&str; 6] = ["210802", "210803", "210804", "210811", "210881", "210882"];

const FAMILY: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: [&str; 10] = ["小明", "秀英", "伟", "洋", "静", "军", "丽", "强", "芳", "磊"];

/// One generated person: `i` is the person's index in the file, `n` the index within
/// the county.
pub(crate) struct Person {
    pub citizen_id: String,
    pub name: String,
    pub sex: &'static str,
    pub birth_date: NaiveDate,
    pub village: String,
}

/// The `n`th person of `county` (the `i`th of the file). Citizen IDs are valid and
/// distinct within a county (birth day and sequence number follow from `n`).
pub(crate) fn person(county: &str, i: u64, n: u64, seed: u64) -> Result<Person, Box<dyn std::error::Error>> {
    let start = NaiveDate::from_ymd_opt(1950, 1, 1).ok_or("date")?;
    let birth = start + chrono::Duration::days((n / 1000) as i64 * 7 + (seed % 7) as i64);
    let seq = n % 1000;
    let body = format!("{county}{}{seq:03}", birth.format("%Y%m%d"));
    let check = check_character(&body).ok_or("check character")?;
    Ok(Person {
        citizen_id: format!("{body}{check}"),
        name: format!("{}{}", FAMILY[(i % 10) as usize], GIVEN[((i / 10) % 10) as usize]),
        sex: if seq % 2 == 1 { "1" } else { "2" },
        birth_date: birth,
        village: format!("第{}村", n % 40 + 1),
    })
}

/// Writes `payload` as one `kind` envelope from `source`, on a line of its own.
pub(crate) fn write_envelope<W: Write, M: Message>(
    out: &mut W,
    source: &str,
    payload: &M,
) -> Result<(), Box<dyn std::error::Error>> {
    let envelope = Envelope {
        id: uuid::Uuid::now_v7(),
        source: source.into(),
        kind: M::KIND.into(),
        created_at: chrono::Utc::now(),
        payload: serde_json::value::to_raw_value(payload)?,
    };
    serde_json::to_writer(&mut *out, &envelope)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes `count` registrations, `per_message` to an envelope.
pub fn write<W: Write>(
    out: &mut W,
    pii: &PiiKeys,
    count: u64,
    per_message: usize,
    seed: u64,
) -> Result<u64, Box<dyn std::error::Error>> {
    let batch_id = BatchId::from(uuid::Uuid::from_u64_pair(seed, 0).to_string());
    let mut messages = 0;
    let mut registrations = Vec::with_capacity(per_message);
    for i in 0..count {
        let county = COUNTIES[(i % COUNTIES.len() as u64) as usize];
        let n = i / COUNTIES.len() as u64;
        let p = person(county, i, n, seed)?;
        let fields = CardFields {
            name: p.name,
            sex: p.sex.into(),
            ethnicity: "01".into(),
            birth_date: p.birth_date,
            citizen_id: p.citizen_id.clone(),
            address: format!("辽宁省营口市{}{}号", p.village, n % 300 + 1),
            ncms_number: format!("{county}{n:08}"),
            phone: Some(format!("138{:08}", i % 100_000_000)),
            county_code: county.into(),
            village: p.village.clone(),
        };
        registrations.push(Registration {
            record_id: RecordId::from(uuid::Uuid::from_u64_pair(seed, i + 1).to_string()),
            version: 1,
            batch_id: batch_id.clone(),
            county_code: county.into(),
            village: p.village,
            id_hash: pii.hash(&p.citizen_id),
            fields_enc: pii.encrypt(&serde_json::to_string(&fields)?)?,
        });
        if registrations.len() == per_message || i + 1 == count {
            let message = RegistrationRequested { registrations: std::mem::take(&mut registrations) };
            write_envelope(out, "collection", &message)?;
            messages += 1;
        }
    }
    Ok(messages)
}
