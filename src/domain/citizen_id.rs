//! Citizen identity numbers (公民身份号码, GB 11643-1999).
//!
//! 18 characters: a six-digit region code (GB/T 2260, at the time of issue),
//! the birth date `YYYYMMDD`, a three-digit sequence (odd for men, even for
//! women) and a check character computed over the first 17 digits (ISO 7064
//! MOD 11-2). Old 15-digit numbers (`YYMMDD`, century 19, no check character)
//! are upgraded to the 18-character form, and the caller is told so with
//! [`Warning::IdUpgradedFrom15`].
//!
//! A [`CitizenId`] is always the upgraded, upper-case form; its `Debug` output
//! is masked so that a logged value never carries the full number.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::normalize::normalized;
use crate::domain::region::is_plausible_id_region;
use crate::domain::sex::Sex;
use crate::domain::warning::Warning;

/// Weights of the first 17 digits (2^(17-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder of the weighted sum modulo 11.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
/// The earliest birth date accepted.
const EARLIEST_BIRTH: (i32, u32, u32) = (1900, 1, 1);

/// Why an ID number was refused; `code()` is the client code (all HTTP 422,
/// reported per row and field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CitizenIdError {
    /// Not 18 (or 15) characters after normalisation: `id_invalid_length`.
    #[error("an ID number has 18 characters (or 15 digits for an old number)")]
    InvalidLength,
    /// Something other than 17 digits and a digit or `X` (15 digits for an old
    /// number): `id_invalid_chars`.
    #[error("an ID number is 17 digits followed by a digit or X")]
    InvalidChars,
    /// The check character does not match the first 17 digits: `id_bad_checksum`.
    #[error("the check character does not match; a digit is probably mistyped")]
    BadChecksum,
    /// The birth date is not a real date, lies in the future or before
    /// 1900-01-01: `id_bad_birth_date`.
    #[error("the birth date in the ID number is not a real date between 1900-01-01 and today")]
    BadBirthDate,
    /// The region code has no known province or an impossible shape:
    /// `id_region_unknown`.
    #[error("the first six digits are not a known region code")]
    RegionUnknown,
}

impl CitizenIdError {
    /// Every variant, for documentation and tests.
    pub const ALL: [CitizenIdError; 5] = [
        CitizenIdError::InvalidLength,
        CitizenIdError::InvalidChars,
        CitizenIdError::BadChecksum,
        CitizenIdError::BadBirthDate,
        CitizenIdError::RegionUnknown,
    ];

    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        match self {
            CitizenIdError::InvalidLength => "id_invalid_length",
            CitizenIdError::InvalidChars => "id_invalid_chars",
            CitizenIdError::BadChecksum => "id_bad_checksum",
            CitizenIdError::BadBirthDate => "id_bad_birth_date",
            CitizenIdError::RegionUnknown => "id_region_unknown",
        }
    }
}

crate::domain::serialize_as_code!(CitizenIdError);

/// Computes the GB 11643 check character (`0`-`9` or `X`) of a 17-digit body.
/// Returns `None` unless `body` is exactly 17 ASCII digits.
pub fn check_character(body: &str) -> Option<char> {
    let bytes = body.as_bytes();
    if bytes.len() != WEIGHTS.len() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes.iter().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    // `sum % 11` is below 11, the length of CHECK_CHARS.
    CHECK_CHARS.get((sum % 11) as usize).copied()
}

/// A valid citizen ID number in its 18-character form (upper-case `X`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CitizenId {
    value: String,
    birth_date: NaiveDate,
    sex: Sex,
}

/// The result of [`CitizenId::parse`]: the ID and whether it was upgraded
/// from an old 15-digit number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCitizenId {
    id: CitizenId,
    upgraded_from_15: bool,
}

impl ParsedCitizenId {
    /// The parsed ID.
    pub fn id(&self) -> &CitizenId {
        &self.id
    }

    /// The parsed ID, by value.
    pub fn into_id(self) -> CitizenId {
        self.id
    }

    /// Whether the input was an old 15-digit number.
    pub fn upgraded_from_15(&self) -> bool {
        self.upgraded_from_15
    }

