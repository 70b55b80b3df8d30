//! Card status messages for the settlement benchmark: one activated card per person, as
//! card making sends them to settlement (`card_status_changed` envelopes, NDJSON, one
//! envelope per line, the holder's name encrypted under the deployment's personal data
//! key and the citizen ID only as its keyed hash). Lets the benchmark fill settlement
//! with card holders without making the cards first.

use std::io::Write;

use super::registrations::{person, write_envelope};
use crate::contracts::messages::{CardHolder, CardStatusChanged};
use crate::domain::name::PersonName;
use crate::domain::pan::check_digit;
use crate::domain::{CardNo, CardState, Pan};
use crate::pii::PiiKeys;

/// The county every card of the file belongs to.
pub const COUNTY: &str = "210804";

/// The `i`th card number of `seed`: 19 digits, Luhn-valid, distinct per seed and index.
pub fn card_no(seed: u64, i: u64) -> Result<CardNo, Box<dyn std::error::Error>> {
    let body = format!("62270{}{i:012}", seed % 10);
    let digit = check_digit(&body).ok_or("check digit")?;
    Ok(CardNo::from(Pan::parse(&format!("{body}{digit}"))?))
}

/// Writes `count` envelopes, each the activation (change 1) of one person's card.
pub fn write<W: Write>(out: &mut W, pii: &PiiKeys, count: u64, seed: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let at = chrono::Utc::now();
    for i in 0..count {
        let p = person(COUNTY, i, i, seed)?;
        let name_masked = PersonName::parse(&p.name).map(|n| n.name().mask()).unwrap_or_else(|_| "*".into());
        let status = CardStatusChanged {
            card_no: card_no(seed, i)?,
            id_hash: pii.hash(&p.citizen_id),
            county_code: COUNTY.into(),
            state: CardState::Activated,
            reason: None,
            at,
            seq: 1,
            holder: CardHolder {
                village: p.village,
                name_masked,
                name_enc: pii.encrypt(&p.name)?,
                sex: p.sex.into(),
                birth_date: p.birth_date,
            },
            replaces: None,
        };
        write_envelope(out, "cardmaking", &status)?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_valid_distinct_and_activated_once() {
        let dir = tempfile::tempdir().unwrap();
        let pii = PiiKeys::load_or_create(&dir.path().join("pii.key")).unwrap();
        let mut out = Vec::new();
        assert_eq!(write(&mut out, &pii, 2500, 3).unwrap(), 2500);
        let mut cards = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for line in String::from_utf8(out).unwrap().lines() {
            let envelope: crate::contracts::Envelope = serde_json::from_str(line).unwrap();
            assert_eq!(envelope.kind, "card_status_changed");
            let status: CardStatusChanged = serde_json::from_str(envelope.payload.get()).unwrap();
            assert_eq!((status.seq, status.state, status.county_code.as_str()), (1, CardState::Activated, COUNTY));
            assert_eq!(status.card_no.as_str().len(), 19);
            assert!(Pan::parse(status.card_no.as_str()).is_ok());
            let name = pii.decrypt(&status.holder.name_enc).unwrap();
            assert_eq!(PersonName::parse(&name).unwrap().name().mask(), status.holder.name_masked);
            assert!(status.holder.name_masked.contains('*'));
            cards.insert(status.card_no);
            hashes.insert(status.id_hash);
        }
        assert_eq!((cards.len(), hashes.len()), (2500, 2500));
    }
}
