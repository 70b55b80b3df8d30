//! Reading a register upload as a stream of rows: CSV (UTF-8 or GB18030, English or
//! Chinese headers) or NDJSON, never holding the whole body.
//!
//! The layers, each a `std::io::Read` (they run on a blocking thread), the first three
//! shared with the other upload services in `crate::http`:
//! [`BodyReader`] (bytes from the async side) -> [`Decoding`] (UTF-8 or GB18030 to
//! UTF-8, with the line of an undecodable byte) -> for CSV [`CsvGuard`] (unclosed quotes
//! and runaway records, which the `csv` crate would otherwise swallow to the end of the
//! body) -> [`RowSource`] (rows of raw text) -> [`validate`] (the domain types).
//!
//! [`BodyReader`]: crate::http::stream::BodyReader
//!
//! Failures of the whole upload are an [`InputError`] with a stable code; a bad row is
//! a list of [`FieldError`]s and the import goes on.

use std::borrow::Cow;
use std::io::Read;

use chrono::NaiveDate;

use crate::domain::normalize::{normalize_text, normalized};
use crate::domain::{CitizenId, Ethnicity, PersonName, Sex};
use crate::http::FieldError;
use crate::http::charset::{self, Charset, Decoding};
use crate::http::csv_input::{CsvGuard, HeaderError, MAX_COLUMNS, map_header};
use crate::http::input::InputError;
use crate::http::lines::TextLines;

/// Longest address and household number, in characters.
const MAX_ADDRESS_CHARS: usize = 100;
const MAX_HOUSEHOLD_CHARS: usize = 30;

/// What the body holds, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv(Charset),
    Ndjson,
}

impl Format {
    /// Reads a Content-Type: `text/csv` (`charset=utf-8`, `gb18030`, `gbk`, `gb2312`
    /// or none) or `application/x-ndjson` (UTF-8). `Err` names what is refused.
    pub fn from_content_type(value: Option<&str>) -> Result<Format, String> {
        let expected = "expected Content-Type text/csv (charset utf-8 or gb18030) or application/x-ndjson";
        let mime: mime::Mime = value.and_then(|v| v.parse().ok()).ok_or_else(|| expected.to_string())?;
        let charset = charset::of_mime(&mime);
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("text", "csv") => charset
                .map(Format::Csv)
                .map_err(|other| format!("charset {other} is not supported: use utf-8 or gb18030")),
            ("application", "x-ndjson" | "ndjson") => match charset {
                Ok(Charset::Utf8 | Charset::Sniff) => Ok(Format::Ndjson),
                _ => Err(format!("NDJSON is UTF-8, not {}", mime.get_param(mime::CHARSET).map_or("", |c| c.as_str()))),
            },
            _ => Err(expected.to_string()),
        }
    }

    pub fn charset(&self) -> Charset {
        match self {
            Format::Csv(c) => *c,
            Format::Ndjson => Charset::Utf8,
        }
    }
}

/// The columns of a register row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    IdNumber,
    Name,
    Sex,
    BirthDate,
    Ethnicity,
    Address,
    HouseholdNumber,
    Status,
}

impl Column {
    pub const ALL: [Column; 8] = [
        Column::IdNumber,
        Column::Name,
        Column::Sex,
        Column::BirthDate,
        Column::Ethnicity,
        Column::Address,
        Column::HouseholdNumber,
        Column::Status,
    ];