    /// [`Warning::IdUpgradedFrom15`] when the input was a 15-digit number.
    pub fn warning(&self) -> Option<Warning> {
        self.upgraded_from_15.then_some(Warning::IdUpgradedFrom15)
    }
}

impl CitizenId {
    /// Parses a submitted ID number. The input is normalised first (full-width
    /// characters, white space at the ends, zero-width characters, `x` to `X`).
    /// `today` bounds the birth date; the function never reads the clock.
    ///
    /// Checks run in this order and the first failure is returned: length,
    /// characters, check character, birth date, region.
    pub fn parse(input: &str, today: NaiveDate) -> Result<ParsedCitizenId, CitizenIdError> {
        parse_inner(input, Some(today))
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The birth date encoded in the number.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// The sex encoded in the number: the 17th digit odd for male, even for female.
    pub fn sex(&self) -> Sex {
        self.sex
    }

    /// The six-digit region code (at the time of issue, not necessarily a
    /// county that still exists).
    pub fn region_code(&self) -> &str {
        self.value.get(0..6).unwrap_or_default()
    }

    /// The number with the birth date and sequence hidden: the first six and
    /// the last four characters are kept, e.g. `210804********123X`.
    pub fn mask(&self) -> String {
        let head = self.value.get(0..6).unwrap_or_default();
        let tail = self.value.get(14..18).unwrap_or_default();
        format!("{head}********{tail}")
    }
}

impl std::fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CitizenId").field(&self.mask()).finish()
    }
}

/// The whole check. `today == None` skips the "not in the future" test; that
/// is only for values read back from storage, where the check ran on entry.
fn parse_inner(input: &str, today: Option<NaiveDate>) -> Result<ParsedCitizenId, CitizenIdError> {
    let text = normalized(input).to_ascii_uppercase();
    let chars = text.chars().count();
    if chars != 18 && chars != 15 {
        return Err(CitizenIdError::InvalidLength);
    }
    let upgraded_from_15 = chars == 15;
    // With 15 or 18 characters that are all ASCII, bytes and characters agree.
    let bytes = text.as_bytes();
    let (digits, last) = if upgraded_from_15 {
        (bytes, None)
    } else {
        let (digits, last) = bytes.split_at_checked(17).ok_or(CitizenIdError::InvalidChars)?;
        (digits, Some(last))
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(CitizenIdError::InvalidChars);
    }

    let body: String = if upgraded_from_15 {
        let (region, rest) = text.split_at_checked(6).ok_or(CitizenIdError::InvalidChars)?;
        format!("{region}19{rest}")
    } else {
        match last {
            Some([c]) if c.is_ascii_digit() || *c == b'X' => {}
            _ => return Err(CitizenIdError::InvalidChars),
        }
        text.get(0..17).ok_or(CitizenIdError::InvalidChars)?.to_owned()
    };
    let check = check_character(&body).ok_or(CitizenIdError::InvalidChars)?;
    if let Some(given) = last.and_then(|l| l.first())
        && char::from(*given) != check
    {
        return Err(CitizenIdError::BadChecksum);
    }

    let birth_date = birth_date_of(&body).ok_or(CitizenIdError::BadBirthDate)?;
    let earliest = NaiveDate::from_ymd_opt(EARLIEST_BIRTH.0, EARLIEST_BIRTH.1, EARLIEST_BIRTH.2);
    if earliest.is_none_or(|e| birth_date < e) || today.is_some_and(|t| birth_date > t) {
        return Err(CitizenIdError::BadBirthDate);
    }

    if !is_plausible_id_region(body.as_bytes().get(0..6).unwrap_or_default()) {
        return Err(CitizenIdError::RegionUnknown);
    }

    let sex_digit = body.as_bytes().get(16).map(|d| d - b'0');
    let sex = match sex_digit {
        Some(d) if d % 2 == 1 => Sex::Male,
        Some(_) => Sex::Female,
        None => return Err(CitizenIdError::InvalidChars),
    };
    let mut value = body;
    value.push(check);
    Ok(ParsedCitizenId { id: CitizenId { value, birth_date, sex }, upgraded_from_15 })
}

