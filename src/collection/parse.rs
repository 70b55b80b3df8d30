//! Reading a part of a batch as a stream of raw records: a JSON array, NDJSON, or CSV
//! (headers in English or Chinese). Each row goes to the caller as soon as it is read;
//! nothing holds the whole part. The body comes in already decoded to UTF-8
//! (`crate::http::charset::Decoding`); CSV goes through `crate::http::csv_input::CsvGuard`.

use std::io::{BufReader, Read};

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;

use crate::domain::record::{REQUIRED, RawRecord, field_for_header};
pub use crate::http::csv_input::MAX_COLUMNS;
use crate::http::csv_input::{CsvGuard, HeaderError, map_header};
use crate::http::input::InputError;
use crate::http::lines::TextLines;

/// The formats a part can come in, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFormat {
    JsonArray,
    Ndjson,
    Csv,
    Xlsx,
}

/// Content-Type of an XLSX workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

impl PartFormat {
    pub fn from_content_type(content_type: &str) -> Option<PartFormat> {
        let mime: mime::Mime = content_type.parse().ok()?;
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("application", "json") => Some(PartFormat::JsonArray),
            ("application", "x-ndjson" | "ndjson" | "jsonl" | "x-jsonlines") => Some(PartFormat::Ndjson),
            ("text", "csv") | ("application", "csv") => Some(PartFormat::Csv),
            ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet") => Some(PartFormat::Xlsx),
            _ => None,
        }
    }
}

/// Most bytes the files inside an XLSX part may unpack to (zip bombs stop here).
pub const MAX_XLSX_UNPACKED: u64 = 1 << 30;

/// A problem with the whole part: nothing of it is kept.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("the part is empty")]
    Empty,
    #[error("required columns are missing: {}", .0.join(", "))]
    ColumnMissing(Vec<String>),
    #[error("{0} columns; a part has at most {MAX_COLUMNS}")]
    TooManyColumns(usize),
    #[error("column {0:?} appears twice")]
    ColumnDuplicate(String),
    #[error("{0}")]
    Malformed(String),
    /// What the reading layers report with their own code: the body broke off or is too
    /// large, undecodable bytes (`invalid_encoding`), a quote never closed
    /// (`csv_unclosed_quote`), a runaway record (`line_too_long`).
    #[error("{0}")]
    Input(InputError),
    #[error("not an XLSX workbook: {0}")]
    NotSpreadsheet(String),
    #[error("the workbook unpacks to more than the {} MiB a part may hold", MAX_XLSX_UNPACKED >> 20)]
    SpreadsheetTooLarge,
    /// The caller stopped the reading (its own error is kept by the caller).
    #[error("stopped")]
    Stopped,
}

impl PartError {
    pub fn code(&self) -> &'static str {
        match self {
            PartError::Empty => "empty_part",
            PartError::ColumnMissing(_) => "column_missing",
            PartError::TooManyColumns(_) => "too_many_columns",
            PartError::ColumnDuplicate(_) => "column_duplicate",
            PartError::Malformed(_) => "malformed_part",
            PartError::Input(e) => e.code,
            PartError::NotSpreadsheet(_) => "not_a_spreadsheet",
            PartError::SpreadsheetTooLarge => "spreadsheet_too_large",
            PartError::Stopped => "stopped",
        }
    }
}

fn io_error(e: std::io::Error) -> PartError {
    PartError::Input(InputError::from_io(e))
}

/// One row as read: the raw record, or why it cannot be read as one.
pub type Row = Result<RawRecord, String>;

/// Receives rows (numbered from 1); returning `false` stops the reading.
pub trait RowSink {
    fn row(&mut self, row_no: u64, row: Row) -> bool;
    /// Columns the part has that we do not know (ignored, reported once).
    fn ignored_columns(&mut self, _columns: Vec<String>) {}
}

/// Reads every row of a part into `sink`.
pub fn read_part<R: Read>(format: PartFormat, body: R, sink: &mut dyn RowSink) -> Result<u64, PartError> {
    match format {
        PartFormat::Csv => read_csv(body, sink),
        PartFormat::Ndjson => read_ndjson(body, sink),
        PartFormat::JsonArray => read_json_array(body, sink),
        PartFormat::Xlsx => Err(PartError::NotSpreadsheet("a workbook is read from a file".into())),
    }
}

