//! Reading a clinic's detail rows (3202) from a streamed body, one row at a time: CSV
//! (UTF-8 or GB18030, English or Chinese header) or a JSON array of objects, never
//! holding the body whole.
//!
//! The CSV layers are those every upload shares (`crate::http`: [`Decoding`] ->
//! [`CsvGuard`] -> the `csv` crate); a JSON array is read element by element by a
//! serde visitor over a buffered reader. Each row reaches the caller parsed
//! ([`DetailRow`]) or with its problems as row errors, numbered from 1 (the CSV header
//! is not a row); a failure of the whole body is an [`InputError`] with a stable code.

use std::borrow::Cow;
use std::fmt;
use std::io::{BufReader, Read};

use serde::de::{self, Deserializer as _, SeqAccess, Visitor};

use crate::domain::reconciliation::{DetailRow, DetailRowDraft};
use crate::http::FieldError;
use crate::http::charset::{self, Charset, Decoding};
use crate::http::csv_input::{CsvGuard, HeaderError, MAX_COLUMNS, map_header};
use crate::http::input::InputError;

/// Buffer between the body and the parsers.
const BUFFER_BYTES: usize = 64 * 1024;

/// What the body holds, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv(Charset),
    Json,
}

impl Format {
    /// `text/csv` (charset `utf-8`, `gb18030`, `gbk`, `gb2312` or none) or
    /// `application/json` (UTF-8). `Err` says what is refused.
    pub fn from_content_type(value: Option<&str>) -> Result<Format, String> {
        let expected = "expected Content-Type text/csv (charset utf-8 or gb18030) or application/json";
        let mime: mime::Mime = value.and_then(|v| v.parse().ok()).ok_or_else(|| expected.to_string())?;
        let charset = charset::of_mime(&mime);
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("text", "csv") => charset
                .map(Format::Csv)
                .map_err(|other| format!("charset {other} is not supported: use utf-8 or gb18030")),
            ("application", "json") => match charset {
                Ok(Charset::Utf8 | Charset::Sniff) => Ok(Format::Json),
                _ => Err("JSON is UTF-8".to_string()),
            },
            _ => Err(expected.to_string()),
        }
    }
}

/// A row as the caller gets it: parsed, or its problems.
pub type RowOutcome = Result<DetailRow, Vec<FieldError>>;

/// The caller asked to stop reading (it has what it needs, or cannot go on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop;

/// Why reading ended before the end of the body.
#[derive(Debug)]
pub enum ReadFailure {
    /// The body as a whole cannot be read.
    Input(InputError),
    /// The caller stopped it.
    Stopped,
}

/// The members of a detail row, in the platform's order, with their Chinese names.
const COLUMNS: [(&str, &str); 6] = [
    ("setl_id", "结算ID"),
    ("mdtrt_id", "就诊ID"),
    ("psn_no", "人员编号"),
    ("medfee_sumamt", "医疗费总额"),
    ("fund_pay_sumamt", "基金支付总额"),
    ("refd_setl_flag", "退费结算标志"),
];

fn column_of(name: &str) -> Option<usize> {
    let name = name.trim();
    COLUMNS.iter().position(|(en, zh)| en.eq_ignore_ascii_case(name) || *zh == name)
}