/// The birth date in positions 7-14 of an 18-character body, if it is a real date.
fn birth_date_of(body: &str) -> Option<NaiveDate> {
    let year = body.get(6..10)?.parse().ok()?;
    let month = body.get(10..12)?.parse().ok()?;
    let day = body.get(12..14)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

impl Serialize for CitizenId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for CitizenId {
    /// Reads a stored or transmitted ID back. Every check runs except "birth
    /// date not in the future", which needs a date and ran on entry.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_inner(&text, None).map(ParsedCitizenId::into_id).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()
    }

    /// Builds a full ID from a 17-digit body with the right check character.
    fn with_check(body: &str) -> String {
        format!("{body}{}", check_character(body).unwrap())
    }

    fn parse(s: &str) -> Result<ParsedCitizenId, CitizenIdError> {
        CitizenId::parse(s, today())
    }

    #[test]
    fn textbook_example_has_check_x() {
        assert_eq!(check_character("11010519491231002"), Some('X'));
        let parsed = parse("11010519491231002X").unwrap();
        let id = parsed.id();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.region_code(), "110105");
        assert_eq!(id.mask(), "110105********002X");
        assert!(!parsed.upgraded_from_15());
        assert_eq!(parsed.warning(), None);
    }

    #[test]
    fn check_character_covers_all_remainders() {
        // Weighted sums worked out by hand (and with an independent script);
        // together they hit each remainder 0..=10 once.
        let cases = [
            ("21080419800101001", '1'),
            ("21080419800101007", '0'),
            ("21080419800101002", 'X'),
            ("21080419800101008", '9'),
            ("21080419800101003", '8'),
            ("21080419800101009", '7'),
            ("21080419800101004", '6'),
            ("21080419800101018", '5'),
            ("21080419800101005", '4'),
            ("21080419800101000", '3'),
            ("21080419800101006", '2'),
            ("21080419800101123", '3'),
        ];
        for (body, check) in cases {
            assert_eq!(check_character(body), Some(check), "{body}");
        }
        assert_eq!(check_character("1101051949123100"), None);
        assert_eq!(check_character("110105194912310020"), None);
        assert_eq!(check_character("1101051949123100X"), None);
        assert_eq!(check_character("１1010519491231002"), None);
        assert_eq!(check_character(""), None);
    }

    #[test]
    fn lower_case_and_full_width_forms_are_normalised() {
        for input in [
            "11010519491231002x",
            " 11010519491231002X\t",
            "１１０１０５１９４９１２３１００２Ｘ",
            "１１０１０５１９４９１２３１００２ｘ",
            "\u{FEFF}11010519491231002X\u{200B}",
            "\u{3000}11010519491231002X\u{3000}",
        ] {
            assert_eq!(parse(input).unwrap().id().as_str(), "11010519491231002X", "{input:?}");
        }
    }

    #[test]
    fn length_errors() {
        for input in ["", "1101051949123100", "1101051949123100202", "11010519491231", "110105 19491231002X"] {
            assert_eq!(parse(input).unwrap_err(), CitizenIdError::InvalidLength, "{input:?}");
        }
    }

    #[test]
    fn char_errors() {
        for input in [
            "1101051949123100XX",
            "X1010519491231002X",
            "11010519491231002Y",
            "110105194912310 2X",
            "11010519491231002-",
            "11010519491231002+",
            "1101051949123100二X",
            "11010549123100X",
            "-11010549123100",
        ] {
            assert_eq!(parse(input).unwrap_err(), CitizenIdError::InvalidChars, "{input:?}");
        }
        // Multi-byte characters must not be mistaken for several ASCII bytes.
        assert_eq!(parse("一一〇一〇五一九四九一二三一〇〇二X").unwrap_err(), CitizenIdError::InvalidChars);
    }

    #[test]
    fn checksum_errors() {
        assert_eq!(parse("110105194912310020").unwrap_err(), CitizenIdError::BadChecksum);
        assert_eq!(parse("110105194912310021").unwrap_err(), CitizenIdError::BadChecksum);
        // Two swapped digits.
        assert_eq!(parse("11010519491213002X").unwrap_err(), CitizenIdError::BadChecksum);
    }

    #[test]
    fn birth_date_checks() {
        let d = |body: &str| parse(&with_check(body));
        assert!(d("21080419000101123").is_ok(), "1900-01-01 is the earliest day");
        assert_eq!(d("21080418991231123").unwrap_err(), CitizenIdError::BadBirthDate);
        assert!(d("21080420000229123").is_ok(), "2000 is a leap year");
        assert_eq!(d("21080419000229123").unwrap_err(), CitizenIdError::BadBirthDate, "1900 is not");
        assert_eq!(d("21080420230229123").unwrap_err(), CitizenIdError::BadBirthDate);
        assert_eq!(d("21080419801301123").unwrap_err(), CitizenIdError::BadBirthDate);
        assert_eq!(d("21080419800100123").unwrap_err(), CitizenIdError::BadBirthDate);
        assert_eq!(d("21080419800431123").unwrap_err(), CitizenIdError::BadBirthDate);
        assert_eq!(d("21080400000101123").unwrap_err(), CitizenIdError::BadBirthDate);
        assert!(d("21080420240630123").is_ok(), "born today");
        assert_eq!(d("21080420240701123").unwrap_err(), CitizenIdError::BadBirthDate, "tomorrow");
        assert_eq!(d("21080499991231123").unwrap_err(), CitizenIdError::BadBirthDate);
    }

    #[test]
    fn region_checks() {
        let d = |body: &str| parse(&with_check(body));
        assert!(d("44190019800101123").is_ok(), "东莞 441900: city without counties");
        assert!(d("21080019800101123").is_ok());
        assert!(d("81000019800101123").is_ok());
        assert!(d("13010219800101123").is_ok(), "a historical county code is fine");
        for body in [
            "10080419800101123",
            "00000019800101123",
            "99080419800101123",
            "21000019800101123",
            "21001219800101123",
            "72010119800101123",
        ] {
            assert_eq!(d(body).unwrap_err(), CitizenIdError::RegionUnknown, "{body}");
        }
    }

    #[test]
    fn sex_from_the_17th_digit() {
        assert_eq!(parse(&with_check("21080419800101123")).unwrap().id().sex(), Sex::Male);
        assert_eq!(parse(&with_check("21080419800101124")).unwrap().id().sex(), Sex::Female);
        assert_eq!(parse(&with_check("21080419800101120")).unwrap().id().sex(), Sex::Female);
        assert_eq!(parse(&with_check("21080419800101129")).unwrap().id().sex(), Sex::Male);
    }

    #[test]
    fn fifteen_digit_numbers_are_upgraded() {
        let parsed = parse("110105491231002").unwrap();
        assert!(parsed.upgraded_from_15());
        assert_eq!(parsed.warning(), Some(Warning::IdUpgradedFrom15));
        assert_eq!(parsed.id().as_str(), "11010519491231002X");
        assert_eq!(parsed.id().mask(), "110105********002X");
        assert_eq!(parsed.id().sex(), Sex::Female);

        let parsed = parse("２１０８０４８００１０１１２３").unwrap();
        assert_eq!(parsed.id().as_str(), with_check("21080419800101123"));
        assert_eq!(parsed.id().sex(), Sex::Male);

        assert_eq!(parse("210804000229123").unwrap_err(), CitizenIdError::BadBirthDate, "1900-02-29");
        assert_eq!(parse("210804801301123").unwrap_err(), CitizenIdError::BadBirthDate);
        assert_eq!(parse("100804800101123").unwrap_err(), CitizenIdError::RegionUnknown);
        assert_eq!(parse("21080480010112X").unwrap_err(), CitizenIdError::InvalidChars);
    }

    #[test]
    fn error_codes_are_stable() {
        let codes: Vec<_> = CitizenIdError::ALL.iter().map(CitizenIdError::code).collect();
        assert_eq!(
            codes,
            ["id_invalid_length", "id_invalid_chars", "id_bad_checksum", "id_bad_birth_date", "id_region_unknown"]
        );
    }

    #[test]
    fn debug_is_masked() {
        let id = parse("11010519491231002X").unwrap().into_id();
        let debug = format!("{id:?}");
        assert!(!debug.contains("19491231"), "{debug}");
        assert!(debug.contains("110105********002X"));
    }

    #[test]
    fn serde_round_trip_through_a_string() {
        let de: StrDeserializer<'_, DeError> = "11010519491231002X".into_deserializer();
        let id = CitizenId::deserialize(de).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        let de: StrDeserializer<'_, DeError> = "110105194912310020".into_deserializer();
        let err = CitizenId::deserialize(de).unwrap_err();
        assert!(err.to_string().contains("check character"), "{err}");
        // No `today` on the way back in: a stored future date is not re-judged.
        let future = with_check("21080420990101123");
        let de: StrDeserializer<'_, DeError> = future.as_str().into_deserializer();
        assert!(CitizenId::deserialize(de).is_ok());
    }

    /// A valid 17-digit body: a province, a plausible region, a real birth
    /// date between 1900-01-01 and `today()`, any sequence.
    fn valid_body() -> impl Strategy<Value = String> {
        let provinces: Vec<u8> = (10..=99).filter(|p| crate::domain::region::is_province_code(*p)).collect();
        let days = (today() - NaiveDate::from_ymd_opt(1900, 1, 1).unwrap()).num_days() as u64;
        (prop::sample::select(provinces), 1u32..=99, 0u32..=99, 0..=days, 0u32..=999).prop_map(
            |(province, prefecture, county, offset, seq)| {
                let date =
                    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap().checked_add_days(chrono::Days::new(offset)).unwrap();
                format!("{province:02}{prefecture:02}{county:02}{}{seq:03}", date.format("%Y%m%d"))
            },
        )
    }

    /// ASCII to full-width: digits and `X` move by 0xFEE0.
    fn full_width(s: &str) -> String {
        s.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap()).collect()
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = parse(&s);
            let _ = check_character(&s);
        }

        #[test]
        fn parse_never_panics_on_id_shaped_input(s in "[0-9xX０-９ｘＸ \u{3000}\u{200B}.-]{0,20}") {
            let _ = parse(&s);
        }

        #[test]
        fn only_the_computed_check_character_is_accepted(body in valid_body(), other in prop::sample::select(CHECK_CHARS.to_vec())) {
            let check = check_character(&body).unwrap();
            let parsed = parse(&format!("{body}{check}")).unwrap();
            prop_assert_eq!(parsed.id().as_str(), format!("{body}{check}"));
            if other != check {
                prop_assert_eq!(parse(&format!("{body}{other}")).unwrap_err(), CitizenIdError::BadChecksum);
            }
        }

        #[test]
        fn full_width_input_parses_to_the_same_value(body in valid_body(), lower in any::<bool>()) {
            let id = with_check(&body);
            let wide = full_width(&if lower { id.to_lowercase() } else { id.clone() });
            prop_assert_eq!(parse(&wide).unwrap().into_id(), parse(&id).unwrap().into_id());
        }

        #[test]
        fn upgrade_then_mask_keeps_first_six_and_last_four(region in "(11|21|44|65)[0-9][1-9][0-9]{2}", yymmdd in "[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])", seq in "[0-9]{3}") {
            let old = format!("{region}{yymmdd}{seq}");
            let parsed = parse(&old).unwrap();
            prop_assert!(parsed.upgraded_from_15());
            let id = parsed.id();
            prop_assert_eq!(id.as_str().len(), 18);
            prop_assert_eq!(&id.as_str()[..6], region.as_str());
            prop_assert_eq!(&id.as_str()[6..8], "19");
            let mask = id.mask();
            prop_assert_eq!(&mask[..6], &old[..6]);
            prop_assert_eq!(&mask[14..], &id.as_str()[14..]);
            prop_assert_eq!(&mask[14..17], &old[12..15]);
        }

        #[test]
        fn mask_never_reveals_the_middle(body in valid_body()) {
            let id = parse(&with_check(&body)).unwrap().into_id();
            let mask = id.mask();
            prop_assert_eq!(mask.chars().count(), 18);
            prop_assert_eq!(&mask[6..14], "********");
            prop_assert_eq!(&mask[..6], &id.as_str()[..6]);
            prop_assert_eq!(&mask[14..], &id.as_str()[14..]);
        }

        #[test]
        fn accepted_ids_are_canonical(s in "[0-9]{17}[0-9X]") {
            if let Ok(p) = parse(&s) {
                prop_assert_eq!(p.id().as_str(), s.as_str());
                prop_assert_eq!(check_character(&s[..17]), s.chars().last());
            }
        }
    }
}
