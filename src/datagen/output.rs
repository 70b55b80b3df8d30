//! Writing the generator's events: the batch (CSV in UTF-8 or GB 18030,
//! NDJSON, or one JSON array), the register (UTF-8 CSV) and the defects
//! sidecar, each streamed row by row, and the run's summary.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use serde::Serialize;

use crate::datagen::defects::DefectKind;
use crate::datagen::{BatchRecord, Event, Generator, Options, RegisterEntry};

/// Batch file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// CSV in UTF-8.
    Csv,
    /// CSV in GB 18030 (what Excel on a Chinese Windows writes).
    CsvGb18030,
    /// One JSON object per line.
    Ndjson,
    /// One JSON array of objects.
    Json,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(Format::Csv),
            "csv-gb18030" => Ok(Format::CsvGb18030),
            "ndjson" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format {other:?}: use csv, csv-gb18030, ndjson or json")),
        }
    }
}

/// How the batch is written.
#[derive(Debug, Clone, Copy)]
pub struct OutputOptions {
    /// The batch format.
    pub format: Format,
    /// CSV header in Chinese (姓名,性别,...) instead of English.
    pub chinese_headers: bool,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions { format: Format::Csv, chinese_headers: false }
    }
}

/// Errors of a generator run.
#[derive(Debug, thiserror::Error)]
pub enum DatagenError {
    /// Writing or creating a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing to a stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Serialising a JSON row failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The options make no sense.
    #[error("{0}")]
    Invalid(String),
}

/// What a run produced (printed as one JSON line by the binary).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// The batch format.
    pub format: Format,
    /// Batch rows written.
    pub rows: u64,
    /// Rows with a deliberate defect.
    pub defect_rows: u64,
    /// Rows per defect kind (every kind listed, also with 0).
    pub defects: BTreeMap<&'static str, u64>,
    /// Register rows written (0 without a register file).
    pub register_rows: u64,
    /// Bytes of the batch file.
    pub bytes: u64,
    /// Bytes of the register file.
    pub register_bytes: u64,
    /// Bytes of the defects sidecar.
    pub defects_bytes: u64,
    /// Wall-clock time of the run in milliseconds.
    pub elapsed_ms: u64,
}

/// English CSV header of the batch.
pub const BATCH_HEADER: [&str; 10] = crate::domain::record::FIELDS;
/// Chinese CSV header of the batch.
pub const BATCH_HEADER_ZH: [&str; 10] =
    ["姓名", "性别", "民族", "身份证号", "住址", "新农合证号", "联系电话", "县", "村", "户号"];
/// CSV header of the register.
pub const REGISTER_HEADER: [&str; 8] =
    ["id_number", "name", "sex", "birth_date", "ethnicity", "address", "household_number", "status"];
/// CSV header of the defects sidecar.
pub const DEFECTS_HEADER: [&str; 5] = ["row", "kind", "expected_outcome", "expected_code", "detail"];

/// A writer that counts the bytes passed through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Appends one CSV line (quoted where needed, `\n` line end) to `line`.
fn csv_line<'a>(line: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push('\n');
}

fn batch_fields(r: &BatchRecord) -> [&str; 10] {
    [
        &r.name,
        &r.sex,
        &r.ethnicity,
        &r.id_number,
        &r.address,
        &r.ncms_number,
        &r.phone,
        &r.county_code,
        &r.village,
        &r.household_number,
    ]
}

fn register_fields(r: &RegisterEntry) -> [&str; 8] {
    [&r.id_number, &r.name, r.sex, &r.birth_date, r.ethnicity, &r.address, &r.household_number, r.status]
}

/// Streams the batch in its format.
struct BatchWriter<W: Write> {
    out: Counting<W>,
    options: OutputOptions,
    line: String,
    rows: u64,
}

impl<W: Write> BatchWriter<W> {
    fn new(inner: W, options: OutputOptions) -> Self {
        BatchWriter { out: Counting { inner, bytes: 0 }, options, line: String::with_capacity(512), rows: 0 }
    }

    fn begin(&mut self) -> Result<(), DatagenError> {
        match self.options.format {
            Format::Csv | Format::CsvGb18030 => {
                let header = if self.options.chinese_headers { BATCH_HEADER_ZH } else { BATCH_HEADER };
                self.line.clear();
                csv_line(&mut self.line, header);
                self.emit_line()
            }
            Format::Json => Ok(self.out.write_all(b"[")?),
            Format::Ndjson => Ok(()),
        }
    }