    pub fn english(self) -> &'static str {
        match self {
            Column::IdNumber => "id_number",
            Column::Name => "name",
            Column::Sex => "sex",
            Column::BirthDate => "birth_date",
            Column::Ethnicity => "ethnicity",
            Column::Address => "address",
            Column::HouseholdNumber => "household_number",
            Column::Status => "status",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Column::IdNumber => "身份证号",
            Column::Name => "姓名",
            Column::Sex => "性别",
            Column::BirthDate => "出生日期",
            Column::Ethnicity => "民族",
            Column::Address => "住址",
            Column::HouseholdNumber => "户号",
            Column::Status => "状态",
        }
    }

    /// Every column but the household number must be in the header.
    pub fn required(self) -> bool {
        self != Column::HouseholdNumber
    }

    fn from_header(text: &str) -> Option<Column> {
        let text = normalize_text(text).to_lowercase();
        Column::ALL.into_iter().find(|c| c.english() == text || c.chinese() == text)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One row as read, before validation. `row` counts data rows from 1. A CSV row's
/// values are borrowed from the reader's record: no copy of a field that is only checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRow<'a> {
    pub row: u64,
    pub values: [Option<Cow<'a, str>>; 8],
    /// The row could not be split into fields (wrong field count, not a JSON object).
    pub malformed: Option<String>,
}

impl RawRow<'_> {
    fn get(&self, column: Column) -> &str {
        self.values[column.index()].as_deref().unwrap_or("")
    }
}

/// Rows of an upload, one at a time.
pub enum RowSource<R: Read> {
    Csv {
        reader: csv::Reader<CsvGuard<Decoding<R>>>,
        columns: Vec<Option<Column>>,
        record: csv::StringRecord,
        row: u64,
    },
    Ndjson {
        lines: TextLines<Decoding<R>>,
        row: u64,
    },
}

fn csv_error(e: csv::Error) -> InputError {
    let line = e.position().map(|p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => InputError::from_io(io),
        other => InputError::new(
            "malformed_csv",
            format!("line {}: {other:?}", line.map(|l| l.to_string()).unwrap_or_else(|| "?".into())),
        ),
    }
}

impl<R: Read> RowSource<R> {
    /// Opens the body; for CSV reads and checks the header (`empty_import`,
    /// `too_many_columns`, `column_duplicate`, `column_missing`).
    pub fn open(body: R, format: Format) -> Result<RowSource<R>, InputError> {
        let decoded = Decoding::new(body, format.charset());
        match format {
            Format::Ndjson => Ok(RowSource::Ndjson { lines: TextLines::new(decoded), row: 0 }),
            Format::Csv(_) => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .buffer_capacity(64 * 1024)
                    .from_reader(CsvGuard::new(decoded));
                let mut header = csv::StringRecord::new();
                if !reader.read_record(&mut header).map_err(csv_error)? {
                    return Err(InputError::new("empty_import", "the body holds no rows"));
                }
                let columns = header_columns(&header)?;
                Ok(RowSource::Csv { reader, columns, record: csv::StringRecord::new(), row: 0 })
            }
        }
    }

    /// The next row, `None` at the end of the body.
    pub fn next_row(&mut self) -> Result<Option<RawRow<'_>>, InputError> {
        match self {
            RowSource::Csv { reader, columns, record, row } => {
                if !reader.read_record(record).map_err(csv_error)? {
                    return Ok(None);
                }
                *row += 1;
                let mut raw = RawRow { row: *row, ..RawRow::default() };
                if record.len() != columns.len() {
                    raw.malformed = Some(format!("{} fields where the header has {}", record.len(), columns.len()));
                    return Ok(Some(raw));
                }
                for (value, column) in record.iter().zip(columns.iter()) {
                    if let Some(column) = column {
                        raw.values[column.index()] = Some(Cow::Borrowed(value));
                    }
                }
                Ok(Some(raw))
            }
            RowSource::Ndjson { lines, row } => {
                let Some(text) = lines.next_line()? else {
                    return Ok(None);
                };
                *row += 1;
                Ok(Some(ndjson_row(*row, &text)))
            }
        }
    }
}

fn header_columns(header: &csv::StringRecord) -> Result<Vec<Option<Column>>, InputError> {
    let names: Vec<&str> = header.iter().collect();
    let required: Vec<Column> = Column::ALL.into_iter().filter(|c| c.required()).collect();
    match map_header(&names, Column::from_header, &required) {
        Ok(mapped) => Ok(mapped.columns),
        Err(HeaderError::TooManyColumns(n)) => Err(InputError::new(
            "too_many_columns",
            format!("the header has {n} columns; at most {MAX_COLUMNS} are read"),
        )),
        Err(HeaderError::Duplicate { column, .. }) => Err(InputError::new(
            "column_duplicate",
            format!("the column {}/{} appears twice", column.english(), column.chinese()),
        )),
        Err(HeaderError::Missing(missing)) => {
            let missing: Vec<String> = missing.iter().map(|c| format!("{}/{}", c.english(), c.chinese())).collect();
            Err(InputError::new("column_missing", format!("missing column: {}", missing.join(", "))))
        }
    }
}

