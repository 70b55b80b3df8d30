//! The bank card number (PAN, ISO/IEC 7812) a card maker reports for a produced card:
//! the number payments go to. 13 to 19 digits whose last one is the Luhn check digit.

use std::fmt;

use super::normalize::normalize_text;

/// Why a card number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PanError {
    #[error("a card number has 13 to 19 digits")]
    InvalidLength,
    #[error("a card number holds only digits")]
    InvalidChars,
    #[error("the Luhn check digit does not match")]
    BadChecksum,
}

impl PanError {
    pub fn code(&self) -> &'static str {
        match self {
            PanError::InvalidLength => "card_no_invalid_length",
            PanError::InvalidChars => "card_no_invalid_chars",
            PanError::BadChecksum => "card_no_bad_checksum",
        }
    }
}

super::serialize_as_code!(PanError);

/// A Luhn-valid card number, digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Pan(String);

/// The Luhn sum of `digits` (check digit included) is a multiple of ten.
fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The Luhn check digit for `body` (the number without its last digit); `None` unless
/// `body` is all ASCII digits.
pub fn check_digit(body: &str) -> Option<char> {
    if !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut candidate: Vec<u8> = body.bytes().collect();
    candidate.push(b'0');
    (0u8..10).map(|d| (b'0' + d) as char).find(|&d| {
        if let Some(last) = candidate.last_mut() {
            *last = d as u8;
        }
        luhn_valid(&candidate)
    })
}

impl Pan {
    /// Parses a card number as a bank writes it: spaces and dashes between groups and
    /// full-width digits are accepted and dropped.
    pub fn parse(input: &str) -> Result<Pan, PanError> {
        let digits: String = normalize_text(input).chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PanError::InvalidChars);
        }
        if !(13..=19).contains(&digits.len()) {
            return Err(PanError::InvalidLength);
        }
        if !luhn_valid(digits.as_bytes()) {
            return Err(PanError::BadChecksum);
        }
        Ok(Pan(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Shown where the holder is not the reader: the first six (the issuer) and the last
    /// four digits.
    pub fn mask(&self) -> String {
        let n = self.0.len();
        let head = self.0.get(..6).unwrap_or_default();
        let tail = self.0.get(n.saturating_sub(4)..).unwrap_or_default();
        format!("{head}{}{tail}", "*".repeat(n.saturating_sub(10)))
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_numbers() {
        // Test numbers published by card schemes for integration testing.
        for n in ["4111111111111111", "5500005555555559", "378282246310005", "6011111111111117"] {
            let body = &n[..n.len() - 1];
            assert_eq!(check_digit(body), n.chars().last(), "{n}");
        }
        assert_eq!(Pan::parse("4111 1111 1111 1111").unwrap().as_str(), "4111111111111111");
        assert_eq!(Pan::parse("４１１１-１１１１-１１１１-１１１１").unwrap().as_str(), "4111111111111111");
        assert_eq!(Pan::parse("4111111111111112"), Err(PanError::BadChecksum));
        assert_eq!(Pan::parse("411111111111"), Err(PanError::InvalidLength));
        assert_eq!(Pan::parse("41111111111111111111"), Err(PanError::InvalidLength));
        assert_eq!(Pan::parse("4111a11111111111"), Err(PanError::InvalidChars));
        assert_eq!(Pan::parse(""), Err(PanError::InvalidLength));
        assert_eq!(Pan::parse("4111111111111111").unwrap().mask(), "411111******1111");
    }

    proptest! {
        #[test]
        fn every_body_has_exactly_one_check_digit(body in "[0-9]{12,18}") {
            let d = check_digit(&body).unwrap();
            let number = format!("{body}{d}");
            prop_assert!(Pan::parse(&number).is_ok());
            for other in ('0'..='9').filter(|&c| c != d) {
                prop_assert_eq!(Pan::parse(&format!("{body}{other}")), Err(PanError::BadChecksum));
            }
        }

        #[test]
        fn a_single_digit_error_is_always_caught(body in "[0-9]{12,18}", pos in 0usize..19, delta in 1u8..10) {
            let number = format!("{body}{}", check_digit(&body).unwrap());
            let pos = pos % number.len();
            let mut bytes = number.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            prop_assert!(Pan::parse(std::str::from_utf8(&bytes).unwrap()).is_err());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Pan::parse(&s);
        }
    }
}
