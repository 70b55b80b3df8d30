//! Names of card holders.
//!
//! A name is 1 to 30 characters of Chinese ideographs after normalisation; a
//! transliterated minority name has its parts joined by single middle dots
//! U+00B7 (阿依古丽·买买提). The card's name field holds 30 bytes of GB 18030,
//! i.e. 15 ideographs, so a longer name is accepted with the warning
//! `name_truncated_on_card`.
//!
//! Latin letters are refused (`name_invalid_chars`), also for citizens of
//! foreign origin (ethnicity `98`): the card copies the household register and
//! the resident ID card, whose names are written in Chinese characters, so a
//! Latin spelling could never be verified against the register. The same holds
//! for names in the Uyghur, Tibetan or Mongolian scripts: the register holds
//! their Chinese transliteration.
//!
//! `Debug` output is masked (王*明) so logs never carry a full name.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::normalize::{MIDDLE_DOT, normalize_name};
use crate::domain::warning::Warning;

/// Most characters a name may have after normalisation.
pub const MAX_NAME_CHARS: usize = 30;
/// Size of the card's name field in GB 18030 bytes (15 ideographs).
pub const CARD_NAME_FIELD_BYTES: usize = 30;

/// Why a name was refused; `code()` is the client code (HTTP 422, per row and field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NameError {
    /// Nothing left after normalisation: `name_empty`.
    #[error("the name is empty")]
    Empty,
    /// More than 30 characters: `name_too_long`.
    #[error("the name has more than 30 characters")]
    TooLong,
    /// A character other than a Chinese ideograph, or a middle dot at the
    /// start, at the end or next to another dot: `name_invalid_chars`.
    #[error(
        "a name is written in Chinese characters, with single middle dots (·) between the parts of a minority name"
    )]
    InvalidChars,
}

impl NameError {
    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        match self {
            NameError::Empty => "name_empty",
            NameError::TooLong => "name_too_long",
            NameError::InvalidChars => "name_invalid_chars",
        }
    }
}

crate::domain::serialize_as_code!(NameError);

/// A valid, normalised person's name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonName(String);

/// The result of [`PersonName::parse`]: the name and whether it fits on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    name: PersonName,
    truncated_on_card: bool,
}

impl ParsedName {
    /// The parsed name.
    pub fn name(&self) -> &PersonName {
        &self.name
    }

    /// The parsed name, by value.
    pub fn into_name(self) -> PersonName {
        self.name
    }

    /// Whether the name is longer than the card's name field.
    pub fn truncated_on_card(&self) -> bool {
        self.truncated_on_card
    }

    /// [`Warning::NameTruncatedOnCard`] when the name does not fit on the card.
    pub fn warning(&self) -> Option<Warning> {
        self.truncated_on_card.then_some(Warning::NameTruncatedOnCard)
    }
}

impl PersonName {
    /// Normalises (see [`normalize_name`]) and validates a submitted name.
    /// Checks run in the order empty, too long, characters.
    pub fn parse(input: &str) -> Result<ParsedName, NameError> {
        let text = normalize_name(input);
        let count = text.chars().count();
        if count == 0 {
            return Err(NameError::Empty);
        }
        if count > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        // Parts between dots must be non-empty runs of ideographs; this also
        // refuses leading, trailing and doubled dots.
        let well_formed = text.split(MIDDLE_DOT).all(|part| !part.is_empty() && part.chars().all(is_name_ideograph));
        if !well_formed {
            return Err(NameError::InvalidChars);
        }
        let name = PersonName(text);
        let truncated_on_card = name.gb18030_len() > CARD_NAME_FIELD_BYTES;
        Ok(ParsedName { name, truncated_on_card })
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a transliterated name with middle dots.
    pub fn has_middle_dot(&self) -> bool {
        self.0.contains(MIDDLE_DOT)
    }

    /// The length of the name in GB 18030 bytes (what the card's field counts).
    pub fn gb18030_len(&self) -> usize {
        self.0.chars().map(gb18030_char_len).sum()
    }

    /// The name for public lists: the first and the last ideograph are kept
    /// and every other ideograph becomes `*`; middle dots stay, so the shape of
    /// a minority name remains readable. 王小明 → 王*明, 欧阳小明 → 欧**明,
    /// 王明 → 王*, 王 → *, 阿依古丽·买买提 → 阿***·**提, 阿·木 → 阿·*.
    pub fn mask(&self) -> String {
        let ideographs = self.0.chars().filter(|c| *c != MIDDLE_DOT).count();
        let mut seen = 0;
        self.0
            .chars()
            .map(|c| {
                if c == MIDDLE_DOT {
                    return c;
                }
                seen += 1;
                let keep = match ideographs {
                    0 | 1 => false,
                    2 => seen == 1,
                    _ => seen == 1 || seen == ideographs,
                };
                if keep { c } else { '*' }
            })
            .collect()
    }
}

impl std::fmt::Debug for PersonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PersonName").field(&self.mask()).finish()
    }
}