fn draft<'a>(values: &'a [Option<Cow<'a, str>>; 6]) -> DetailRowDraft<'a> {
    let [setl_id, mdtrt_id, psn_no, medfee_sumamt, fund_pay_sumamt, refd_setl_flag] =
        values.each_ref().map(|v| v.as_deref());
    DetailRowDraft { setl_id, mdtrt_id, psn_no, medfee_sumamt, fund_pay_sumamt, refd_setl_flag }
}

fn outcome(row: u64, values: &[Option<Cow<'_, str>>; 6]) -> RowOutcome {
    DetailRow::parse(draft(values)).map_err(|errors| {
        errors.into_iter().map(|e| FieldError::at_row(row, e.field, e.code.code(), e.message)).collect()
    })
}

fn malformed(row: u64, message: impl Into<String>) -> RowOutcome {
    Err(vec![FieldError::at_row(row, "row", "row_malformed", message)])
}

/// Reads every row of `body` and hands each to `on_row` with its number.
pub fn read_rows<R: Read>(
    body: R,
    format: Format,
    on_row: &mut dyn FnMut(u64, RowOutcome) -> Result<(), Stop>,
) -> Result<(), ReadFailure> {
    match format {
        Format::Csv(charset) => read_csv(body, charset, on_row),
        Format::Json => read_json(body, on_row),
    }
}

fn csv_error(e: csv::Error) -> InputError {
    let line = e.position().map_or_else(|| "?".to_string(), |p| p.line().to_string());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => InputError::from_io(io),
        other => InputError::new("malformed_csv", format!("line {line}: {other:?}")),
    }
}

fn header_columns(header: &csv::StringRecord) -> Result<Vec<Option<usize>>, InputError> {
    let names: Vec<&str> = header.iter().collect();
    let all: Vec<usize> = (0..COLUMNS.len()).collect();
    let named = |i: usize| COLUMNS.get(i).map_or_else(String::new, |(en, zh)| format!("{en}/{zh}"));
    match map_header(&names, column_of, &all) {
        Ok(mapped) => Ok(mapped.columns),
        Err(HeaderError::TooManyColumns(n)) => Err(InputError::new(
            "too_many_columns",
            format!("the header has {n} columns; at most {MAX_COLUMNS} are read"),
        )),
        Err(HeaderError::Duplicate { column, .. }) => {
            Err(InputError::new("column_duplicate", format!("the column {} appears twice", named(column))))
        }
        Err(HeaderError::Missing(missing)) => {
            let missing: Vec<String> = missing.into_iter().map(named).collect();
            Err(InputError::new("column_missing", format!("missing column: {}", missing.join(", "))))
        }
    }
}

fn read_csv<R: Read>(
    body: R,
    charset: Charset,
    on_row: &mut dyn FnMut(u64, RowOutcome) -> Result<(), Stop>,
) -> Result<(), ReadFailure> {
    let input = |e: InputError| ReadFailure::Input(e);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(BUFFER_BYTES)
        .from_reader(CsvGuard::new(Decoding::new(body, charset)));
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record).map_err(|e| input(csv_error(e)))? {
        return Err(input(InputError::new("empty_upload", "the body holds no header row")));
    }
    let columns = header_columns(&record).map_err(input)?;
    let mut row = 0u64;
    while reader.read_record(&mut record).map_err(|e| input(csv_error(e)))? {
        row += 1;
        let result = if record.len() != columns.len() {
            malformed(row, format!("{} fields where the header has {}", record.len(), columns.len()))
        } else {
            let mut values: [Option<Cow<'_, str>>; 6] = Default::default();
            for (value, column) in record.iter().zip(&columns) {
                if let Some(slot) = column.and_then(|c| values.get_mut(c)) {
                    *slot = Some(Cow::Borrowed(value));
                }
            }
            outcome(row, &values)
        };
        on_row(row, result).map_err(|Stop| ReadFailure::Stopped)?;
    }
    Ok(())
}

/// A JSON member as the text the row parser reads: a string as it is, a number as
/// written; `null` is absent; anything else as its JSON text, which no member accepts.
fn member_text(value: serde_json::Value) -> Option<Cow<'static, str>> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(Cow::Owned(s)),
        other => Some(Cow::Owned(other.to_string())),
    }
}