/// The record field of each column, from the header row; unknown columns are
/// reported to the sink and ignored.
fn columns_from_header(names: &[&str], sink: &mut dyn RowSink) -> Result<Vec<Option<&'static str>>, PartError> {
    match map_header(names, field_for_header, &REQUIRED) {
        Ok(mapped) => {
            if !mapped.ignored.is_empty() {
                sink.ignored_columns(mapped.ignored);
            }
            Ok(mapped.columns)
        }
        Err(HeaderError::TooManyColumns(n)) => Err(PartError::TooManyColumns(n)),
        Err(HeaderError::Duplicate { name, .. }) => Err(PartError::ColumnDuplicate(name)),
        Err(HeaderError::Missing(missing)) => {
            Err(PartError::ColumnMissing(missing.iter().map(|f| f.to_string()).collect()))
        }
    }
}

fn raw_from_cells<'a>(cells: impl Iterator<Item = &'a str>, columns: &[Option<&'static str>]) -> RawRecord {
    let mut raw = RawRecord::default();
    for (value, field) in cells.zip(columns) {
        if let Some(field) = field {
            raw.set(field, value);
        }
    }
    raw
}

/// A date cell's serial number (days since 1899-12-30, Excel's 1900 system) as a date.
fn excel_date(serial: f64) -> String {
    chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
        .and_then(|epoch| epoch.checked_add_signed(chrono::TimeDelta::days(serial.floor() as i64)))
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// Reads the first worksheet of an XLSX workbook at `path`, a row at a time.
pub fn read_xlsx(path: &std::path::Path, sink: &mut dyn RowSink) -> Result<u64, PartError> {
    use calamine::{DataRef, Reader, Xlsx};
    let open = || std::fs::File::open(path).map_err(io_error);
    // Refuse zip bombs before anything is unpacked: the sizes the archive declares
    // are checked here, and the zip reader stops at the declared size.
    let mut archive = zip::ZipArchive::new(open()?).map_err(|e| PartError::NotSpreadsheet(e.to_string()))?;
    let mut unpacked = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| PartError::NotSpreadsheet(e.to_string()))?;
        unpacked = unpacked.saturating_add(entry.size());
        if unpacked > MAX_XLSX_UNPACKED {
            return Err(PartError::SpreadsheetTooLarge);
        }
    }
    drop(archive);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::BufReader::new(open()?))
        .map_err(|e: calamine::XlsxError| PartError::NotSpreadsheet(e.to_string()))?;
    let sheet = workbook.sheet_names().first().cloned().ok_or(PartError::Empty)?;
    let mut cells = workbook.worksheet_cells_reader(&sheet).map_err(|e| PartError::NotSpreadsheet(e.to_string()))?;
    let text = |value: &DataRef<'_>| -> String {
        match value {
            DataRef::Int(i) => i.to_string(),
            // Whole numbers typed into a numeric cell (phones, codes) without ".0".
            DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            DataRef::Float(f) => f.to_string(),
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
            DataRef::SharedString(s) => s.to_string(),
            DataRef::Bool(b) => b.to_string(),
            DataRef::DateTime(d) => excel_date(d.as_f64()),
            DataRef::Error(_) | DataRef::Empty => String::new(),
        }
    };
    let mut columns: Option<Vec<Option<&'static str>>> = None;
    let mut current: Option<u32> = None;
    let mut row: Vec<String> = Vec::new();
    let mut rows = 0u64;
    let mut emit =
        |row: &mut Vec<String>, columns: &mut Option<Vec<Option<&'static str>>>| -> Result<bool, PartError> {
            let cells = std::mem::take(row);
            match columns {
                None => {
                    let names: Vec<&str> = cells.iter().map(String::as_str).collect();
                    *columns = Some(columns_from_header(&names, sink)?);
                    Ok(true)
                }
                Some(cols) => {
                    if cells.iter().all(|c| c.trim().is_empty()) {
                        return Ok(true);
                    }
                    rows += 1;
                    Ok(sink.row(rows, Ok(raw_from_cells(cells.iter().map(String::as_str), cols))))
                }
            }
        };
    loop {
        let cell = cells.next_cell().map_err(|e| PartError::Malformed(format!("XLSX: {e}")))?;
        let Some(cell) = cell else { break };
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if current.is_some() && !emit(&mut row, &mut columns)? {
                return Err(PartError::Stopped);
            }
            current = Some(r);
        }
        let c = c as usize;
        if c >= MAX_COLUMNS * 4 {
            return Err(PartError::TooManyColumns(c + 1));
        }
        if row.len() <= c {
            row.resize(c + 1, String::new());
        }
        row[c] = text(cell.get_value());
    }
    if current.is_some() && !emit(&mut row, &mut columns)? {
        return Err(PartError::Stopped);
    }
    if rows == 0 {
        return Err(PartError::Empty);
    }
    Ok(rows)
}

