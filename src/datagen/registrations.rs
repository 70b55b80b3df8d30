//! Registration messages for the card-making benchmark: verified records as collection
//! would send them to card making (`registration_requested` envelopes, NDJSON, one
//! envelope per line), with the card fields encrypted under the deployment's personal
//! data key. Lets the benchmark fill the order queue without running the whole
//! collection and verification pipeline first (measured separately).

use std::io::Write;

use crate::contracts::messages::{CardFields, Registration, RegistrationRequested};
use crate::contracts::{Envelope, Message};
use crate::domain::citizen_id::check_character;
use crate::domain::{BatchId, RecordId};
use crate::pii::PiiKeys;

/// County codes of a Yingkou-like city the orders are spread over.
pub const COUNTIES: [&str; 6] = ["210802", "210803", "210804", "210811", "210881", "210882"];

const FAMILY: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: [&str; 10] = ["小明", "秀英", "伟", "洋", "静", "军", "丽", "强", "芳", "磊"];

/// Writes `count` registrations, `per_message` to an envelope. Citizen IDs are valid
/// and distinct (county, birth day and sequence number follow from the index).
pub fn write<W: Write>(
    out: &mut W,
    pii: &PiiKeys,
    count: u64,
    per_message: usize,
    seed: u64,
) -> Result<u64, Box<dyn std::error::Error>> {
    let start = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).ok_or("date")?;
    let batch_id = BatchId::from(uuid::Uuid::from_u64_pair(seed, 0).to_string());
    let mut messages = 0;
    let mut registrations = Vec::with_capacity(per_message);
    for i in 0..count {
        let county = COUNTIES[(i % COUNTIES.len() as u64) as usize];
        let n = i / COUNTIES.len() as u64;
        let birth = start + chrono::Duration::days((n / 1000) as i64 * 7 + (seed % 7) as i64);
        let seq = n % 1000;
        let body = format!("{county}{}{seq:03}", birth.format("%Y%m%d"));
        let check = check_character(&body).ok_or("check character")?;
        let citizen_id = format!("{body}{check}");
        let name = format!("{}{}", FAMILY[(i % 10) as usize], GIVEN[((i / 10) % 10) as usize]);
        let village = format!("第{}村", n % 40 + 1);
        let fields = CardFields {
            name,
            sex: if seq % 2 == 1 { "1" } else { "2" }.into(),
            ethnicity: "01".into(),
            birth_date: birth,
            citizen_id: citizen_id.clone(),
            address: format!("辽宁省营口市{village}{}号", n % 300 + 1),
            ncms_number: format!("{county}{n:08}"),
            phone: Some(format!("138{:08}", i % 100_000_000)),
            county_code: county.into(),
            village: village.clone(),
        };
        registrations.push(Registration {
            record_id: RecordId::from(uuid::Uuid::from_u64_pair(seed, i + 1).to_string()),
            version: 1,
            batch_id: batch_id.clone(),
            county_code: county.into(),
            village,
            id_hash: pii.hash(&citizen_id),
            fields_enc: pii.encrypt(&serde_json::to_string(&fields)?)?,
        });
        if registrations.len() == per_message || i + 1 == count {
            let payload = serde_json::value::to_raw_value(&RegistrationRequested {
                registrations: std::mem::take(&mut registrations),
            })?;
            let envelope = Envelope {
                id: uuid::Uuid::now_v7(),
                source: "collection".into(),
                kind: RegistrationRequested::KIND.into(),
                created_at: chrono::Utc::now(),
                payload,
            };
            serde_json::to_writer(&mut *out, &envelope)?;
            out.write_all(b"\n")?;
            messages += 1;
        }
    }
    Ok(messages)
}
