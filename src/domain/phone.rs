//! Contact telephone numbers of card holders (optional field).
//!
//! Accepted: a mainland mobile number, `1[3-9]` and nine more digits, or a
//! landline with its area code: `010` or `02x` followed by 8 digits, or a
//! four-digit area code `0[3-9]xx` followed by 7 or 8 digits; the local
//! number starts with 2-9. A `+86`, `0086` or `86` prefix is dropped (the
//! trunk `0` of a landline may then be missing and is put back), and spaces,
//! hyphens and parentheses are ignored. No extensions.
//!
//! Canonical forms: `13812345678` and `0371-65234567`. `Debug` output is masked.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::normalize::normalized;

/// Why a phone number was refused: `phone_invalid` (HTTP 422, per row and field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PhoneError {
    /// Neither a mainland mobile number nor a landline with area code:
    /// `phone_invalid`.
    #[error("not a mainland mobile number (11 digits, 13x-19x) or a landline with area code")]
    Invalid,
}

impl PhoneError {
    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        "phone_invalid"
    }
}

crate::domain::serialize_as_code!(PhoneError);

/// Mobile or fixed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    /// A mainland mobile number.
    Mobile,
    /// A fixed line with area code.
    Landline,
}

/// A valid phone number in canonical form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneNumber {
    value: String,
    kind: PhoneKind,
}

impl PhoneNumber {
    /// Parses a phone number after normalisation (full-width digits, spaces).
    pub fn parse(input: &str) -> Result<PhoneNumber, PhoneError> {
        let text = normalized(input);
        let compact: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let (rest, international) = if let Some(rest) = compact.strip_prefix("+86") {
            (rest, true)
        } else if let Some(rest) = compact.strip_prefix("0086") {
            (rest, true)
        } else if let Some(rest) = compact.strip_prefix("86") {
            (rest, true)
        } else {
            (compact.as_str(), false)
        };
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::Invalid);
        }
        if is_mobile(rest) {
            return Ok(PhoneNumber { value: rest.to_owned(), kind: PhoneKind::Mobile });
        }
        let with_trunk = if international && !rest.starts_with('0') { format!("0{rest}") } else { rest.to_owned() };
        let (area, local) = split_landline(&with_trunk).ok_or(PhoneError::Invalid)?;
        Ok(PhoneNumber { value: format!("{area}-{local}"), kind: PhoneKind::Landline })
    }

    /// Like [`PhoneNumber::parse`], but an input that is empty after
    /// normalisation is `Ok(None)`: the field is optional.
    pub fn parse_optional(input: &str) -> Result<Option<PhoneNumber>, PhoneError> {
        if normalized(input).is_empty() { Ok(None) } else { PhoneNumber::parse(input).map(Some) }
    }

    /// The canonical form: `13812345678` or `0371-65234567`.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Mobile or landline.
    pub fn kind(&self) -> PhoneKind {
        self.kind
    }

    /// The number with the middle hidden: `138****5678` for a mobile; for a
    /// landline the area code and the last four digits stay,
    /// `0371-****4567` (`0371-***4567` for a 7-digit local number).
    pub fn mask(&self) -> String {
        match self.kind {
            PhoneKind::Mobile => {
                let head = self.value.get(0..3).unwrap_or_default();
                let tail = self.value.get(7..).unwrap_or_default();
                format!("{head}****{tail}")
            }
            PhoneKind::Landline => {
                let (area, local) = self.value.split_once('-').unwrap_or_default();
                let hidden = local.len().saturating_sub(4);
                let tail = local.get(hidden..).unwrap_or_default();
                format!("{area}-{}{tail}", "*".repeat(hidden))
            }
        }
    }
}

/// `1[3-9]` followed by nine digits (the input is already all digits).
fn is_mobile(digits: &str) -> bool {
    let b = digits.as_bytes();
    b.len() == 11 && b.first() == Some(&b'1') && matches!(b.get(1), Some(b'3'..=b'9'))
}

/// Splits an all-digit landline number with trunk `0` into area code and local
/// number, if it has a valid shape.
fn split_landline(digits: &str) -> Option<(&str, &str)> {
    let area_len = match digits.as_bytes() {
        [b'0', b'1', b'0', ..] | [b'0', b'2', _, ..] => 3,
        [b'0', b'3'..=b'9', _, _, ..] => 4,
        _ => return None,
    };
    let (area, local) = digits.split_at_checked(area_len)?;
    let local_ok = match area_len {
        3 => local.len() == 8,
        _ => local.len() == 7 || local.len() == 8,
    };
    let first_ok = matches!(local.as_bytes().first(), Some(b'2'..=b'9'));
    (local_ok && first_ok).then_some((area, local))
}

impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PhoneNumber").field(&self.mask()).finish()
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PhoneNumber::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    fn canon(s: &str) -> String {
        PhoneNumber::parse(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn mobiles() {
        for input in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+8613812345678",
            "8613812345678",
            "008613812345678",
            "(+86) 138-1234-5678",
            "１３８１２３４５６７８",
            "\u{3000}13812345678\u{200B}",
        ] {
            assert_eq!(canon(input), "13812345678", "{input:?}");
            assert_eq!(PhoneNumber::parse(input).unwrap().kind(), PhoneKind::Mobile);
        }
        for prefix in 13..=19 {
            assert!(PhoneNumber::parse(&format!("{prefix}012345678")).is_ok());
        }
    }

    #[test]
    fn landlines() {
        let cases = [
            ("010-62345678", "010-62345678"),
            ("01062345678", "010-62345678"),
            ("(010) 8765 4321", "010-87654321"),
            ("021-62345678", "021-62345678"),
            ("0371-65234567", "0371-65234567"),
            ("0371 6523456", "0371-6523456"),
            ("03716523456", "0371-6523456"),
            ("+86 10 62345678", "010-62345678"),
            ("+86-371-65234567", "0371-65234567"),
            ("0086 371 6523456", "0371-6523456"),
            ("+86 0371 65234567", "0371-65234567"),
            ("０４１８－３３２１２３４", "0418-3321234"),
        ];
        for (input, expected) in cases {
            assert_eq!(canon(input), expected, "{input:?}");
            assert_eq!(PhoneNumber::parse(input).unwrap().kind(), PhoneKind::Landline);
        }
    }

    #[test]
    fn refused() {
        for input in [
            "",
            "   ",
            "12812345678",
            "1381234567",
            "138123456789",
            "23812345678",
            "138.1234.5678",
            "138/1234/5678",
            "+1 138 1234 5678",
            "+86",
            "86",
            "1381234567a",
            "010-1234567",
            "010-12345678",
            "010-623456789",
            "011-12345678",
            "0200-1234567",
            "0371-123456",
            "0371-123456789",
            "0371-05234567",
            "0371-15234567",
            "12345678",
            "0",
            "00",
            "++8613812345678",
            "138 1234 5678 ext 12",
        ] {
            let err = PhoneNumber::parse(input).unwrap_err();
            assert_eq!(err.code(), "phone_invalid", "{input:?}");
        }
    }

    #[test]
    fn optional_field() {
        assert_eq!(PhoneNumber::parse_optional(""), Ok(None));
        assert_eq!(PhoneNumber::parse_optional(" \u{3000} "), Ok(None));
        assert!(PhoneNumber::parse_optional("13812345678").unwrap().is_some());
        assert_eq!(PhoneNumber::parse_optional("123"), Err(PhoneError::Invalid));
    }

    #[test]
    fn masks() {
        assert_eq!(PhoneNumber::parse("13812345678").unwrap().mask(), "138****5678");
        assert_eq!(PhoneNumber::parse("0371-65234567").unwrap().mask(), "0371-****4567");
        assert_eq!(PhoneNumber::parse("0371-6523456").unwrap().mask(), "0371-***3456");
        assert_eq!(PhoneNumber::parse("010-62345678").unwrap().mask(), "010-****5678");
        let debug = format!("{:?}", PhoneNumber::parse("13812345678").unwrap());
        assert!(debug.contains("138****5678") && !debug.contains("1234"), "{debug}");
    }

    #[test]
    fn serde_as_canonical_string() {
        let de: StrDeserializer<'_, DeError> = "+86 138 1234 5678".into_deserializer();
        assert_eq!(PhoneNumber::deserialize(de).unwrap().as_str(), "13812345678");
        let de: StrDeserializer<'_, DeError> = "123".into_deserializer();
        assert!(PhoneNumber::deserialize(de).is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            if let Ok(p) = PhoneNumber::parse(&s) {
                let _ = p.mask();
            }
        }

        #[test]
        fn parse_never_panics_on_phone_shaped_input(s in "[+0-9 ()\u{3000}-]{0,20}") {
            let _ = PhoneNumber::parse(&s);
        }

        #[test]
        fn canonical_form_is_a_fixed_point(s in "(\\+86 ?)?(1[3-9][0-9]{9}|0(10|2[0-9])[2-9][0-9]{7}|0[3-9][0-9]{2}[2-9][0-9]{6,7})") {
            let p = PhoneNumber::parse(&s).unwrap();
            prop_assert_eq!(PhoneNumber::parse(p.as_str()).unwrap(), p);
        }

        #[test]
        fn mobile_mask_never_reveals_the_middle(mid in "[3-9]", rest in "[0-9]{9}") {
            let number = format!("1{mid}{rest}");
            let mask = PhoneNumber::parse(&number).unwrap().mask();
            prop_assert_eq!(&mask[..3], &number[..3]);
            prop_assert_eq!(&mask[3..7], "****");
            prop_assert_eq!(&mask[7..], &number[7..]);
        }
    }
}
