//! Ethnicity (民族) as coded by GB 3304-1991.
//!
//! The 56 ethnic groups have the two-digit codes `01`..`56` in the standard's
//! order; `97` is "other, not yet identified" (其他) and `98` is "Chinese
//! citizen of foreign origin" (外国血统中国籍人士). Submissions may give the
//! code with or without its leading zero, the full name (汉族), the name
//! without the trailing 族 (汉, 朝鲜), or one of the two names that were
//! changed after the standard was first used: 崩龙族 (德昂族 since 1985) and
//! 毛难族 (毛南族 since 1986).

use serde::{Deserialize, Serialize};

use crate::domain::normalize::normalized;

/// The GB 3304 table: numeric code and current name, in the standard's order.
const TABLE: [(u8, &str); 58] = [
    (1, "汉族"),
    (2, "蒙古族"),
    (3, "回族"),
    (4, "藏族"),
    (5, "维吾尔族"),
    (6, "苗族"),
    (7, "彝族"),
    (8, "壮族"),
    (9, "布依族"),
    (10, "朝鲜族"),
    (11, "满族"),
    (12, "侗族"),
    (13, "瑶族"),
    (14, "白族"),
    (15, "土家族"),
    (16, "哈尼族"),
    (17, "哈萨克族"),
    (18, "傣族"),
    (19, "黎族"),
    (20, "傈僳族"),
    (21, "佤族"),
    (22, "畲族"),
    (23, "高山族"),
    (24, "拉祜族"),
    (25, "水族"),
    (26, "东乡族"),
    (27, "纳西族"),
    (28, "景颇族"),
    (29, "柯尔克孜族"),
    (30, "土族"),
    (31, "达斡尔族"),
    (32, "仫佬族"),
    (33, "羌族"),
    (34, "布朗族"),
    (35, "撒拉族"),
    (36, "毛南族"),
    (37, "仡佬族"),
    (38, "锡伯族"),
    (39, "阿昌族"),
    (40, "普米族"),
    (41, "塔吉克族"),
    (42, "怒族"),
    (43, "乌孜别克族"),
    (44, "俄罗斯族"),
    (45, "鄂温克族"),
    (46, "德昂族"),
    (47, "保安族"),
    (48, "裕固族"),
    (49, "京族"),
    (50, "塔塔尔族"),
    (51, "独龙族"),
    (52, "鄂伦春族"),
    (53, "赫哲族"),
    (54, "门巴族"),
    (55, "珞巴族"),
    (56, "基诺族"),
    (97, "其他"),
    (98, "外国血统中国籍人士"),
];

/// Further accepted names: older official names and common short forms.
const ALIASES: [(&str, u8); 7] = [
    ("崩龙族", 46),
    ("崩龙", 46),
    ("毛难族", 36),
    ("毛难", 36),
    ("其它", 97),
    ("外国血统", 98),
    ("外国血统中国籍", 98),
];

/// The two-digit code strings, indexed like [`TABLE`].
const CODES: [&str; 58] = [
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
    "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35", "36", "37", "38",
    "39", "40", "41", "42", "43", "44", "45", "46", "47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "97",
    "98",
];

/// Why an ethnicity was refused: `ethnicity_unknown` (HTTP 422, per row and field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum EthnicityError {
    /// Neither a GB 3304 code nor a known name: `ethnicity_unknown`.
    #[error("not a GB 3304 ethnicity code (01-56, 97, 98) or name")]
    Unknown,
}

impl EthnicityError {
    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        "ethnicity_unknown"
    }
}

crate::domain::serialize_as_code!(EthnicityError);

/// A GB 3304 ethnicity. Serialised as its two-digit code, e.g. `"01"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ethnicity(u8);

impl Ethnicity {
    /// 汉族, code `01`.
    pub const HAN: Ethnicity = Ethnicity(1);
    /// 其他 (not yet identified), code `97`.
    pub const OTHER: Ethnicity = Ethnicity(97);
    /// 外国血统中国籍人士 (naturalised, of foreign origin), code `98`.
    pub const FOREIGN_ORIGIN: Ethnicity = Ethnicity(98);

    /// Parses a code (`1`, `01`, `97`) or a name (汉族, 汉, 崩龙族) after
    /// normalisation.
    pub fn parse(input: &str) -> Result<Ethnicity, EthnicityError> {
        let text = normalized(input);
        if !text.is_empty() && text.len() <= 2 && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse::<u8>().ok().and_then(Ethnicity::from_number).ok_or(EthnicityError::Unknown);
        }
        let by_name = TABLE
            .iter()
            .find(|(_, name)| *name == text || (name.strip_suffix('族') == Some(&*text) && !text.is_empty()));
        let number = match by_name {
            Some((number, _)) => Some(*number),
            None => ALIASES.iter().find(|(alias, _)| *alias == text).map(|(_, n)| *n),
        };
        number.map(Ethnicity).ok_or(EthnicityError::Unknown)
    }

    /// The ethnicity with numeric code `number` (1..=56, 97, 98), if any.
    pub fn from_number(number: u8) -> Option<Ethnicity> {
        TABLE.iter().any(|(n, _)| *n == number).then_some(Ethnicity(number))
    }

    /// Every ethnicity in the standard's order.
    pub fn all() -> impl Iterator<Item = Ethnicity> {
        TABLE.iter().map(|(n, _)| Ethnicity(*n))
    }

    /// The numeric code, e.g. 1 for 汉族.
    pub fn number(&self) -> u8 {
        self.0
    }

    /// The two-digit code, e.g. `"01"`.
    pub fn code(&self) -> &'static str {
        self.index().and_then(|i| CODES.get(i)).copied().unwrap_or_default()
    }

    /// The current official name, e.g. `"汉族"`.
    pub fn name(&self) -> &'static str {
        self.index().and_then(|i| TABLE.get(i)).map(|(_, name)| *name).unwrap_or_default()
    }

    fn index(&self) -> Option<usize> {
        TABLE.iter().position(|(n, _)| *n == self.0)
    }
}