    fn row(&mut self, record: &BatchRecord) -> Result<(), DatagenError> {
        self.line.clear();
        match self.options.format {
            Format::Csv | Format::CsvGb18030 => {
                csv_line(&mut self.line, batch_fields(record));
                self.emit_line()?;
            }
            Format::Ndjson => {
                serde_json::to_writer(&mut self.out, record)?;
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                self.out.write_all(if self.rows == 0 { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut self.out, record)?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn emit_line(&mut self) -> Result<(), DatagenError> {
        if self.options.format == Format::CsvGb18030 {
            // GB 18030 maps all of Unicode, so the encoder never substitutes.
            let (bytes, _, _) = encoding_rs::GB18030.encode(&self.line);
            self.out.write_all(&bytes)?;
        } else {
            self.out.write_all(self.line.as_bytes())?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<u64, DatagenError> {
        if self.options.format == Format::Json {
            self.out.write_all(b"\n]\n")?;
        }
        self.out.flush()?;
        Ok(self.out.bytes)
    }
}

/// Streams CSV rows (register, sidecar).
struct CsvWriter<W: Write> {
    out: Counting<W>,
    line: String,
}

impl<W: Write> CsvWriter<W> {
    fn new<'a>(inner: W, header: impl IntoIterator<Item = &'a str>) -> Result<Self, DatagenError> {
        let mut writer = CsvWriter { out: Counting { inner, bytes: 0 }, line: String::with_capacity(256) };
        writer.row(header)?;
        Ok(writer)
    }

    fn row<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> Result<(), DatagenError> {
        self.line.clear();
        csv_line(&mut self.line, fields);
        self.out.write_all(self.line.as_bytes())?;
        Ok(())
    }

    fn finish(mut self) -> Result<u64, DatagenError> {
        self.out.flush()?;
        Ok(self.out.bytes)
    }
}

/// Runs the generator into writers: the batch, the register (if wanted: then
/// also the `register_extra` people) and the defects sidecar.
pub fn generate<B: Write, R: Write, D: Write>(
    options: &Options,
    output: OutputOptions,
    batch: B,
    register: Option<R>,
    defects: D,
) -> Result<Summary, DatagenError> {
    if !(0.0..=1.0).contains(&options.defect_rate) {
        return Err(DatagenError::Invalid(format!(
            "--defect-rate must be between 0 and 1, not {}",
            options.defect_rate
        )));
    }
    let started = Instant::now();
    let mut options = options.clone();
    if register.is_none() {
        options.register_extra = 0;
    }
    let mut batch = BatchWriter::new(batch, output);
    batch.begin()?;
    let mut register = register.map(|r| CsvWriter::new(r, REGISTER_HEADER)).transpose()?;
    let mut sidecar = CsvWriter::new(defects, DEFECTS_HEADER)?;
    let mut counts: BTreeMap<&'static str, u64> = DefectKind::ALL.iter().map(|k| (k.name(), 0)).collect();
    let mut defect_rows = 0;
    let mut register_rows = 0;
    let mut row_text = String::new();

    for event in Generator::new(options.clone()) {
        let entry = match event {
            Event::Batch { row, record, register, defect } => {
                batch.row(&record)?;
                if let Some(defect) = defect {
                    defect_rows += 1;
                    if let Some(n) = counts.get_mut(defect.kind.name()) {
                        *n += 1;
                    }
                    row_text.clear();
                    row_text.push_str(&row.to_string());
                    let outcome = defect.kind.expected_outcome().code();
                    let code = defect.kind.expected_code();
                    sidecar.row([row_text.as_str(), defect.kind.name(), outcome, code, defect.detail.as_str()])?;
                }
                register
            }
            Event::Register(entry) => Some(entry),
        };
        if let (Some(writer), Some(entry)) = (register.as_mut(), entry) {
            writer.row(register_fields(&entry))?;
            register_rows += 1;
        }
    }

    let rows = batch.rows;
    let bytes = batch.finish()?;
    let register_bytes = register.map(CsvWriter::finish).transpose()?.unwrap_or(0);
    let defects_bytes = sidecar.finish()?;
    Ok(Summary {
        seed: options.seed,
        format: output.format,
        rows,
        defect_rows,
        defects: counts,
        register_rows,
        bytes,
        register_bytes,
        defects_bytes,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// The sidecar's path: the batch file's name with `.defects.csv` appended.
pub fn defects_path(batch: &Path) -> PathBuf {
    let mut name = batch.as_os_str().to_owned();
    name.push(".defects.csv");
    PathBuf::from(name)
}

fn create(path: &Path) -> Result<BufWriter<File>, DatagenError> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|source| DatagenError::File { path: path.to_owned(), source })
}

/// Runs the generator into files: `batch`, `batch.defects.csv` and, if
/// given, the register.
pub fn generate_files(
    options: &Options,
    output: OutputOptions,
    batch: &Path,
    register: Option<&Path>,
) -> Result<Summary, DatagenError> {
    let batch_file = create(batch)?;
    let register_file = register.map(create).transpose()?;
    let defects_file = create(&defects_path(batch))?;
    generate(options, output, batch_file, register_file, defects_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CitizenId, Ethnicity, PersonName, PhoneNumber, Sex};
    use chrono::NaiveDate;
    use std::collections::{HashMap, HashSet};

    struct Run {
        batch: Vec<u8>,
        register: Vec<u8>,
        defects: Vec<u8>,
        summary: Summary,
    }

    fn run(records: u64, seed: u64, rate: f64, extra: u64, format: Format) -> Run {
        let options = Options { records, seed, defect_rate: rate, register_extra: extra, year: 2024 };
        let output = OutputOptions { format, chinese_headers: false };
        let (mut batch, mut register, mut defects) = (Vec::new(), Vec::new(), Vec::new());
        let summary = generate(&options, output, &mut batch, Some(&mut register), &mut defects).unwrap();
        Run { batch, register, defects, summary }
    }

    fn lines(bytes: &[u8]) -> Vec<Vec<String>> {
        std::str::from_utf8(bytes).unwrap().lines().skip(1).map(|l| l.split(',').map(str::to_owned).collect()).collect()
    }

    #[test]
    fn same_seed_same_bytes_and_different_seeds_differ() {
        let a = run(2_000, 7, 0.05, 500, Format::Csv);
        let b = run(2_000, 7, 0.05, 500, Format::Csv);
        let c = run(2_000, 8, 0.05, 500, Format::Csv);
        assert_eq!(a.batch, b.batch);
        assert_eq!(a.register, b.register);
        assert_eq!(a.defects, b.defects);
        assert_ne!(a.batch, c.batch);
        assert_ne!(a.register, c.register);
        // The batch does not depend on whether a register is written.
        let options = Options { records: 2_000, seed: 7, defect_rate: 0.05, register_extra: 500, year: 2024 };
        let mut alone = Vec::new();
        generate(&options, OutputOptions::default(), &mut alone, None::<Vec<u8>>, Vec::new()).unwrap();
        assert_eq!(alone, a.batch);
    }

    #[test]
    fn counts_match_the_files() {
        let r = run(3_000, 1, 0.1, 1_000, Format::Csv);
        assert_eq!(r.summary.rows, 3_000);
        assert_eq!(lines(&r.batch).len(), 3_000);
        assert_eq!(r.summary.bytes, r.batch.len() as u64);
        assert_eq!(r.summary.register_bytes, r.register.len() as u64);
        assert_eq!(r.summary.defects_bytes, r.defects.len() as u64);
        assert_eq!(lines(&r.defects).len() as u64, r.summary.defect_rows);
        assert_eq!(r.summary.defects.values().sum::<u64>(), r.summary.defect_rows);
        let missing = r.summary.defects["not_in_register"] + r.summary.defects["duplicate_in_batch"];
        assert_eq!(r.summary.register_rows, 3_000 - missing + 1_000);
        assert_eq!(lines(&r.register).len() as u64, r.summary.register_rows);
        let json: serde_json::Value = serde_json::to_value(&r.summary).unwrap();
        assert_eq!(json["defects"].as_object().unwrap().len(), DefectKind::ALL.len());
    }

    #[test]
    fn clean_rows_parse_and_match_the_register() {
        let r = run(5_000, 3, 0.05, 2_000, Format::Csv);
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let defect_rows: HashMap<u64, String> =
            lines(&r.defects).into_iter().map(|f| (f[0].parse().unwrap(), f[1].clone())).collect();
        let register: HashMap<String, Vec<String>> =
            lines(&r.register).into_iter().map(|f| (f[0].clone(), f)).collect();
        assert_eq!(register.len() as u64, r.summary.register_rows, "register IDs are unique");
        let mut ncms = HashSet::new();
        let mut ethnic: HashMap<String, u32> = HashMap::new();
        for (i, f) in lines(&r.batch).into_iter().enumerate() {
            let row = i as u64 + 1;
            let kind = defect_rows.get(&row).map(String::as_str);
            if kind != Some("duplicate_in_batch") {
                assert!(ncms.insert((f[7].clone(), f[5].clone())), "NCMS numbers unique per county");
            }
            PersonName::parse(&f[0]).unwrap();
            let parsed = CitizenId::parse(&f[3], today);
            match kind {
                Some("id_bad_checksum") => assert!(parsed.is_err()),
                Some("id_15_digit") => assert!(parsed.unwrap().upgraded_from_15()),
                _ => {
                    let id = parsed.unwrap().into_id();
                    let entry = register.get(id.as_str());
                    if kind == Some("not_in_register") {
                        assert!(entry.is_none());
                        continue;
                    }
                    let entry = entry.unwrap();
                    let sex = Sex::parse(&f[1]).unwrap().check_against(&id);
                    assert_eq!(sex.is_err(), kind == Some("sex_id_mismatch"), "row {row}");
                    let ethnicity = Ethnicity::parse(&f[2]).unwrap();
                    assert_eq!(ethnicity.code(), entry[4]);
                    *ethnic.entry(entry[4].clone()).or_default() += 1;
                    let same_name = PersonName::parse(&f[0]).unwrap().into_name().as_str() == entry[1];
                    match kind {
                        Some("name_typo") | Some("name_traditional") => assert!(!same_name),
                        _ => assert!(same_name, "row {row}"),
                    }
                    let status = &entry[7];
                    match kind {
                        Some("deceased") => assert_eq!(status, "deceased"),
                        Some("migrated_out") => assert_eq!(status, "migrated_out"),
                        _ => assert_eq!(status, "active"),
                    }
                    assert_eq!(entry[3], id.birth_date().format("%Y-%m-%d").to_string());
                }
            }
            if !f[6].is_empty() {
                PhoneNumber::parse(&f[6]).unwrap();
            }
            assert!(f[4].starts_with("辽宁省营口市"));
            assert!(f[7].starts_with("2108"));
        }
        let han = f64::from(ethnic["01"]) / f64::from(ethnic.values().sum::<u32>());
        assert!((0.72..0.88).contains(&han), "{han}");
    }

    #[test]
    fn defect_rate_within_tolerance() {
        let r = run(10_000, 42, 0.02, 0, Format::Csv);
        let rate = r.summary.defect_rows as f64 / 10_000.0;
        assert!((0.015..=0.025).contains(&rate), "{rate}");
        assert!(r.summary.defects.values().all(|n| *n > 0), "{:?}", r.summary.defects);
        let none = run(1_000, 42, 0.0, 0, Format::Csv);
        assert_eq!(none.summary.defect_rows, 0);
        let all = run(1_000, 42, 1.0, 0, Format::Csv);
        // Kinds that a row cannot take (a 15-digit number for someone born
        // after 1999) are owed to a later row, which at rate 1 never comes.
        assert!(all.summary.defect_rows >= 950, "{}", all.summary.defect_rows);
    }

    #[test]
    fn gb18030_decodes_to_the_utf8_text() {
        let utf8 = run(3_000, 5, 0.05, 0, Format::Csv);
        let gb = run(3_000, 5, 0.05, 0, Format::CsvGb18030);
        assert_ne!(utf8.batch, gb.batch);
        let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(&gb.batch);
        assert!(!had_errors);
        assert_eq!(text.as_bytes(), utf8.batch.as_slice());
    }

    #[test]
    fn json_formats_hold_the_same_records() {
        let ndjson = run(500, 9, 0.1, 0, Format::Ndjson);
        let json = run(500, 9, 0.1, 0, Format::Json);
        let from_lines: Vec<serde_json::Value> =
            std::str::from_utf8(&ndjson.batch).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let array: Vec<serde_json::Value> = serde_json::from_slice(&json.batch).unwrap();
        assert_eq!(from_lines.len(), 500);
        assert_eq!(from_lines, array);
        assert!(array[0]["id_number"].is_string());
        let empty = run(0, 9, 0.1, 0, Format::Json);
        assert_eq!(serde_json::from_slice::<Vec<serde_json::Value>>(&empty.batch).unwrap().len(), 0);
    }

    #[test]
    fn chinese_headers() {
        let options = Options { records: 3, ..Options::default() };
        let output = OutputOptions { format: Format::Csv, chinese_headers: true };
        let mut batch = Vec::new();
        generate(&options, output, &mut batch, None::<Vec<u8>>, Vec::new()).unwrap();
        let text = String::from_utf8(batch).unwrap();
        assert!(text.starts_with("姓名,性别,民族,身份证号,住址,新农合证号,联系电话,县,村,户号\n"));
    }

    #[test]
    fn rejects_a_bad_rate() {
        let options = Options { defect_rate: 1.5, ..Options::default() };
        let err = generate(&options, OutputOptions::default(), Vec::new(), None::<Vec<u8>>, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("defect-rate"));
    }
}