fn json_row(row: u64, value: serde_json::Value) -> RowOutcome {
    let serde_json::Value::Object(object) = value else {
        return malformed(row, "not a JSON object");
    };
    let mut values: [Option<Cow<'static, str>>; 6] = Default::default();
    let mut unknown = Vec::new();
    for (name, value) in object {
        match COLUMNS.iter().position(|(en, _)| *en == name).and_then(|c| values.get_mut(c)) {
            Some(slot) => *slot = member_text(value),
            None => unknown.push(FieldError::at_row(row, &name, "field_unknown", "not a member of a detail row")),
        }
    }
    match outcome(row, &values) {
        Ok(parsed) if unknown.is_empty() => Ok(parsed),
        Ok(_) => Err(unknown),
        Err(mut errors) => {
            errors.extend(unknown);
            Err(errors)
        }
    }
}

/// Hands the elements of a JSON array to the caller as they are read.
struct Elements<'f> {
    on_row: &'f mut dyn FnMut(u64, RowOutcome) -> Result<(), Stop>,
    stopped: &'f mut bool,
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of detail rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut row = 0u64;
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            row += 1;
            if (self.on_row)(row, json_row(row, value)).is_err() {
                *self.stopped = true;
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

fn read_json<R: Read>(body: R, on_row: &mut dyn FnMut(u64, RowOutcome) -> Result<(), Stop>) -> Result<(), ReadFailure> {
    let mut stopped = false;
    let mut json = serde_json::Deserializer::from_reader(BufReader::with_capacity(BUFFER_BYTES, body));
    let read = json.deserialize_seq(Elements { on_row, stopped: &mut stopped }).and_then(|()| json.end());
    match read {
        Ok(()) => Ok(()),
        Err(_) if stopped => Err(ReadFailure::Stopped),
        Err(e) if e.is_io() => Err(ReadFailure::Input(InputError::from_io(std::io::Error::from(e)))),
        Err(e) if e.is_data() => Err(ReadFailure::Input(InputError::new("invalid_body", format!("request body: {e}")))),
        Err(e) => Err(ReadFailure::Input(InputError::new("malformed_json", format!("request body: {e}")))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const SETL: &str = "019a9a10-3b4c-7d5e-8f60-718293a4b5c6";

    fn rows(body: &str, format: Format) -> Result<Vec<(u64, RowOutcome)>, ReadFailure> {
        let mut out = Vec::new();
        read_rows(body.as_bytes(), format, &mut |n, r| {
            out.push((n, r));
            Ok(())
        })?;
        Ok(out)
    }

    fn codes(outcome: &RowOutcome) -> Vec<(String, String)> {
        match outcome {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| (e.field.clone(), e.code.clone())).collect(),
        }
    }

    fn failure(r: Result<Vec<(u64, RowOutcome)>, ReadFailure>) -> &'static str {
        match r {
            Err(ReadFailure::Input(e)) => e.code,
            Err(ReadFailure::Stopped) => "stopped",
            Ok(_) => "ok",
        }
    }

    #[test]
    fn csv_rows_are_read_by_english_or_chinese_header_in_any_order() {
        let body = format!(
            "\u{feff}refd_setl_flag,setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,note\n0,{SETL},m1,p1,100,40,x\n\
             1,bad,m2,p2,100,40,y\n1,2\n"
        );
        let got = rows(&body, Format::Csv(Charset::Utf8)).unwrap();
        assert_eq!(got.len(), 3);
        let first = got[0].1.as_ref().unwrap();
        assert_eq!((first.setl_id.as_str(), first.medfee_sumamt.get(), first.cancelled), (SETL, 100, false));
        assert_eq!(codes(&got[1].1), [("setl_id".to_string(), "setl_id_invalid".to_string())]);
        assert_eq!(got[1].1.as_ref().unwrap_err()[0].row, Some(2));
        assert_eq!(codes(&got[2].1), [("row".to_string(), "row_malformed".to_string())]);
        let chinese = format!("结算ID,就诊ID,人员编号,医疗费总额,基金支付总额,退费结算标志\n{SETL},m,p,1,0,1\n");
        assert!(rows(&chinese, Format::Csv(Charset::Sniff)).unwrap()[0].1.as_ref().unwrap().cancelled);
    }

    #[test]
    fn a_csv_without_a_usable_header_fails_whole() {
        assert_eq!(failure(rows("", Format::Csv(Charset::Utf8))), "empty_upload");
        assert_eq!(failure(rows("setl_id,mdtrt_id\n", Format::Csv(Charset::Utf8))), "column_missing");
        let twice = "setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,refd_setl_flag,结算ID\n";
        assert_eq!(failure(rows(twice, Format::Csv(Charset::Utf8))), "column_duplicate");
        let open = "setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,refd_setl_flag\n\"x,1,2\n";
        assert_eq!(failure(rows(open, Format::Csv(Charset::Utf8))), "csv_unclosed_quote");
    }

    #[test]
    fn json_rows_are_read_one_by_one_with_their_problems() {
        let body = format!(
            r#"[{{"setl_id":"{SETL}","mdtrt_id":"m","psn_no":"p","medfee_sumamt":100,"fund_pay_sumamt":"40","refd_setl_flag":"1"}},
               {{"setl_id":"{SETL}","mdtrt_id":"m","psn_no":"p","medfee_sumamt":1.5,"fund_pay_sumamt":40,"refd_setl_flag":true,"extra":1}},
               7, {{}}]"#
        );
        let got = rows(&body, Format::Json).unwrap();
        let first = got[0].1.as_ref().unwrap();
        assert_eq!((first.fund_pay_sumamt.get(), first.cancelled), (40, true));
        assert_eq!(
            codes(&got[1].1),
            [
                ("medfee_sumamt".to_string(), "amount_invalid".to_string()),
                ("refd_setl_flag".to_string(), "refd_setl_flag_invalid".to_string()),
                ("extra".to_string(), "field_unknown".to_string()),
            ]
        );
        assert_eq!(codes(&got[2].1), [("row".to_string(), "row_malformed".to_string())]);
        assert_eq!(codes(&got[3].1).len(), 6, "every member missing");
        assert_eq!(rows("[]", Format::Json).unwrap().len(), 0);
        assert_eq!(failure(rows("{\"rows\":[]}", Format::Json)), "invalid_body");
        assert_eq!(failure(rows("[{\"setl_id\":", Format::Json)), "malformed_json");
        assert_eq!(failure(rows("[] []", Format::Json)), "malformed_json");
    }

    #[test]
    fn the_caller_may_stop_reading() {
        let body = format!("[{}]", ["{}"; 5].join(","));
        let mut seen = 0;
        let r = read_rows(body.as_bytes(), Format::Json, &mut |_, _| {
            seen += 1;
            if seen == 2 { Err(Stop) } else { Ok(()) }
        });
        assert!(matches!(r, Err(ReadFailure::Stopped)));
        assert_eq!(seen, 2);
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::from_content_type(Some("text/csv; charset=GB18030")), Ok(Format::Csv(Charset::Gb18030)));
        assert_eq!(Format::from_content_type(Some("application/json")), Ok(Format::Json));
        assert!(Format::from_content_type(Some("application/json; charset=latin1")).is_err());
        assert!(Format::from_content_type(Some("text/plain")).is_err());
        assert!(Format::from_content_type(None).is_err());
    }
}
