//! NCMS certificate numbers (新农合医疗证号).
//!
//! 1 to 30 ASCII letters and digits after normalisation. Letters are
//! upper-cased, so that `ab12` and `AB12` are the same certificate when the
//! uniqueness within a county and year is checked (that check needs storage
//! and lives elsewhere: `ncms_number_duplicate`).

use serde::{Deserialize, Serialize};

use crate::domain::normalize::normalized;

/// Most characters of a certificate number.
pub const MAX_NCMS_NUMBER_CHARS: usize = 30;

/// Why an NCMS number was refused: `ncms_number_invalid` (HTTP 422, per row and field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NcmsNumberError {
    /// Empty, longer than 30, or not only ASCII letters and digits:
    /// `ncms_number_invalid`.
    #[error("an NCMS certificate number is 1 to 30 letters and digits")]
    Invalid,
}

impl NcmsNumberError {
    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        "ncms_number_invalid"
    }
}

crate::domain::serialize_as_code!(NcmsNumberError);

/// A valid NCMS certificate number: ASCII digits and upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NcmsNumber(String);

impl NcmsNumber {
    /// Parses a certificate number after normalisation (full-width forms,
    /// white space at the ends). Inner white space is refused.
    pub fn parse(input: &str) -> Result<NcmsNumber, NcmsNumberError> {
        let text = normalized(input).to_ascii_uppercase();
        let valid =
            !text.is_empty() && text.len() <= MAX_NCMS_NUMBER_CHARS && text.bytes().all(|b| b.is_ascii_alphanumeric());
        if valid { Ok(NcmsNumber(text)) } else { Err(NcmsNumberError::Invalid) }
    }

    /// The canonical number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NcmsNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NcmsNumber {
    type Error = NcmsNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        NcmsNumber::parse(&value)
    }
}

impl From<NcmsNumber> for String {
    fn from(value: NcmsNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepted() {
        let p = |s: &str| NcmsNumber::parse(s).unwrap().as_str().to_owned();
        assert_eq!(p("210804001234"), "210804001234");
        assert_eq!(p(" 2108040012\u{3000}"), "2108040012");
        assert_eq!(p("ｎｈ２０２４００１"), "NH2024001");
        assert_eq!(p("nh2024001"), "NH2024001");
        assert_eq!(p("0"), "0");
        assert_eq!(p(&"9".repeat(30)), "9".repeat(30));
        assert_eq!(NcmsNumber::parse("ab12"), NcmsNumber::parse("AB12"));
    }

    #[test]
    fn refused() {
        for input in ["", " ", "2108 0400", "2108-0400", "第001号", "Ａ-1", "é1", &"9".repeat(31), "12\u{0}3"] {
            let err = NcmsNumber::parse(input).unwrap_err();
            assert_eq!(err.code(), "ncms_number_invalid", "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = NcmsNumber::parse(&s);
        }

        #[test]
        fn valid_numbers_round_trip(s in "[A-Za-z0-9]{1,30}") {
            let n = NcmsNumber::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.to_ascii_uppercase());
            prop_assert_eq!(NcmsNumber::parse(n.as_str()).unwrap(), n);
        }
    }
}