impl Serialize for PersonName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PersonName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PersonName::parse(&text).map(ParsedName::into_name).map_err(serde::de::Error::custom)
    }
}

/// Whether `c` is a Chinese ideograph allowed in a name: the CJK Unified
/// Ideographs block and its extensions A to I, the compatibility ideographs
/// (after NFKC only the twelve unified ones of U+FA0E..U+FA29 remain) and
/// 〇 U+3007, which occurs in registered names.
fn is_name_ideograph(c: char) -> bool {
    matches!(
        c,
        '\u{3007}'
            | '\u{3400}'..='\u{4DBF}'   // Extension A
            | '\u{4E00}'..='\u{9FFF}'   // URO
            | '\u{F900}'..='\u{FAFF}'   // Compatibility Ideographs
            | '\u{20000}'..='\u{2A6DF}' // Extension B
            | '\u{2A700}'..='\u{2B73F}' // Extension C
            | '\u{2B740}'..='\u{2B81F}' // Extension D
            | '\u{2B820}'..='\u{2CEAF}' // Extension E
            | '\u{2CEB0}'..='\u{2EBEF}' // Extension F
            | '\u{2EBF0}'..='\u{2EE5F}' // Extension I
            | '\u{2F800}'..='\u{2FA1F}' // Compatibility Ideographs Supplement
            | '\u{30000}'..='\u{3134F}' // Extension G
            | '\u{31350}'..='\u{323AF}' // Extension H
    )
}

/// Extension A ideographs that GB 18030 encodes in two bytes (they were in
/// GBK's user-defined area before Unicode 3.0 gave them code points).
const EXT_A_TWO_BYTE: [char; 52] = [
    '\u{3447}', '\u{3473}', '\u{359E}', '\u{360E}', '\u{361A}', '\u{3918}', '\u{396E}', '\u{39CF}', '\u{39D0}',
    '\u{39DF}', '\u{3A73}', '\u{3B4E}', '\u{3C6E}', '\u{3CE0}', '\u{4056}', '\u{415F}', '\u{4337}', '\u{43AC}',
    '\u{43B1}', '\u{43DD}', '\u{44D6}', '\u{464C}', '\u{4661}', '\u{4723}', '\u{4729}', '\u{477C}', '\u{478D}',
    '\u{4947}', '\u{497A}', '\u{497D}', '\u{4982}', '\u{4983}', '\u{4985}', '\u{4986}', '\u{499B}', '\u{499F}',
    '\u{49B6}', '\u{49B7}', '\u{4C77}', '\u{4C9F}', '\u{4CA0}', '\u{4CA1}', '\u{4CA2}', '\u{4CA3}', '\u{4D13}',
    '\u{4D14}', '\u{4D15}', '\u{4D16}', '\u{4D17}', '\u{4D18}', '\u{4D19}', '\u{4DAE}',
];
/// Compatibility ideographs in GBK (two bytes).
const COMPAT_TWO_BYTE: [char; 21] = [
    '\u{F92C}', '\u{F979}', '\u{F995}', '\u{F9E7}', '\u{F9F1}', '\u{FA0C}', '\u{FA0D}', '\u{FA0E}', '\u{FA0F}',
    '\u{FA11}', '\u{FA13}', '\u{FA14}', '\u{FA18}', '\u{FA1F}', '\u{FA20}', '\u{FA21}', '\u{FA23}', '\u{FA24}',
    '\u{FA27}', '\u{FA28}', '\u{FA29}',
];
/// Supplementary-plane ideographs that GB 18030-2022 moved onto two-byte codes
/// (0xFE51, 0xFE52, 0xFE53, 0xFE6C, 0xFE76, 0xFE91).
const SUPPLEMENTARY_TWO_BYTE: [char; 6] =
    ['\u{20087}', '\u{20089}', '\u{200CC}', '\u{215D7}', '\u{2298F}', '\u{241FE}'];

