//! Comparing a submitted record with its register entries (DOMAIN.md section 3): pure
//! code, no I/O. Every reason that applies is reported, in a stable order:
//! `not_in_register` | `register_duplicate`, `name_mismatch`, `sex_mismatch`,
//! `birth_date_mismatch`, `ethnicity_mismatch`, `deceased`, `migrated_out`, `cancelled`.
//!
//! With duplicate entries (the register holds the ID twice) a field is reported as
//! mismatching only when it matches none of the entries, and every inactive status of
//! any entry is reported: the record is rejected anyway (`register_duplicate`), and the
//! village sees everything that may need a look.
//!
//! Names are equal after normalisation (middle-dot variants, full-width forms, spaces)
//! and conversion to simplified characters, so 張偉 equals 张伟. A `name_mismatch`
//! carries the register's name masked (王*明), never in full.

use chrono::NaiveDate;

use crate::contracts::messages::{MismatchReason, RecordToVerify, VerificationOutcome};
use crate::domain::normalize::normalize_name;
use crate::domain::{Ethnicity, PersonName, Sex};

/// The fields of one register entry that matching compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterFact {
    pub name: String,
    /// GB/T 2261.1 code, `1` or `2`.
    pub sex: String,
    pub birth_date: NaiveDate,
    /// GB 3304 two-digit code.
    pub ethnicity: String,
    /// `active`, `deceased`, `migrated_out` or `cancelled`.
    pub status: String,
}

/// A name in the form names are compared in: normalised, then simplified characters.
pub fn comparable_name(name: &str) -> String {
    let normalized = normalize_name(name);
    normalize_name(&zhconv::zhconv(&normalized, zhconv::Variant::ZhHans))
}

/// The register's name as the village may see it: 王*明.
pub fn masked_name(name: &str) -> String {
    match PersonName::parse(name) {
        Ok(parsed) => parsed.into_name().mask(),
        // Stored names passed validation; mask every character if one did not.
        Err(_) => name.chars().map(|_| '*').collect(),
    }
}

fn sex_code(value: &str) -> Option<&'static str> {
    Sex::parse(value).ok().map(|s| s.code())
}

fn ethnicity_code(value: &str) -> Option<&'static str> {
    Ethnicity::parse(value).ok().map(|e| e.code())
}

fn reason(code: &str, register_value: Option<String>) -> MismatchReason {
    MismatchReason { code: code.to_string(), register_value, detail: None }
}

/// Every reason `record` fails against its register `entries` (those with its ID
/// hash); empty when it is verified.
pub fn compare(record: &RecordToVerify, entries: &[RegisterFact]) -> Vec<MismatchReason> {
    let Some(first) = entries.first() else {
        return vec![reason("not_in_register", None)];
    };
    let mut reasons = Vec::new();
    if entries.len() > 1 {
        reasons.push(reason("register_duplicate", None));
    }
    // Names equal once normalised are equal after conversion too: the conversion (the
    // dear part) is only needed when they differ.
    let normalized = normalize_name(&record.name);
    let same_name = entries.iter().any(|e| normalize_name(&e.name) == normalized) || {
        let name = comparable_name(&record.name);
        entries.iter().any(|e| comparable_name(&e.name) == name)
    };
    if !same_name {
        reasons.push(reason("name_mismatch", Some(masked_name(&first.name))));
    }
    let sex = sex_code(&record.sex);
    if sex.is_none() || !entries.iter().any(|e| sex_code(&e.sex) == sex) {
        reasons.push(reason("sex_mismatch", sex_code(&first.sex).map(str::to_string)));
    }
    if !entries.iter().any(|e| e.birth_date == record.birth_date) {
        reasons.push(reason("birth_date_mismatch", Some(first.birth_date.format("%Y-%m-%d").to_string())));
    }
    let ethnicity = ethnicity_code(&record.ethnicity);
    if ethnicity.is_none() || !entries.iter().any(|e| ethnicity_code(&e.ethnicity) == ethnicity) {
        reasons.push(reason("ethnicity_mismatch", ethnicity_code(&first.ethnicity).map(str::to_string)));
    }
    for status in ["deceased", "migrated_out", "cancelled"] {
        if entries.iter().any(|e| e.status == status) {
            reasons.push(reason(status, None));
        }
    }
    reasons
}

