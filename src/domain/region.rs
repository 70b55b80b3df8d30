//! Administrative division codes (GB/T 2260) as used by the scheme.
//!
//! Two uses with different strictness:
//!
//! * [`CountyCode`] is the `county_code` of a submitted record: a six-digit
//!   county-level code (a district, county, banner or county-level city), never
//!   a province or prefecture code.
//! * [`is_plausible_id_region`] checks the first six digits of a citizen ID
//!   number. Those are the county code in force when the number was issued, so
//!   only the province prefix and the shape are checked, never today's county
//!   list: counties merge and are renamed, their residents keep their numbers.

use serde::{Deserialize, Serialize};

use crate::domain::normalize::normalized;

/// Whether `code` is a province-level code of GB/T 2260 (the first two digits
/// of a six-digit code): 11..=15, 21..=23, 31..=37, 41..=46, 50..=54, 61..=65,
/// 71 (Taiwan), 81 (Hong Kong) and 82 (Macao).
pub fn is_province_code(code: u8) -> bool {
    matches!(
        code,
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82
    )
}

/// Prefecture-level cities without county-level subdivisions (不设区的地级市):
/// their own code ends in `00` and is the county-level unit residents are
/// registered in, so it is accepted as a county code. 东莞 441900, 中山 442000,
/// 儋州 460400 and 嘉峪关 620200.
const CITIES_WITHOUT_COUNTIES: [&str; 4] = ["441900", "442000", "460400", "620200"];

/// Parses two ASCII digits into a number; `None` unless both are digits.
fn two_digits(pair: &[u8]) -> Option<u8> {
    match pair {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some((a - b'0') * 10 + (b - b'0')),
        _ => None,
    }
}

/// Whether six ASCII bytes are a plausible region code for a citizen ID
/// number: a known province, and a prefecture part (digits 3-4) other than
/// `00`, except for `710000`, `810000` and `820000`, the codes used for
/// Taiwan, Hong Kong and Macao as a whole. Digits 5-6 may be `00`: residents
/// of cities without counties (e.g. 东莞 441900) carry such a code.
pub fn is_plausible_id_region(region: &[u8]) -> bool {
    let (Some(province), Some(prefecture), Some(_county)) = (
        region.get(0..2).and_then(two_digits),
        region.get(2..4).and_then(two_digits),
        region.get(4..6).and_then(two_digits),
    ) else {
        return false;
    };
    if region.len() != 6 || !is_province_code(province) {
        return false;
    }
    if prefecture == 0 {
        return matches!(province, 71 | 81 | 82) && region.get(4..6) == Some(b"00");
    }
    true
}

/// Why a county code was refused. Every variant has the client code
/// `county_code_invalid` (HTTP 422 with the row and field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CountyCodeError {
    /// Not exactly six ASCII digits after normalisation.
    #[error("a county code has six digits")]
    InvalidFormat,
    /// The first two digits are not a province-level code.
    #[error("the first two digits of a county code must be a province code")]
    UnknownProvince,
    /// A province (`xx0000`) or prefecture (`xxxx00`) code, not a county.
    #[error("this is a province or prefecture code, not a county-level code")]
    NotCountyLevel,
}

impl CountyCodeError {
    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        "county_code_invalid"
    }
}

/// A six-digit GB/T 2260 county-level division code, e.g. `210804`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountyCode(String);

impl CountyCode {
    /// Parses a county code after normalisation (full-width digits, spaces).
    pub fn parse(input: &str) -> Result<CountyCode, CountyCodeError> {
        let text = normalized(input);
        let bytes = text.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CountyCodeError::InvalidFormat);
        }
        let province = bytes.get(0..2).and_then(two_digits);
        if !province.is_some_and(is_province_code) {
            return Err(CountyCodeError::UnknownProvince);
        }
        let prefecture_is_zero = bytes.get(2..4) == Some(b"00");
        let county_is_zero = bytes.get(4..6) == Some(b"00");
        if prefecture_is_zero || (county_is_zero && !CITIES_WITHOUT_COUNTIES.contains(&&*text)) {
            return Err(CountyCodeError::NotCountyLevel);
        }
        Ok(CountyCode(text.into_owned()))
    }

    /// The six digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The province-level code, the first two digits (e.g. `21`).
    pub fn province(&self) -> &str {
        self.0.get(0..2).unwrap_or_default()
    }

    /// The prefecture-level prefix, the first four digits (e.g. `2108`).
    pub fn prefecture(&self) -> &str {
        self.0.get(0..4).unwrap_or_default()
    }
}

