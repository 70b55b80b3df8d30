//! Sex as printed on the card (GB/T 2261.1-2003).
//!
//! A card records `1` male or `2` female. GB/T 2261.1 also has `0` unknown and
//! `9` unstated; neither can be printed on a card, so both are refused with
//! `sex_invalid`. Clerks also type 男/女 or English words, which are accepted.

use serde::{Deserialize, Serialize};

use crate::domain::citizen_id::CitizenId;
use crate::domain::normalize::normalized;

/// The sex of a card holder. Serialised as `"male"` / `"female"`; reading also
/// accepts the GB/T 2261.1 codes `"1"` / `"2"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// GB/T 2261.1 code `1`.
    #[serde(alias = "1")]
    Male,
    /// GB/T 2261.1 code `2`.
    #[serde(alias = "2")]
    Female,
}

/// Why a sex value was refused (HTTP 422, per row and field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SexError {
    /// Not one of the accepted spellings, or `0` unknown / `9` unstated:
    /// `sex_invalid`.
    #[error("sex must be 1 (male) or 2 (female)")]
    Invalid,
    /// Differs from the 17th digit of the ID number: `sex_id_mismatch`.
    #[error("sex does not match the ID number (17th digit odd = male, even = female)")]
    IdMismatch,
}

impl SexError {
    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        match self {
            SexError::Invalid => "sex_invalid",
            SexError::IdMismatch => "sex_id_mismatch",
        }
    }
}

crate::domain::serialize_as_code!(SexError);

impl Sex {
    /// Parses `1`/`2`, `男`/`女` (also `男性`/`女性`) and, ignoring case,
    /// `male`/`female`/`m`/`f`, after normalisation (full-width `１` is `1`).
    pub fn parse(input: &str) -> Result<Sex, SexError> {
        let text = normalized(input).to_ascii_lowercase();
        match text.as_str() {
            "1" | "男" | "男性" | "male" | "m" => Ok(Sex::Male),
            "2" | "女" | "女性" | "female" | "f" => Ok(Sex::Female),
            _ => Err(SexError::Invalid),
        }
    }

    /// The GB/T 2261.1 code: `"1"` or `"2"`.
    pub fn code(&self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
        }
    }

    /// The Chinese word printed on the card: 男 or 女.
    pub fn chinese(&self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }

    /// Checks the submitted sex against the one encoded in the ID number;
    /// `Err(SexError::IdMismatch)` when they differ.
    pub fn check_against(self, id: &CitizenId) -> Result<(), SexError> {
        if self == id.sex() { Ok(()) } else { Err(SexError::IdMismatch) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    #[test]
    fn accepted_spellings() {
        for s in ["1", "１", " 1 ", "男", "男性", "male", "MALE", "Male", "m", "M", "Ｍ"] {
            assert_eq!(Sex::parse(s), Ok(Sex::Male), "{s:?}");
        }
        for s in ["2", "２", "女", "女性", "female", "FEMALE", "f", "F", "ｆ"] {
            assert_eq!(Sex::parse(s), Ok(Sex::Female), "{s:?}");
        }
    }

    #[test]
    fn unknown_and_unstated_are_refused() {
        for s in ["0", "9", "", " ", "3", "01", "男女", "未知", "man", "woman", "x", "1 2"] {
            let err = Sex::parse(s).unwrap_err();
            assert_eq!(err, SexError::Invalid, "{s:?}");
            assert_eq!(err.code(), "sex_invalid");
        }
    }

    #[test]
    fn codes() {
        assert_eq!(Sex::Male.code(), "1");
        assert_eq!(Sex::Female.code(), "2");
        assert_eq!(Sex::Male.chinese(), "男");
        assert_eq!(Sex::Female.chinese(), "女");
        assert_eq!(SexError::IdMismatch.code(), "sex_id_mismatch");
    }

    #[test]
    fn mismatch_against_the_id() {
        let today = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        // 17th digit 2: female.
        let id = CitizenId::parse("11010519491231002X", today).unwrap().into_id();
        assert_eq!(Sex::Female.check_against(&id), Ok(()));
        assert_eq!(Sex::Male.check_against(&id), Err(SexError::IdMismatch));
    }

    #[test]
    fn serde_names() {
        for (text, sex) in [("male", Sex::Male), ("female", Sex::Female), ("1", Sex::Male), ("2", Sex::Female)] {
            let de: StrDeserializer<'_, DeError> = text.into_deserializer();
            assert_eq!(Sex::deserialize(de).unwrap(), sex);
        }
        let de: StrDeserializer<'_, DeError> = "0".into_deserializer();
        assert!(Sex::deserialize(de).is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Sex::parse(&s);
        }
    }
}
