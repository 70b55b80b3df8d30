//! Money in fen (分, 1/100 yuan), the unit of every amount in the scheme.
//!
//! Integers only, never floating point; arithmetic is checked, so an overflow
//! is an explicit `None` and never a wrap or a panic.

use serde::{Deserialize, Serialize};

/// An amount of money in fen. Serialised as a plain integer (`12345`);
/// displayed in yuan with two decimals (`123.45`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    /// Nothing.
    pub const ZERO: Fen = Fen(0);

    /// The amount in fen.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Fen) -> Option<Fen> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Fen(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` on overflow.
    pub const fn checked_sub(self, other: Fen) -> Option<Fen> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Fen(v)),
            None => None,
        }
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl std::fmt::Display for Fen {
    /// Yuan with two decimals: `123.45`, `-0.05`, `0.00`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // unsigned_abs: i64::MIN has no positive i64 counterpart.
        let abs = self.0.unsigned_abs();
        let sign = if self.0 < 0 { "-" } else { "" };
        let text = format!("{sign}{}.{:02}", abs / 100, abs % 100);
        f.pad(&text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, I64Deserializer};

    #[test]
    fn display_in_yuan() {
        assert_eq!(Fen(12345).to_string(), "123.45");
        assert_eq!(Fen(0).to_string(), "0.00");
        assert_eq!(Fen(5).to_string(), "0.05");
        assert_eq!(Fen(100).to_string(), "1.00");
        assert_eq!(Fen(-5).to_string(), "-0.05");
        assert_eq!(Fen(-12345).to_string(), "-123.45");
        assert_eq!(Fen(i64::MAX).to_string(), "92233720368547758.07");
        assert_eq!(Fen(i64::MIN).to_string(), "-92233720368547758.08");
        assert_eq!(format!("{:>8}", Fen(150)), "    1.50");
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(Fen(100).checked_add(Fen(23)), Some(Fen(123)));
        assert_eq!(Fen(100).checked_sub(Fen(123)), Some(Fen(-23)));
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
        assert_eq!(Fen(i64::MIN).checked_sub(Fen(1)), None);
        assert!(Fen(-1).is_negative());
        assert!(!Fen::ZERO.is_negative());
        assert_eq!(Fen::default(), Fen::ZERO);
        assert_eq!(Fen(7).get(), 7);
    }

    #[test]
    fn serde_as_plain_integer() {
        let de: I64Deserializer<DeError> = 12345i64.into_deserializer();
        assert_eq!(Fen::deserialize(de).unwrap(), Fen(12345));
    }

    proptest! {
        #[test]
        fn display_parses_back(v in any::<i64>()) {
            let text = Fen(v).to_string();
            let (sign, body) = match text.strip_prefix('-') {
                Some(rest) => (-1i128, rest),
                None => (1i128, text.as_str()),
            };
            let (yuan, fen) = body.split_once('.').unwrap();
            prop_assert_eq!(fen.len(), 2);
            let back = sign * (yuan.parse::<i128>().unwrap() * 100 + fen.parse::<i128>().unwrap());
            prop_assert_eq!(back, i128::from(v));
        }

        #[test]
        fn checked_ops_agree_with_wide_arithmetic(a in any::<i64>(), b in any::<i64>()) {
            let sum = i128::from(a) + i128::from(b);
            prop_assert_eq!(Fen(a).checked_add(Fen(b)).map(Fen::get).map(i128::from), i64::try_from(sum).ok().map(i128::from));
            let diff = i128::from(a) - i128::from(b);
            prop_assert_eq!(Fen(a).checked_sub(Fen(b)).map(Fen::get).map(i128::from), i64::try_from(diff).ok().map(i128::from));
        }
    }
}
