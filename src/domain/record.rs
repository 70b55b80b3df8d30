//! A submitted enrollee record: the raw fields as the county sent them, and the
//! record the rest of the system can trust once every field has been parsed
//! (DOMAIN.md section 1). Every field is checked, so the county gets every problem
//! of a row at once, not only the first.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::normalize::{normalize_text, normalized};
use super::{CitizenId, CountyCode, Ethnicity, NcmsNumber, PersonName, PhoneNumber, Sex, Warning};

/// The record fields, by their canonical (English) names.
pub const FIELDS: [&str; 10] = [
    "name",
    "sex",
    "ethnicity",
    "id_number",
    "address",
    "ncms_number",
    "phone",
    "county_code",
    "village",
    "household_number",
];

/// Fields a record cannot do without (the others may be empty or absent).
pub const REQUIRED: [&str; 7] = ["name", "sex", "ethnicity", "id_number", "address", "ncms_number", "village"];

/// Longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 100;
/// Longest village name or code, in characters.
pub const MAX_VILLAGE_CHARS: usize = 50;

/// The canonical field a column header names, in English or Chinese (as county
/// offices' spreadsheets have them).
pub fn field_for_header(header: &str) -> Option<&'static str> {
    let h = normalize_text(header).to_lowercase().replace([' ', '_', '-'], "");
    Some(match h.as_str() {
        "name" | "姓名" => "name",
        "sex" | "gender" | "性别" => "sex",
        "ethnicity" | "nation" | "民族" => "ethnicity",
        "idnumber" | "id" | "citizenid" | "身份证号" | "身份证号码" | "公民身份号码" => "id_number",
        "address" | "住址" | "地址" | "家庭住址" => "address",
        "ncmsnumber" | "新农合证号" | "合作医疗证号" | "医疗证号" => "ncms_number",
        "phone" | "mobile" | "联系电话" | "电话" | "手机" | "手机号" => "phone",
        "countycode" | "county" | "县" | "县区代码" | "区县代码" => "county_code",
        "village" | "村" | "村委会" | "行政村" => "village",
        "householdnumber" | "户号" => "household_number",
        _ => return None,
    })
}

/// A record as submitted: field name to text. Absent and empty mean the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRecord(pub BTreeMap<String, String>);