/// GB 18030-2022 length in bytes of one character that may occur in a name:
/// ASCII is 1 byte; the middle dot, 〇, the GBK ideographs (U+4E00..=U+9FA5),
/// U+9FB4..=U+9FBB and the few listed Extension A, compatibility and
/// supplementary ideographs are 2 bytes; every other ideograph is 4 bytes.
/// Other characters cannot occur in a [`PersonName`] and are counted as 4
/// (not exact for them).
fn gb18030_char_len(c: char) -> usize {
    match c {
        '\0'..='\u{7F}' => 1,
        MIDDLE_DOT | '\u{3007}' | '\u{4E00}'..='\u{9FA5}' | '\u{9FB4}'..='\u{9FBB}' => 2,
        _ if EXT_A_TWO_BYTE.contains(&c) || COMPAT_TWO_BYTE.contains(&c) || SUPPLEMENTARY_TWO_BYTE.contains(&c) => 2,
        _ => 4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> ParsedName {
        PersonName::parse(s).unwrap()
    }

    #[test]
    fn plain_han_names() {
        assert_eq!(ok("王小明").name().as_str(), "王小明");
        assert_eq!(ok(" 王小明\u{3000}").name().as_str(), "王小明");
        assert_eq!(ok("\u{200B}王\u{FEFF}小明").name().as_str(), "王小明");
        assert_eq!(ok("王").name().as_str(), "王");
        assert_eq!(ok("欧阳小明").name().as_str(), "欧阳小明");
        assert_eq!(ok("王〇").name().as_str(), "王〇");
        assert!(!ok("王小明").truncated_on_card());
        assert_eq!(ok("王小明").warning(), None);
    }

    #[test]
    fn minority_names_with_any_dot_variant() {
        for input in [
            "阿依古丽·买买提",
            "阿依古丽•买买提",
            "阿依古丽・买买提",
            "阿依古丽．买买提",
            "阿依古丽.买买提",
            "阿依古丽 · 买买提",
            "阿依古丽\u{FF65}买买提",
            "阿依古丽\u{2027}买买提",
        ] {
            let parsed = ok(input);
            assert_eq!(parsed.name().as_str(), "阿依古丽·买买提", "{input}");
            assert!(parsed.name().has_middle_dot());
        }
        assert_eq!(ok("阿卜杜热西提·阿卜杜克里木·买买提").name().as_str(), "阿卜杜热西提·阿卜杜克里木·买买提");
    }

    #[test]
    fn refused_names() {
        use NameError::*;
        let cases = [
            ("", Empty),
            ("   ", Empty),
            ("\u{3000}\u{200B}", Empty),
            ("·王", InvalidChars),
            ("王·", InvalidChars),
            ("·", InvalidChars),
            ("阿依古丽··买买提", InvalidChars),
            ("阿依古丽·.买买提", InvalidChars),
            ("王 小明", InvalidChars),
            ("王小明1", InvalidChars),
            ("Wang Xiaoming", InvalidChars),
            ("John", InvalidChars),
            ("王-明", InvalidChars),
            ("王*明", InvalidChars),
            ("ئابدۇ", InvalidChars),
            ("བཀྲ་ཤིས", InvalidChars),
            ("王明\u{0301}", InvalidChars),
            ("王\u{0}明", InvalidChars),
            ("김철수", InvalidChars),
            ("やまだ", InvalidChars),
            ("⺀", InvalidChars),
        ];
        for (input, expected) in cases {
            let err = PersonName::parse(input).unwrap_err();
            assert_eq!(err, expected, "{input:?}");
        }
        let long: String = "王".repeat(31);
        assert_eq!(PersonName::parse(&long).unwrap_err(), TooLong);
        assert!(PersonName::parse(&"王".repeat(30)).is_ok());
        assert_eq!(NameError::Empty.code(), "name_empty");
        assert_eq!(NameError::TooLong.code(), "name_too_long");
        assert_eq!(NameError::InvalidChars.code(), "name_invalid_chars");
    }

    #[test]
    fn extension_and_compatibility_ideographs() {
        // 𠮷 (Extension B) is common in names and is 4 bytes in GB 18030.
        let p = ok("𠮷田");
        assert_eq!(p.name().gb18030_len(), 6);
        // Extension A, outside GBK: 4 bytes; one of the GBK-area ones: 2 bytes.
        assert_eq!(ok("王\u{3400}").name().gb18030_len(), 6);
        assert_eq!(ok("王\u{3447}").name().gb18030_len(), 4);
        // A compatibility ideograph with a canonical mapping is unified by NFKC.
        assert_eq!(ok("王\u{F900}").name().as_str(), "王\u{8C48}");
        // 﨎 U+FA0E is a unified ideograph in the compatibility block: kept, 2 bytes.
        assert_eq!(ok("王\u{FA0E}").name().as_str(), "王\u{FA0E}");
        assert_eq!(ok("王\u{FA0E}").name().gb18030_len(), 4);
        // Extension G and H.
        assert!(PersonName::parse("王\u{30000}").is_ok());
        assert!(PersonName::parse("王\u{31350}").is_ok());
        // Beyond GBK in the URO: 4 bytes.
        assert_eq!(ok("王\u{9FA6}").name().gb18030_len(), 6);
        assert_eq!(ok("王\u{9FB4}").name().gb18030_len(), 4);
        assert_eq!(ok("王\u{20087}").name().gb18030_len(), 4);
    }

    #[test]
    fn gb18030_length_and_card_warning() {
        assert_eq!(ok("王小明").name().gb18030_len(), 6);
        assert_eq!(ok("阿依古丽·买买提").name().gb18030_len(), 16);
        let fifteen = "王".repeat(15);
        assert!(!ok(&fifteen).truncated_on_card(), "15 ideographs fill the field exactly");
        let sixteen = "王".repeat(16);
        let p = ok(&sixteen);
        assert!(p.truncated_on_card());
        assert_eq!(p.warning(), Some(Warning::NameTruncatedOnCard));
        // 14 ideographs and a dot: 30 bytes, fits.
        let dotted = format!("{}·{}", "阿".repeat(7), "买".repeat(7));
        assert!(!ok(&dotted).truncated_on_card());
        // Eight 4-byte ideographs: only 8 characters but 32 bytes.
        assert!(ok(&"\u{20BB7}".repeat(8)).truncated_on_card());
        assert_eq!(gb18030_char_len('a'), 1);
    }

    #[test]
    fn masks() {
        let m = |s: &str| ok(s).name().mask();
        assert_eq!(m("王小明"), "王*明");
        assert_eq!(m("欧阳小明"), "欧**明");
        assert_eq!(m("王明"), "王*");
        assert_eq!(m("王"), "*");
        assert_eq!(m("阿依古丽·买买提"), "阿***·**提");
        assert_eq!(m("阿·木"), "阿·*");
        assert_eq!(m("阿·木·提"), "阿·*·提");
    }

    #[test]
    fn debug_is_masked() {
        let debug = format!("{:?}", ok("王小明").into_name());
        assert!(!debug.contains('小'), "{debug}");
        assert!(debug.contains("王*明"));
    }

    #[test]
    fn two_byte_ideograph_count_matches_gb18030_2022() {
        // Counted with an independent GB 18030-2022 encoder: 20902 GBK
        // ideographs, 52 Extension A, 21 compatibility, U+9FB4..=U+9FBB and
        // 6 supplementary ideographs encode in two bytes.
        let two_byte = (0..=0x3FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| is_name_ideograph(*c) && *c != '\u{3007}' && gb18030_char_len(*c) == 2)
            .count();
        assert_eq!(two_byte, 20902 + 52 + 21 + 8 + 6);
    }

    /// Names as the register holds them: 1 to 4 parts of 1 to 6 ideographs.
    fn valid_name() -> impl Strategy<Value = String> {
        let ideograph = prop_oneof![(0x4E00u32..=0x9FA5u32), (0x3400u32..=0x4DBFu32), (0x20000u32..=0x2A6DFu32),]
            .prop_map(|c| char::from_u32(c).unwrap());
        prop::collection::vec(prop::collection::vec(ideograph, 1..=6), 1..=4).prop_map(|parts| {
            parts.into_iter().map(|p| p.into_iter().collect::<String>()).collect::<Vec<_>>().join("·")
        })
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            if let Ok(p) = PersonName::parse(&s) {
                let _ = p.name().mask();
            }
        }

        #[test]
        fn valid_names_parse_and_keep_their_shape(name in valid_name()) {
            let p = PersonName::parse(&name).unwrap();
            prop_assert_eq!(p.name().as_str(), name.as_str());
            prop_assert_eq!(p.truncated_on_card(), p.name().gb18030_len() > 30);
        }

        #[test]
        fn mask_never_reveals_the_middle(name in valid_name()) {
            let p = PersonName::parse(&name).unwrap();
            let mask: Vec<char> = p.name().mask().chars().collect();
            let orig: Vec<char> = name.chars().collect();
            prop_assert_eq!(mask.len(), orig.len());
            let positions: Vec<usize> = (0..orig.len()).filter(|i| orig[*i] != MIDDLE_DOT).collect();
            for (rank, &i) in positions.iter().enumerate() {
                let first = rank == 0;
                let last = rank + 1 == positions.len();
                if positions.len() >= 3 && (first || last) || positions.len() == 2 && first {
                    prop_assert_eq!(mask[i], orig[i]);
                } else {
                    prop_assert_eq!(mask[i], '*');
                }
            }
            for i in 0..orig.len() {
                if orig[i] == MIDDLE_DOT {
                    prop_assert_eq!(mask[i], MIDDLE_DOT);
                }
            }
        }
    }
}