/// A JSON object's fields as a raw record: strings as they are, numbers as their text
/// (an ID typed as a number loses nothing when it has no X), null as absent.
fn record_from_json(value: Value) -> Row {
    let Value::Object(map) = value else {
        return Err("each record must be a JSON object".into());
    };
    let mut raw = RawRecord::default();
    for (key, value) in map {
        let Some(field) = field_for_header(&key) else { continue };
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Null => continue,
            other => return Err(format!("field {key} must be a string, not {other}")),
        };
        raw.set(field, text);
    }
    Ok(raw)
}

fn read_ndjson<R: Read>(body: R, sink: &mut dyn RowSink) -> Result<u64, PartError> {
    let mut lines = TextLines::new(body);
    let mut rows = 0u64;
    while let Some(line) = lines.next_line().map_err(PartError::Input)? {
        rows += 1;
        let row = serde_json::from_str::<Value>(&line)
            .map_err(|e| format!("not a JSON object: {e}"))
            .and_then(record_from_json);
        if !sink.row(rows, row) {
            return Err(PartError::Stopped);
        }
    }
    if rows == 0 {
        return Err(PartError::Empty);
    }
    Ok(rows)
}

fn read_json_array<R: Read>(body: R, sink: &mut dyn RowSink) -> Result<u64, PartError> {
    struct Rows<'a> {
        sink: &'a mut dyn RowSink,
        count: u64,
        stopped: bool,
    }
    impl<'de> Visitor<'de> for &mut Rows<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(value) = seq.next_element::<Value>()? {
                self.count += 1;
                if !self.sink.row(self.count, record_from_json(value)) {
                    self.stopped = true;
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for &mut Rows<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    let mut rows = Rows { sink, count: 0, stopped: false };
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, body));
    let result = (&mut rows).deserialize(&mut de).and_then(|_| de.end());
    match result {
        Ok(()) if rows.count == 0 => Err(PartError::Empty),
        Ok(()) => Ok(rows.count),
        Err(_) if rows.stopped => Err(PartError::Stopped),
        Err(e) if e.is_io() => Err(io_error(e.into())),
        Err(e) if e.is_eof() && rows.count == 0 && e.line() == 1 && e.column() == 0 => Err(PartError::Empty),
        Err(e) => Err(PartError::Malformed(format!("JSON: {e}"))),
    }
}

fn read_csv<R: Read>(body: R, sink: &mut dyn RowSink) -> Result<u64, PartError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(CsvGuard::new(body));
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(PartError::Empty),
        Some(Err(e)) => return Err(csv_error(e)),
        Some(Ok(h)) => h,
    };
    let names: Vec<&str> = header.iter().collect();
    let columns = columns_from_header(&names, sink)?;
    let mut rows = 0u64;
    for record in records {
        let record = record.map_err(csv_error)?;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        rows += 1;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let row = if record.len() != columns.len() {
            Err(format!("line {line}: {} fields, the header has {}", record.len(), columns.len()))
        } else {
            Ok(raw_from_cells(record.iter(), &columns))
        };
        if !sink.row(rows, row) {
            return Err(PartError::Stopped);
        }
    }
    if rows == 0 {
        return Err(PartError::Empty);
    }
    Ok(rows)
}