/// `verified` if and only if there is no reason.
pub fn outcome(reasons: &[MismatchReason]) -> VerificationOutcome {
    if reasons.is_empty() { VerificationOutcome::Verified } else { VerificationOutcome::Rejected }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn record(name: &str) -> RecordToVerify {
        RecordToVerify {
            record_id: "r1".into(),
            version: 1,
            id_hash: "h".into(),
            name: name.into(),
            sex: "1".into(),
            birth_date: date(1980, 1, 2),
            ethnicity: "01".into(),
        }
    }

    fn entry(name: &str) -> RegisterFact {
        RegisterFact {
            name: name.into(),
            sex: "1".into(),
            birth_date: date(1980, 1, 2),
            ethnicity: "01".into(),
            status: "active".into(),
        }
    }

    fn codes(reasons: &[MismatchReason]) -> Vec<&str> {
        reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn an_equal_active_entry_verifies() {
        let reasons = compare(&record("王小明"), &[entry("王小明")]);
        assert!(reasons.is_empty());
        assert_eq!(outcome(&reasons), VerificationOutcome::Verified);
    }

    #[test]
    fn no_entry_is_not_in_register_and_nothing_else() {
        let reasons = compare(&record("王小明"), &[]);
        assert_eq!(codes(&reasons), ["not_in_register"]);
        assert_eq!(outcome(&reasons), VerificationOutcome::Rejected);
    }

    #[test]
    fn traditional_and_simplified_are_equal() {
        assert!(compare(&record("张伟"), &[entry("張偉")]).is_empty());
        assert!(compare(&record("張偉"), &[entry("张伟")]).is_empty());
        assert!(compare(&record("欧阳国华"), &[entry("歐陽國華")]).is_empty());
    }

    #[test]
    fn middle_dot_variants_and_spacing_are_equal() {
        for submitted in
            ["阿依古丽•买买提", "阿依古丽 · 买买提", "阿依古丽・买买提", "阿依古丽．买买提", "阿依古丽.买买提"]
        {
            assert!(compare(&record(submitted), &[entry("阿依古丽·买买提")]).is_empty(), "{submitted}");
        }
        assert_eq!(codes(&compare(&record("阿依古丽买买提"), &[entry("阿依古丽·买买提")])), ["name_mismatch"]);
    }

    #[test]
    fn a_different_name_shows_the_masked_register_name_only() {
        let reasons = compare(&record("王晓明"), &[entry("王小明")]);
        assert_eq!(reasons, vec![reason("name_mismatch", Some("王*明".into()))]);
        let reasons = compare(&record("李"), &[entry("欧阳小明")]);
        assert_eq!(reasons[0].register_value.as_deref(), Some("欧**明"));
    }

    #[test]
    fn every_field_reason_is_reported_at_once() {
        let mut r = record("李四");
        r.sex = "2".into();
        r.birth_date = date(1981, 1, 2);
        r.ethnicity = "03".into();
        let mut e = entry("王小明");
        e.status = "deceased".into();
        let reasons = compare(&r, &[e]);
        assert_eq!(
            codes(&reasons),
            ["name_mismatch", "sex_mismatch", "birth_date_mismatch", "ethnicity_mismatch", "deceased"]
        );
        assert_eq!(reasons[1].register_value.as_deref(), Some("1"));
        assert_eq!(reasons[2].register_value.as_deref(), Some("1980-01-02"));
        assert_eq!(reasons[3].register_value.as_deref(), Some("01"));
        assert!(reasons.iter().all(|r| r.register_value.as_deref() != Some("王小明")));
    }

    #[test]
    fn codes_are_compared_in_canonical_form() {
        let mut r = record("王小明");
        r.sex = "male".into();
        r.ethnicity = "1".into();
        assert!(compare(&r, &[entry("王小明")]).is_empty());
        let mut r = record("王小明");
        r.sex = "0".into();
        r.ethnicity = "99".into();
        assert_eq!(codes(&compare(&r, &[entry("王小明")])), ["sex_mismatch", "ethnicity_mismatch"]);
    }

    #[test]
    fn each_inactive_status_is_a_reason() {
        for status in ["deceased", "migrated_out", "cancelled"] {
            let mut e = entry("王小明");
            e.status = status.into();
            assert_eq!(codes(&compare(&record("王小明"), &[e])), [status]);
        }
    }

    /// The largest request and outcome the feeder's chunk makes: every record with a
    /// name of 30 characters, rejected for every reason a register entry can give.
    #[test]
    fn the_largest_chunk_messages_fit_the_inbox() {
        use crate::contracts::messages::{
            MAX_RECORDS_PER_VERIFICATION, VerificationCompleted, VerificationRequested, VerificationResult,
        };
        let long_name = "阿".repeat(14) + "·" + &"买".repeat(15);
        let mut r = record(&long_name);
        r.record_id = crate::domain::RecordId::new();
        r.id_hash = "f".repeat(64);
        let mut e = entry(&"欧".repeat(30));
        (e.sex, e.birth_date, e.ethnicity, e.status) = ("2".into(), date(1999, 12, 31), "56".into(), "deceased".into());
        let reasons = compare(&r, &[e.clone(), e]);
        assert_eq!(reasons.len(), 6, "{reasons:?}");
        let size = |payload: String| {
            let envelope = crate::contracts::Envelope {
                id: uuid::Uuid::now_v7(),
                source: "verification".into(),
                kind: "verification_completed".into(),
                created_at: chrono::Utc::now(),
                payload: serde_json::value::RawValue::from_string(payload).unwrap(),
            };
            serde_json::to_vec(&envelope).unwrap().len()
        };
        let batch_id = crate::domain::BatchId::new();
        let result =
            VerificationResult { record_id: r.record_id.clone(), version: 99, outcome: outcome(&reasons), reasons };
        let completed =
            VerificationCompleted { batch_id: batch_id.clone(), results: vec![result; MAX_RECORDS_PER_VERIFICATION] };
        let requested = VerificationRequested {
            batch_id,
            county_code: "210804".into(),
            records: vec![r; MAX_RECORDS_PER_VERIFICATION],
        };
        for bytes in
            [size(serde_json::to_string(&completed).unwrap()), size(serde_json::to_string(&requested).unwrap())]
        {
            assert!(bytes < crate::outbox::inbox::MESSAGE_LIMIT / 2, "{bytes} bytes");
        }
    }

    #[test]
    fn duplicates_are_reported_and_fields_match_any_entry() {
        let mut other = entry("王晓明");
        other.status = "migrated_out".into();
        let reasons = compare(&record("王小明"), &[other.clone(), entry("王小明")]);
        assert_eq!(codes(&reasons), ["register_duplicate", "migrated_out"]);
        let reasons = compare(&record("李四"), &[entry("王小明"), entry("王小明")]);
        assert_eq!(codes(&reasons), ["register_duplicate", "name_mismatch"]);
    }
}