crate::domain::serialize_as_code!(CountyCodeError);

impl std::fmt::Display for CountyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CountyCode {
    type Error = CountyCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        CountyCode::parse(&value)
    }
}

impl From<CountyCode> for String {
    fn from(value: CountyCode) -> Self {
        value.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    #[test]
    fn province_list_is_exactly_gb_t_2260() {
        let provinces: Vec<u8> = (0..=99).filter(|p| is_province_code(*p)).collect();
        assert_eq!(
            provinces,
            vec![
                11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54,
                61, 62, 63, 64, 65, 71, 81, 82
            ]
        );
    }

    #[test]
    fn county_codes_parse() {
        for ok in ["210804", "110105", "659001", "429004", "469001", "441900", "442000"] {
            assert_eq!(CountyCode::parse(ok).unwrap().as_str(), ok);
        }
        let c = CountyCode::parse(" ２１０８０４ ").unwrap();
        assert_eq!(c.as_str(), "210804");
        assert_eq!(c.province(), "21");
        assert_eq!(c.prefecture(), "2108");
        assert_eq!(c.to_string(), "210804");
    }

    #[test]
    fn county_code_errors() {
        use CountyCodeError::*;
        let cases = [
            ("", InvalidFormat),
            ("21080", InvalidFormat),
            ("2108041", InvalidFormat),
            ("21O804", InvalidFormat),
            ("210 804", InvalidFormat),
            ("-10804", InvalidFormat),
            ("100101", UnknownProvince),
            ("910101", UnknownProvince),
            ("000000", UnknownProvince),
            ("210000", NotCountyLevel),
            ("210800", NotCountyLevel),
            ("210008", NotCountyLevel),
            ("441800", NotCountyLevel),
        ];
        for (input, expected) in cases {
            let err = CountyCode::parse(input).unwrap_err();
            assert_eq!(err, expected, "{input:?}");
            assert_eq!(err.code(), "county_code_invalid");
        }
    }

    #[test]
    fn id_region_shape() {
        assert!(is_plausible_id_region(b"210804"));
        assert!(is_plausible_id_region(b"441900"));
        assert!(is_plausible_id_region(b"210800"), "xxxx00 is accepted: cities without counties (东莞 441900) use it");
        assert!(is_plausible_id_region(b"810000"));
        assert!(is_plausible_id_region(b"710000"));
        assert!(!is_plausible_id_region(b"210000"));
        assert!(!is_plausible_id_region(b"210001"));
        assert!(!is_plausible_id_region(b"810001"));
        assert!(!is_plausible_id_region(b"990101"));
        assert!(!is_plausible_id_region(b"21080"));
        assert!(!is_plausible_id_region(b"2108041"));
        assert!(!is_plausible_id_region(b"21080x"));
    }

    #[test]
    fn serde_uses_the_plain_string_and_validates() {
        let de: StrDeserializer<'_, DeError> = "210804".into_deserializer();
        assert_eq!(CountyCode::deserialize(de).unwrap().as_str(), "210804");
        let de: StrDeserializer<'_, DeError> = "210800".into_deserializer();
        assert!(CountyCode::deserialize(de).is_err());
        assert_eq!(String::from(CountyCode::parse("210804").unwrap()), "210804");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = CountyCode::parse(&s);
            let _ = is_plausible_id_region(s.as_bytes());
        }

        #[test]
        fn accepted_codes_are_six_digits_of_a_known_province(s in "[0-9]{6}") {
            if let Ok(c) = CountyCode::parse(&s) {
                prop_assert_eq!(c.as_str(), s.as_str());
                prop_assert!(is_province_code(c.province().parse().unwrap()));
                prop_assert!(&s[2..4] != "00");
                prop_assert!(is_plausible_id_region(s.as_bytes()));
            }
        }
    }
}