fn csv_error(e: csv::Error) -> PartError {
    let line = e.position().map(|p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io_error(io),
        csv::ErrorKind::Utf8 { .. } => PartError::Input(InputError::new(
            "invalid_encoding",
            format!("line {}: not valid UTF-8 or GB18030", line.unwrap_or(0)),
        )),
        other => PartError::Malformed(format!("CSV line {}: {other:?}", line.unwrap_or(0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        rows: Vec<(u64, Row)>,
        ignored: Vec<String>,
    }
    impl RowSink for Collect {
        fn row(&mut self, row_no: u64, row: Row) -> bool {
            self.rows.push((row_no, row));
            true
        }
        fn ignored_columns(&mut self, columns: Vec<String>) {
            self.ignored = columns;
        }
    }

    fn read(format: PartFormat, text: &str) -> (Result<u64, PartError>, Collect) {
        let mut sink = Collect::default();
        let result = read_part(format, text.as_bytes(), &mut sink);
        (result, sink)
    }

    const HEADER: &str = "姓名,性别,民族,身份证号,住址,新农合证号,联系电话,村,序号\n";

    #[test]
    fn csv_with_chinese_headers_reads_rows_and_ignores_unknown_columns() {
        let (n, sink) = read(PartFormat::Csv, &format!("\u{feff}{HEADER}王小明,男,汉族,1,前进村1号,N1,,前进村,1\n\n"));
        assert_eq!(n.unwrap(), 1);
        assert_eq!(sink.ignored, vec!["序号"]);
        let raw = sink.rows[0].1.as_ref().unwrap();
        assert_eq!(raw.get("name"), "王小明");
        assert_eq!(raw.get("village"), "前进村");
    }

    #[test]
    fn csv_part_problems_have_precise_codes() {
        assert_eq!(read(PartFormat::Csv, "").0.unwrap_err().code(), "empty_part");
        assert_eq!(read(PartFormat::Csv, HEADER).0.unwrap_err().code(), "empty_part");
        assert_eq!(read(PartFormat::Csv, "name,sex\nx,1\n").0.unwrap_err().code(), "column_missing");
        let wide = (0..10_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
        assert_eq!(read(PartFormat::Csv, &wide).0.unwrap_err().code(), "too_many_columns");
        assert_eq!(read(PartFormat::Csv, "name,姓名\n").0.unwrap_err().code(), "column_duplicate");
        let unclosed = format!("{HEADER}王小明,男,汉族,\"1,a,N1,,前进村,1\n李四,女,汉族,2,b,N2,,前进村,2\n");
        let err = read(PartFormat::Csv, &unclosed).0.unwrap_err();
        assert_eq!(err.code(), "csv_unclosed_quote");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn a_short_csv_row_is_a_row_error_not_a_part_error() {
        let (n, sink) = read(PartFormat::Csv, &format!("{HEADER}王小明,男\n李四,女,汉族,2,b,N2,,前进村,2\n"));
        assert_eq!(n.unwrap(), 2);
        assert!(sink.rows[0].1.is_err());
        assert!(sink.rows[1].1.is_ok());
    }

    #[test]
    fn ndjson_and_json_arrays_read_objects() {
        let (n, sink) = read(PartFormat::Ndjson, "{\"name\":\"王小明\",\"id_number\":210804}\n\n[1]\n");
        assert_eq!(n.unwrap(), 2);
        assert_eq!(sink.rows[0].1.as_ref().unwrap().get("id_number"), "210804");
        assert!(sink.rows[1].1.is_err());
        let (n, sink) = read(PartFormat::JsonArray, "[{\"姓名\":\"王小明\"}, {\"name\": null}]");
        assert_eq!(n.unwrap(), 2);
        assert_eq!(sink.rows[0].1.as_ref().unwrap().get("name"), "王小明");
        assert_eq!(read(PartFormat::JsonArray, "[]").0.unwrap_err().code(), "empty_part");
        assert_eq!(read(PartFormat::JsonArray, "").0.unwrap_err().code(), "empty_part");
        assert_eq!(read(PartFormat::JsonArray, "[{\"name\":").0.unwrap_err().code(), "malformed_part");
        assert_eq!(read(PartFormat::JsonArray, "{}").0.unwrap_err().code(), "malformed_part");
    }

    #[test]
    fn content_types_choose_the_format() {
        assert_eq!(PartFormat::from_content_type("text/csv; charset=gb18030"), Some(PartFormat::Csv));
        assert_eq!(PartFormat::from_content_type("application/x-ndjson"), Some(PartFormat::Ndjson));
        assert_eq!(PartFormat::from_content_type("application/json"), Some(PartFormat::JsonArray));
        assert_eq!(PartFormat::from_content_type("text/plain"), None);
    }
}