impl std::fmt::Display for Ethnicity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Ethnicity {
    type Error = EthnicityError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Ethnicity::parse(&value)
    }
}

impl From<Ethnicity> for String {
    fn from(value: Ethnicity) -> Self {
        value.code().to_owned()
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
    fn table_is_complete_and_ordered() {
        let numbers: Vec<u8> = Ethnicity::all().map(|e| e.number()).collect();
        let mut expected: Vec<u8> = (1..=56).collect();
        expected.extend([97, 98]);
        assert_eq!(numbers, expected);
        for e in Ethnicity::all() {
            assert_eq!(e.code(), format!("{:02}", e.number()));
            assert!(!e.name().is_empty());
        }
        let mut names: Vec<_> = Ethnicity::all().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 58, "names are unique");
    }

    #[test]
    fn standard_order_spot_checks() {
        let expect = [
            (1, "汉族"),
            (2, "蒙古族"),
            (3, "回族"),
            (4, "藏族"),
            (5, "维吾尔族"),
            (6, "苗族"),
            (7, "彝族"),
            (8, "壮族"),
            (9, "布依族"),
            (10, "朝鲜族"),
            (11, "满族"),
            (12, "侗族"),
            (15, "土家族"),
            (22, "畲族"),
            (29, "柯尔克孜族"),
            (36, "毛南族"),
            (41, "塔吉克族"),
            (43, "乌孜别克族"),
            (46, "德昂族"),
            (49, "京族"),
            (54, "门巴族"),
            (55, "珞巴族"),
            (56, "基诺族"),
            (97, "其他"),
            (98, "外国血统中国籍人士"),
        ];
        for (n, name) in expect {
            assert_eq!(Ethnicity::from_number(n).unwrap().name(), name);
        }
    }

    #[test]
    fn codes_with_and_without_leading_zero() {
        assert_eq!(Ethnicity::parse("01"), Ok(Ethnicity::HAN));
        assert_eq!(Ethnicity::parse("1"), Ok(Ethnicity::HAN));
        assert_eq!(Ethnicity::parse("０１"), Ok(Ethnicity::HAN));
        assert_eq!(Ethnicity::parse(" 8 ").unwrap().name(), "壮族");
        assert_eq!(Ethnicity::parse("56").unwrap().name(), "基诺族");
        assert_eq!(Ethnicity::parse("97"), Ok(Ethnicity::OTHER));
        assert_eq!(Ethnicity::parse("98"), Ok(Ethnicity::FOREIGN_ORIGIN));
        for bad in ["0", "00", "57", "96", "99", "001", "010", "-1", "1.0", "+1", ""] {
            assert_eq!(Ethnicity::parse(bad), Err(EthnicityError::Unknown), "{bad:?}");
        }
    }

    #[test]
    fn names_short_names_and_old_names() {
        let check = |input: &str, code: &str| assert_eq!(Ethnicity::parse(input).unwrap().code(), code, "{input}");
        check("汉族", "01");
        check("汉", "01");
        check("朝鲜", "10");
        check("朝鲜族", "10");
        check(" 满族 ", "11");
        check("土家", "15");
        check("崩龙族", "46");
        check("崩龙", "46");
        check("毛难族", "36");
        check("毛南", "36");
        check("其他", "97");
        check("其它", "97");
        check("外国血统中国籍人士", "98");
        check("外国血统", "98");
        for bad in ["族", "汉人", "汉 族", "摩梭人", "穿青人", "Han", "han", "中国"] {
            let err = Ethnicity::parse(bad).unwrap_err();
            assert_eq!(err.code(), "ethnicity_unknown", "{bad}");
        }
    }

    #[test]
    fn serde_as_two_digit_code() {
        assert_eq!(String::from(Ethnicity::HAN), "01");
        let de: StrDeserializer<'_, DeError> = "03".into_deserializer();
        assert_eq!(Ethnicity::deserialize(de).unwrap().name(), "回族");
        let de: StrDeserializer<'_, DeError> = "99".into_deserializer();
        assert!(Ethnicity::deserialize(de).is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Ethnicity::parse(&s);
        }

        #[test]
        fn code_and_name_round_trip(n in 0u8..=255) {
            if let Some(e) = Ethnicity::from_number(n) {
                prop_assert_eq!(Ethnicity::parse(e.code()), Ok(e));
                prop_assert_eq!(Ethnicity::parse(e.name()), Ok(e));
                prop_assert_eq!(Ethnicity::parse(&n.to_string()), Ok(e));
            } else {
                prop_assert!(Ethnicity::parse(&n.to_string()).is_err());
            }
        }
    }
}