fn ndjson_row(row: u64, text: &str) -> RawRow<'static> {
    let mut raw = RawRow { row, ..RawRow::default() };
    let object = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => object,
        Ok(_) => {
            raw.malformed = Some("not a JSON object".into());
            return raw;
        }
        Err(e) => {
            raw.malformed = Some(format!("not JSON: {e}"));
            return raw;
        }
    };
    for column in Column::ALL {
        raw.values[column.index()] = match object.get(column.english()) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(Cow::Owned(s.clone())),
            Some(other) => Some(Cow::Owned(other.to_string())),
        };
    }
    raw
}

/// A register entry's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Deceased,
    MigratedOut,
    Cancelled,
}

impl Status {
    pub fn parse(input: &str) -> Option<Status> {
        match normalized(input).to_ascii_lowercase().as_str() {
            "active" | "正常" => Some(Status::Active),
            "deceased" | "死亡" => Some(Status::Deceased),
            "migrated_out" | "迁出" | "遷出" => Some(Status::MigratedOut),
            "cancelled" | "注销" | "註銷" => Some(Status::Cancelled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Deceased => "deceased",
            Status::MigratedOut => "migrated_out",
            Status::Cancelled => "cancelled",
        }
    }
}

/// A register row that passed validation.
#[derive(Debug, Clone)]
pub struct ValidRow {
    pub row: u64,
    pub id: CitizenId,
    pub name: PersonName,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub ethnicity: Ethnicity,
    pub address: String,
    pub household_number: Option<String>,
    pub status: Status,
}

/// `YYYY-MM-DD` or `YYYYMMDD`.
pub fn parse_birth_date(input: &str) -> Option<NaiveDate> {
    let text = normalized(input);
    // The register's own form, read without a format string (chrono's parser was a
    // visible share of an import); every other spelling goes through chrono.
    if let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *text.as_bytes() {
        let digits =
            |ds: &[u8]| ds.iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')));
        if let (Some(y), Some(m), Some(d)) = (digits(&[y1, y2, y3, y4]), digits(&[m1, m2]), digits(&[d1, d2])) {
            return i32::try_from(y).ok().and_then(|y| NaiveDate::from_ymd_opt(y, m, d));
        }
    }
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .ok()
        .or_else(|| (text.len() == 8).then(|| NaiveDate::parse_from_str(&text, "%Y%m%d").ok()).flatten())
}

/// Checks a row with the domain types; every field error of the row, not only the first.
pub fn validate(raw: &RawRow, today: NaiveDate) -> Result<ValidRow, Vec<FieldError>> {
    let err = |field: &str, code: &str, message: String| FieldError {
        row: Some(raw.row),
        field: field.into(),
        code: code.into(),
        message,
    };
    if let Some(why) = &raw.malformed {
        return Err(vec![err("row", "row_malformed", why.clone())]);
    }
    let mut errors = Vec::new();
    let id = CitizenId::parse(raw.get(Column::IdNumber), today)
        .map_err(|e| errors.push(err("id_number", e.code(), e.to_string())))
        .ok();
    let name =
        PersonName::parse(raw.get(Column::Name)).map_err(|e| errors.push(err("name", e.code(), e.to_string()))).ok();
    let sex = Sex::parse(raw.get(Column::Sex)).map_err(|e| errors.push(err("sex", e.code(), e.to_string()))).ok();
    let birth_date = parse_birth_date(raw.get(Column::BirthDate));
    if birth_date.is_none() {
        errors.push(err("birth_date", "birth_date_invalid", "a real date as YYYY-MM-DD or YYYYMMDD".into()));
    }
    let ethnicity = Ethnicity::parse(raw.get(Column::Ethnicity))
        .map_err(|e| errors.push(err("ethnicity", e.code(), e.to_string())))
        .ok();
    let address = normalize_text(raw.get(Column::Address));
    if address.is_empty() {
        errors.push(err("address", "address_empty", "the address is empty".into()));
    } else if address.chars().count() > MAX_ADDRESS_CHARS {
        errors.push(err("address", "address_too_long", format!("at most {MAX_ADDRESS_CHARS} characters")));
    }
    let household = normalize_text(raw.get(Column::HouseholdNumber));
    if household.chars().count() > MAX_HOUSEHOLD_CHARS {
        errors.push(err(
            "household_number",
            "household_number_invalid",
            format!("at most {MAX_HOUSEHOLD_CHARS} characters"),
        ));
    }
    let status = Status::parse(raw.get(Column::Status));
    if status.is_none() {
        errors.push(err(
            "status",
            "status_invalid",
            "one of active, deceased, migrated_out, cancelled (正常, 死亡, 迁出, 注销)".into(),
        ));
    }
    match (id, name, sex, birth_date, ethnicity, status) {
        (Some(id), Some(name), Some(sex), Some(birth_date), Some(ethnicity), Some(status)) if errors.is_empty() => {
            Ok(ValidRow {
                row: raw.row,
                id: id.into_id(),
                name: name.into_name(),
                sex,
                birth_date,
                ethnicity,
                address,
                household_number: (!household.is_empty()).then_some(household),
                status,
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use encoding_rs::GB18030;

    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The direct reading of YYYY-MM-DD gives what chrono's format parser gives.
        #[test]
        fn dashed_dates_read_as_chrono_reads_them(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}") {
            prop_assert_eq!(parse_birth_date(&text), NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok());
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn rows(bytes: &[u8], format: Format) -> Result<Vec<RawRow<'static>>, InputError> {
        let mut source = RowSource::open(bytes, format)?;
        let mut out = Vec::new();
        while let Some(row) = source.next_row()? {
            out.push(RawRow {
                row: row.row,
                values: row.values.map(|v| v.map(|v| Cow::Owned(v.into_owned()))),
                malformed: row.malformed,
            });
        }
        Ok(out)
    }

    const HEADER: &str = "身份证号,姓名,性别,出生日期,民族,住址,户号,状态\n";

    #[test]
    fn chinese_headers_and_gb18030() {
        let text = format!("{HEADER}11010519491231002X,王小明,男,1949-12-31,汉族,北京市朝阳区,001,正常\n");
        let (gb, _, _) = GB18030.encode(&text);
        for (bytes, charset) in
            [(text.as_bytes(), Charset::Utf8), (&gb[..], Charset::Gb18030), (&gb[..], Charset::Sniff)]
        {
            let got = rows(bytes, Format::Csv(charset)).unwrap();
            assert_eq!(got.len(), 1);
            let valid = validate(&got[0], today()).unwrap();
            assert_eq!(valid.name.as_str(), "王小明");
            assert_eq!(valid.status, Status::Active);
            assert_eq!(valid.household_number.as_deref(), Some("001"));
        }
    }

    #[test]
    fn header_problems_fail_the_whole_upload() {
        let err = rows(b"", Format::Csv(Charset::Utf8)).unwrap_err();
        assert_eq!(err.code, "empty_import");
        let err = rows("id_number,姓名,sex,birth_date,ethnicity,status\n".as_bytes(), Format::Csv(Charset::Utf8))
            .unwrap_err();
        assert_eq!(err.code, "column_missing");
        assert!(err.message.contains("address/住址"), "{}", err.message);
        let wide: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
        let err = rows(wide.join(",").as_bytes(), Format::Csv(Charset::Utf8)).unwrap_err();
        assert_eq!(err.code, "too_many_columns");
        let err = rows(b"name,name\n", Format::Csv(Charset::Utf8)).unwrap_err();
        assert_eq!(err.code, "column_duplicate");
    }

    #[test]
    fn unclosed_quote_and_bad_bytes_name_their_line() {
        let text = format!("{HEADER}1,a,1,2000-01-01,01,x,,active\n2,\"b,1,2000-01-01,01,x,,active\n3,c\n");
        let err = rows(text.as_bytes(), Format::Csv(Charset::Utf8)).unwrap_err();
        assert_eq!(err.code, "csv_unclosed_quote");
        assert!(err.message.starts_with("line 3:"), "{}", err.message);
        let good = format!("{HEADER}1,a,1,2000-01-01,01,x,,active\n");
        for charset in [Charset::Utf8, Charset::Gb18030, Charset::Sniff] {
            let mut bytes = if charset == Charset::Gb18030 {
                GB18030.encode(&good).0.into_owned()
            } else {
                good.clone().into_bytes()
            };
            bytes.extend_from_slice(&[0xFF, 0xFF, b'\n']);
            let err = rows(&bytes, Format::Csv(charset)).unwrap_err();
            assert_eq!(err.code, "invalid_encoding", "{charset:?}");
            assert!(err.message.starts_with("line 3:"), "{}", err.message);
        }
        // Quoted fields with commas, doubled quotes and line breaks are fine.
        let ok = format!("{HEADER}1,\"a,\"\"b\"\"\nc\",1,2000-01-01,01,x,,active\n");
        assert_eq!(rows(ok.as_bytes(), Format::Csv(Charset::Utf8)).unwrap()[0].get(Column::Name), "a,\"b\"\nc");
    }

    #[test]
    fn ndjson_rows_and_malformed_lines() {
        let body = "{\"id_number\":\"11010519491231002X\",\"name\":\"王小明\",\"sex\":\"1\",\"birth_date\":\"19491231\",\
                    \"ethnicity\":\"01\",\"address\":\"北京\",\"status\":\"active\"}\n\nnot json\n[1]\n";
        let got = rows(body.as_bytes(), Format::Ndjson).unwrap();
        assert_eq!(got.len(), 3);
        assert!(validate(&got[0], today()).is_ok());
        assert_eq!(validate(&got[1], today()).unwrap_err()[0].code, "row_malformed");
        assert_eq!(got[2].row, 3);
        assert_eq!(validate(&got[2], today()).unwrap_err()[0].code, "row_malformed");
    }

    #[test]
    fn every_field_error_of_a_row_is_reported() {
        let text = format!("{HEADER}110105194912310021,王1,9,1949-02-30,火星族,,,alive\n");
        let got = rows(text.as_bytes(), Format::Csv(Charset::Utf8)).unwrap();
        let codes: Vec<String> = validate(&got[0], today()).unwrap_err().into_iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                "id_bad_checksum",
                "name_invalid_chars",
                "sex_invalid",
                "birth_date_invalid",
                "ethnicity_unknown",
                "address_empty",
                "status_invalid"
            ]
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::from_content_type(Some("text/csv")), Ok(Format::Csv(Charset::Sniff)));
        assert_eq!(Format::from_content_type(Some("text/csv; charset=GB18030")), Ok(Format::Csv(Charset::Gb18030)));
        assert_eq!(Format::from_content_type(Some("application/x-ndjson")), Ok(Format::Ndjson));
        assert!(Format::from_content_type(Some("application/json")).is_err());
        assert!(Format::from_content_type(Some("text/csv; charset=latin1")).is_err());
        assert!(Format::from_content_type(None).is_err());
    }

    #[test]
    fn birth_dates_in_both_shapes() {
        assert_eq!(parse_birth_date("1980-01-02"), NaiveDate::from_ymd_opt(1980, 1, 2));
        assert_eq!(parse_birth_date("19800102"), NaiveDate::from_ymd_opt(1980, 1, 2));
        assert_eq!(parse_birth_date("1980-02-30"), None);
        assert_eq!(parse_birth_date("1980/01/02"), None);
        assert_eq!(parse_birth_date("1980-1-2"), NaiveDate::from_ymd_opt(1980, 1, 2), "chrono's reading stays");
        assert_eq!(parse_birth_date("1980-0a-02"), None);
        assert_eq!(parse_birth_date("１９８０-０１-０２"), NaiveDate::from_ymd_opt(1980, 1, 2));
    }
}
