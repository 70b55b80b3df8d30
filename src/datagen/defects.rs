//! The kinds of defect written into a batch on purpose, with the outcome a
//! correct service gives for each (the `FILE.defects.csv` sidecar).

use serde::Serialize;

use crate::domain::RecordState;

/// One kind of deliberate defect. Each defective record has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    /// The check character is wrong: `id_bad_checksum`.
    IdBadChecksum,
    /// The ID number in full-width digits: valid after normalisation.
    IdFullWidth,
    /// The check character `X` written as `x`: valid after normalisation.
    IdLowercaseX,
    /// The old 15-digit number: upgraded, warning `id_upgraded_from_15`.
    Id15Digit,
    /// One character of the name changed: `name_mismatch`.
    NameTypo,
    /// The name in traditional characters, simplified in the register: verified.
    NameTraditional,
    /// The register says deceased: `deceased`.
    Deceased,
    /// The register says migrated out: `migrated_out`.
    MigratedOut,
    /// Not in the register at all: `not_in_register`.
    NotInRegister,
    /// The same person a second time in the batch: `duplicate_in_batch`.
    DuplicateInBatch,
    /// The sex contradicts the ID's 17th digit: `sex_id_mismatch`.
    SexIdMismatch,
}

/// What the service should answer for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Refused by the format checks (per row and field).
    FormatInvalid,
    /// Checked against the register and rejected.
    Rejected,
    /// Checked against the register and verified.
    Verified,
}

impl Outcome {
    /// The outcome as written in the sidecar.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::FormatInvalid => RecordState::FormatInvalid,
            Outcome::Rejected => RecordState::Rejected,
            Outcome::Verified => RecordState::Verified,
        }
        .as_str()
    }
}

impl DefectKind {
    /// Every kind, in the order the generator draws them from.
    pub const ALL: [DefectKind; 11] = [
        DefectKind::IdBadChecksum,
        DefectKind::IdFullWidth,
        DefectKind::IdLowercaseX,
        DefectKind::Id15Digit,
        DefectKind::NameTypo,
        DefectKind::NameTraditional,
        DefectKind::Deceased,
        DefectKind::MigratedOut,
        DefectKind::NotInRegister,
        DefectKind::DuplicateInBatch,
        DefectKind::SexIdMismatch,
    ];

    /// The kind's name in the sidecar and the summary.
    pub fn name(self) -> &'static str {
        match self {
            DefectKind::IdBadChecksum => "id_bad_checksum",
            DefectKind::IdFullWidth => "id_full_width",
            DefectKind::IdLowercaseX => "id_lowercase_x",
            DefectKind::Id15Digit => "id_15_digit",
            DefectKind::NameTypo => "name_typo",
            DefectKind::NameTraditional => "name_traditional",
            DefectKind::Deceased => "deceased",
            DefectKind::MigratedOut => "migrated_out",
            DefectKind::NotInRegister => "not_in_register",
            DefectKind::DuplicateInBatch => "duplicate_in_batch",
            DefectKind::SexIdMismatch => "sex_id_mismatch",
        }
    }

    /// The expected outcome of the record.
    pub fn expected_outcome(self) -> Outcome {
        match self {
            DefectKind::IdBadChecksum | DefectKind::DuplicateInBatch | DefectKind::SexIdMismatch => {
                Outcome::FormatInvalid
            }
            DefectKind::NameTypo | DefectKind::Deceased | DefectKind::MigratedOut | DefectKind::NotInRegister => {
                Outcome::Rejected
            }
            DefectKind::IdFullWidth
            | DefectKind::IdLowercaseX
            | DefectKind::Id15Digit
            | DefectKind::NameTraditional => Outcome::Verified,
        }
    }

    /// The expected error, reason or warning code ("" when none).
    pub fn expected_code(self) -> &'static str {
        match self {
            DefectKind::IdBadChecksum => "id_bad_checksum",
            DefectKind::Id15Digit => "id_upgraded_from_15",
            DefectKind::NameTypo => "name_mismatch",
            DefectKind::Deceased => "deceased",
            DefectKind::MigratedOut => "migrated_out",
            DefectKind::NotInRegister => "not_in_register",
            DefectKind::DuplicateInBatch => "duplicate_in_batch",
            DefectKind::SexIdMismatch => "sex_id_mismatch",
            DefectKind::IdFullWidth | DefectKind::IdLowercaseX | DefectKind::NameTraditional => "",
        }
    }
}

/// An ASCII string in full-width forms (digits and letters move by U+FEE0).
pub fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { char::from_u32(c as u32 + 0xFEE0).unwrap_or(c) } else { c })
        .collect()
}

/// The old 15-digit form of an 18-character ID of someone born 1900-1999:
/// region, `YYMMDD`, sequence. `None` for other centuries or shapes.
pub fn fifteen_digit(id: &str) -> Option<String> {
    if id.len() != 18 || id.get(6..8) != Some("19") {
        return None;
    }
    Some(format!("{}{}", id.get(0..6)?, id.get(8..17)?))
}

/// The ID with a different, wrong check character.
pub fn with_wrong_check(id: &str, pick: usize) -> String {
    const CHECKS: [char; 11] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X'];
    let body = id.get(0..17).unwrap_or(id);
    let right = id.chars().last();
    let wrong: Vec<char> = CHECKS.iter().copied().filter(|c| Some(*c) != right).collect();
    let c = wrong.get(pick % wrong.len().max(1)).copied().unwrap_or('0');
    format!("{body}{c}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CitizenId, CitizenIdError};
    use chrono::NaiveDate;

    #[test]
    fn id_variants_parse_as_the_service_should_see_them() {
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let id = "11010519491231002X";
        assert_eq!(CitizenId::parse(&full_width(id), today).unwrap().id().as_str(), id);
        assert_eq!(CitizenId::parse(&id.to_lowercase(), today).unwrap().id().as_str(), id);
        let old = fifteen_digit(id).unwrap();
        assert_eq!(old, "110105491231002");
        let parsed = CitizenId::parse(&old, today).unwrap();
        assert!(parsed.upgraded_from_15());
        assert_eq!(parsed.id().as_str(), id);
        for pick in 0..20 {
            let wrong = with_wrong_check(id, pick);
            assert_eq!(CitizenId::parse(&wrong, today).unwrap_err(), CitizenIdError::BadChecksum);
        }
        assert_eq!(fifteen_digit("210804200001011234"), None);
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = DefectKind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DefectKind::ALL.len());
    }
}