impl RawRecord {
    pub fn get(&self, field: &str) -> &str {
        self.0.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn set(&mut self, field: &str, value: impl Into<String>) {
        self.0.insert(field.to_string(), value.into());
    }
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldIssue {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldIssue {
    fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldIssue { field: field.to_string(), code: code.to_string(), message: message.into() }
    }
}

/// A record whose every field was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    pub name: PersonName,
    pub sex: Sex,
    pub ethnicity: Ethnicity,
    pub id: CitizenId,
    pub birth_date: NaiveDate,
    pub address: String,
    pub ncms_number: NcmsNumber,
    pub phone: Option<PhoneNumber>,
    pub county_code: CountyCode,
    pub village: String,
    pub household_number: Option<String>,
    pub warnings: Vec<Warning>,
}

/// The outcome of checking a record: valid (possibly with warnings), or every issue.
pub type Checked = Result<ValidRecord, Vec<FieldIssue>>;

/// Checks a raw record. `default_county` is the batch's county, used when the record
/// names none; `today` bounds birth dates.
pub fn check(raw: &RawRecord, default_county: &CountyCode, today: NaiveDate) -> Checked {
    let mut issues = Vec::new();
    let mut warnings = Vec::new();
    for field in REQUIRED {
        if normalized(raw.get(field)).is_empty() {
            let code = match field {
                "name" => "name_empty",
                "address" => "address_empty",
                "village" => "village_empty",
                "sex" => "sex_invalid",
                "ethnicity" => "ethnicity_unknown",
                "id_number" => "id_invalid_length",
                _ => "ncms_number_invalid",
            };
            issues.push(FieldIssue::new(field, code, "required"));
        }
    }
    let filled = |field: &str| !normalized(raw.get(field)).is_empty();

    let name = filled("name")
        .then(|| match PersonName::parse(raw.get("name")) {
            Ok(parsed) => {
                warnings.extend(parsed.warning());
                Some(parsed.into_name())
            }
            Err(e) => {
                issues.push(FieldIssue::new("name", e.code(), e.to_string()));
                None
            }
        })
        .flatten();
    let id = filled("id_number")
        .then(|| match CitizenId::parse(raw.get("id_number"), today) {
            Ok(parsed) => {
                warnings.extend(parsed.warning());
                Some(parsed.into_id())
            }
            Err(e) => {
                issues.push(FieldIssue::new("id_number", e.code(), e.to_string()));
                None
            }
        })
        .flatten();
    let sex = filled("sex")
        .then(|| match Sex::parse(raw.get("sex")) {
            Ok(sex) => Some(sex),
            Err(e) => {
                issues.push(FieldIssue::new("sex", e.code(), e.to_string()));
                None
            }
        })
        .flatten();
    if let (Some(sex), Some(id)) = (sex, &id)
        && let Err(e) = sex.check_against(id)
    {
        issues.push(FieldIssue::new("sex", e.code(), "the sex contradicts the 17th digit of the ID number"));
    }
    let ethnicity = filled("ethnicity")
        .then(|| match Ethnicity::parse(raw.get("ethnicity")) {
            Ok(e) => Some(e),
            Err(e) => {
                issues.push(FieldIssue::new("ethnicity", e.code(), e.to_string()));
                None
            }
        })
        .flatten();
    let address = normalize_text(raw.get("address"));
    if address.chars().count() > MAX_ADDRESS_CHARS {
        issues.push(FieldIssue::new("address", "address_too_long", format!("at most {MAX_ADDRESS_CHARS} characters")));
    }
    let ncms_number = filled("ncms_number")
        .then(|| match NcmsNumber::parse(raw.get("ncms_number")) {
            Ok(n) => Some(n),
            Err(e) => {
                issues.push(FieldIssue::new("ncms_number", e.code(), e.to_string()));
                None
            }
        })
        .flatten();
    let phone = match PhoneNumber::parse_optional(raw.get("phone")) {
        Ok(p) => p,
        Err(e) => {
            issues.push(FieldIssue::new("phone", e.code(), e.to_string()));
            None
        }
    };
    let county_code = if filled("county_code") {
        match CountyCode::parse(raw.get("county_code")) {
            Ok(c) => Some(c),
            Err(e) => {
                issues.push(FieldIssue::new("county_code", e.code(), e.to_string()));
                None
            }
        }
    } else {
        Some(default_county.clone())
    };
    let village = normalize_text(raw.get("village"));
    if village.chars().count() > MAX_VILLAGE_CHARS {
        issues.push(FieldIssue::new("village", "village_too_long", format!("at most {MAX_VILLAGE_CHARS} characters")));
    }
    let household = normalize_text(raw.get("household_number"));
    if household.chars().count() > 30 {
        issues.push(FieldIssue::new("household_number", "household_number_invalid", "at most 30 characters"));
    }
    match (name, sex, ethnicity, id, ncms_number, county_code) {
        (Some(name), Some(sex), Some(ethnicity), Some(id), Some(ncms_number), Some(county_code))
            if issues.is_empty() =>
        {
            Ok(ValidRecord {
                name,
                sex,
                ethnicity,
                birth_date: id.birth_date(),
                id,
                address,
                ncms_number,
                phone,
                county_code,
                village,
                household_number: (!household.is_empty()).then_some(household),
                warnings,
            })
        }
        _ => Err(issues),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn county() -> CountyCode {
        CountyCode::parse("210804").unwrap()
    }

    fn good() -> RawRecord {
        let mut r = RawRecord::default();
        for (k, v) in [
            ("name", "王小明"),
            ("sex", "1"),
            ("ethnicity", "汉族"),
            ("id_number", "210804198001010018"),
            ("address", "辽宁省营口市站前区前进村1号"),
            ("ncms_number", "NC2108040001"),
            ("phone", "13812345678"),
            ("village", "前进村"),
        ] {
            r.set(k, v);
        }
        let body = &r.get("id_number")[..17].to_string();
        let check = super::super::citizen_id::check_character(body).unwrap();
        r.set("id_number", format!("{body}{check}"));
        r
    }

    #[test]
    fn a_good_record_is_valid_with_the_batch_county() {
        let v = check(&good(), &county(), today()).unwrap();
        assert_eq!(v.county_code, county());
        assert_eq!(v.ethnicity, Ethnicity::HAN);
        assert_eq!(v.birth_date, NaiveDate::from_ymd_opt(1980, 1, 1).unwrap());
        assert!(v.warnings.is_empty());
    }

    #[test]
    fn every_issue_of_a_row_is_reported() {
        let mut r = good();
        r.set("name", "");
        r.set("sex", "9");
        r.set("ethnicity", "火星族");
        r.set("phone", "12345");
        r.set("county_code", "2108");
        let issues = check(&r, &county(), today()).unwrap_err();
        let codes: Vec<&str> = issues.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["name_empty", "sex_invalid", "ethnicity_unknown", "phone_invalid", "county_code_invalid"]);
    }

    #[test]
    fn sex_must_agree_with_the_id() {
        let mut r = good();
        r.set("sex", "女");
        let issues = check(&r, &county(), today()).unwrap_err();
        assert_eq!(issues[0].code, "sex_id_mismatch");
    }

    #[test]
    fn full_width_ids_and_long_names_pass_with_warnings_where_due() {
        let mut r = good();
        let full: String = r
            .get("id_number")
            .chars()
            .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
            .collect();
        r.set("id_number", full);
        r.set("name", "阿依古丽·买买提艾力克斯阿不都热合曼");
        let v = check(&r, &county(), today()).unwrap();
        assert_eq!(v.warnings, vec![Warning::NameTruncatedOnCard]);
    }

    #[test]
    fn headers_map_in_both_languages() {
        assert_eq!(field_for_header("身份证号"), Some("id_number"));
        assert_eq!(field_for_header(" ID_Number "), Some("id_number"));
        assert_eq!(field_for_header("新农合证号"), Some("ncms_number"));
        assert_eq!(field_for_header("序号"), None);
    }

    proptest! {
        #[test]
        fn checking_arbitrary_fields_never_panics(fields in proptest::collection::btree_map("[a-z_]{1,16}", "\\PC{0,40}", 0..12)) {
            let _ = check(&RawRecord(fields), &county(), today());
        }

        #[test]
        fn any_single_field_error_is_reported_on_that_field(field in proptest::sample::select(REQUIRED.to_vec()), junk in "[!-/]{1,5}") {
            let mut r = good();
            r.set(field, junk);
            if let Err(issues) = check(&r, &county(), today()) {
                prop_assert!(issues.iter().any(|i| i.field == field || (field == "id_number" && i.field == "sex")));
            }
        }
    }
}
