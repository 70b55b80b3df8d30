//! The formats a disclosure is served in, how one is chosen, and the CSV and XLSX
//! tables: a header row, one row per claim, a totals row. Columns as on the village
//! notice (Chinese headers, 男/女, levels in words); amounts in integer fen, as in the
//! JSON, so a spreadsheet sums them exactly.

use super::{DisclosedItem, DisclosureView};
use crate::http::ApiError;
use crate::http::csv_output::neutralise;

/// Content-Type of an XLSX workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The table's header row.
pub const HEADER: [&str; 9] =
    ["序号", "姓名", "性别", "医疗机构", "机构级别", "入院时间", "出院时间", "医疗总费用(分)", "统筹基金支付(分)"];

/// A format of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Xlsx,
    Html,
}

/// A `?format=` that names none of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFormat;

impl Format {
    pub const ALL: [Format; 4] = [Format::Json, Format::Csv, Format::Xlsx, Format::Html];

    /// The name `?format=` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Html => "html",
        }
    }

    /// The answer's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => XLSX,
            Format::Html => "text/html; charset=utf-8",
        }
    }

    /// The format `?format=` names (any case).
    pub fn from_name(name: &str) -> Result<Format, UnknownFormat> {
        Format::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name.trim())).ok_or(UnknownFormat)
    }

    /// The format a media type names exactly.
    fn of_media_type(media: &str) -> Option<Format> {
        let media = media.trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json" => Some(Format::Json),
            "text/csv" => Some(Format::Csv),
            "text/html" | "application/xhtml+xml" => Some(Format::Html),
            m if m == XLSX => Some(Format::Xlsx),
            _ => None,
        }
    }

    /// The format `Accept` prefers: of the media types we serve, the one of highest
    /// quality (the first of equals); JSON when it names none of them.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut best: Option<(u16, Format)> = None;
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';');
            let Some(format) = parts.next().and_then(Format::of_media_type) else {
                continue;
            };
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").map(quality)).unwrap_or(1000);
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Json, |(_, f)| f)
    }
}

/// A `q` value (`0` to `1`, up to three decimals) in thousandths; one that cannot be
/// read counts as `1`.
fn quality(text: &str) -> u16 {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return 1000;
    }
    if whole != "0" {
        return 1000;
    }
    format!("{fraction:0<3}").parse::<u16>().unwrap_or(0)
}

/// 男 or 女 for a GB/T 2261.1 code; the code itself for anything else.
pub fn sex_label(code: &str) -> &str {
    match code {
        "1" => "男",
        "2" => "女",
        other => other,
    }
}

/// The level in words, as the village reads it.
pub fn level_label(level: &str) -> &str {
    match level {
        "village" => "村级",
        "township" => "乡镇级",
        "county" => "县级",
        "municipal" => "市级",
        "provincial" => "省级",
        other => other,
    }
}

/// The text cells of one claim's row, formula-guarded, and its two amounts.
fn row(n: usize, item: &DisclosedItem) -> ([String; 7], [i64; 2]) {
    let text = [
        n.to_string(),
        item.name.clone(),
        sex_label(&item.sex).to_string(),
        item.institution.clone().unwrap_or_default(),
        item.level.as_deref().map(level_label).unwrap_or_default().to_string(),
        item.begntime.clone(),
        item.endtime.clone(),
    ]
    .map(|c| neutralise(&c));
    (text, [item.medfee_sumamt.get(), item.hifp_pay.get()])
}

fn totals_label(view: &DisclosureView) -> String {
    format!("合计（{}人次）", view.totals.claims)
}

/// The disclosure as CSV: UTF-8 with a byte order mark, so that spreadsheets read it
/// right.
pub fn csv(view: &DisclosureView) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    out.write_record(HEADER).map_err(ApiError::internal)?;
    for (i, item) in view.items.iter().enumerate() {
        let (text, [total, fund]) = row(i + 1, item);
        out.write_record(
            text.iter().map(String::as_str).chain([total.to_string().as_str(), fund.to_string().as_str()]),
        )
        .map_err(ApiError::internal)?;
    }
    let (total, fund) = (view.totals.medfee_sumamt.get().to_string(), view.totals.hifp_pay.get().to_string());
    let label = totals_label(view);
    out.write_record([label.as_str(), "", "", "", "", "", "", total.as_str(), fund.as_str()])
        .map_err(ApiError::internal)?;
    out.into_inner().map_err(ApiError::internal)
}

/// The disclosure as an XLSX workbook of one sheet.
pub fn xlsx(view: &DisclosureView) -> Result<Vec<u8>, ApiError> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as Style, Workbook};
    let xlsx = |e: rust_xlsxwriter::XlsxError| ApiError::internal(e);
    // Amounts are whole fen, far below 2^53: a spreadsheet number holds them exactly.
    let fen = |amount: i64| amount as f64;
    let mut workbook = Workbook::new();
    // Dated by its month, not by the clock: the same disclosure is the same bytes, so
    // its entity tag holds.
    let (year, month) = (u16::try_from(view.month.year()).map_err(ApiError::internal)?, view.month.month());
    let created = ExcelDateTime::from_ymd(year, u8::try_from(month).map_err(ApiError::internal)?, 1).map_err(xlsx)?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let bold = Style::new().set_bold();
    let sheet = workbook.add_worksheet();
    sheet.set_name("补偿公示").map_err(xlsx)?;
    for (col, title) in (0u16..).zip(HEADER) {
        sheet.write_string_with_format(0, col, title, &bold).map_err(xlsx)?;
    }
    let mut line: u32 = 1;
    for (i, item) in view.items.iter().enumerate() {
        let (text, amounts) = row(i + 1, item);
        for (col, cell) in (0u16..).zip(text.iter()) {
            sheet.write_string(line, col, cell).map_err(xlsx)?;
        }
        for (col, amount) in (7u16..).zip(amounts) {
            sheet.write_number(line, col, fen(amount)).map_err(xlsx)?;
        }
        line += 1;
    }
    sheet.write_string_with_format(line, 0, totals_label(view), &bold).map_err(xlsx)?;
    sheet.write_number_with_format(line, 7, fen(view.totals.medfee_sumamt.get()), &bold).map_err(xlsx)?;
    sheet.write_number_with_format(line, 8, fen(view.totals.hifp_pay.get()), &bold).map_err(xlsx)?;
    sheet.set_column_width(1, 10).map_err(xlsx)?;
    sheet.set_column_width(3, 16).map_err(xlsx)?;
    sheet.set_column_width(5, 20).map_err(xlsx)?;
    sheet.set_column_width(6, 20).map_err(xlsx)?;
    sheet.set_column_width(7, 16).map_err(xlsx)?;
    sheet.set_column_width(8, 18).map_err(xlsx)?;
    workbook.save_to_buffer().map_err(xlsx)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::domain::Fen;
    use crate::domain::month::Month;
    use crate::settlement::disclosure::Totals;

    #[test]
    fn accept_chooses_by_quality_and_defaults_to_json() {
        assert_eq!(Format::negotiate(None), Format::Json);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Json);
        assert_eq!(Format::negotiate(Some("image/png")), Format::Json);
        assert_eq!(Format::negotiate(Some("text/csv")), Format::Csv);
        assert_eq!(Format::negotiate(Some(XLSX)), Format::Xlsx);
        // What a browser sends.
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(Format::negotiate(Some(browser)), Format::Html);
        assert_eq!(Format::negotiate(Some("text/html;q=0.5, text/csv;q=0.8")), Format::Csv);
        assert_eq!(Format::negotiate(Some("text/csv;q=0, application/json")), Format::Json);
        assert_eq!(Format::negotiate(Some("Text/CSV; charset=utf-8, text/html")), Format::Csv, "the first of equals");
        assert_eq!(quality("0.25"), 250);
        assert_eq!(quality("0"), 0);
        assert_eq!(quality("1.000"), 1000);
        assert_eq!(Format::from_name("XLSX"), Ok(Format::Xlsx));
        assert_eq!(Format::from_name("pdf"), Err(UnknownFormat));
    }

    fn view() -> DisclosureView {
        let item = |name: &str, institution: Option<&str>, total: i64, fund: i64| DisclosedItem {
            name: name.into(),
            sex: "2".into(),
            institution: institution.map(String::from),
            level: institution.map(|_| "county".to_string()),
            begntime: "2026-05-03 08:00:00".into(),
            endtime: "2026-05-09 10:00:00".into(),
            medfee_sumamt: Fen(total),
            hifp_pay: Fen(fund),
        };
        DisclosureView {
            county_code: "210804".into(),
            village: "前进村".into(),
            month: Month::parse("2026-05").unwrap(),
            items: vec![item("王*明", Some("=H2108"), 150_000, 75_000), item("李*英", None, 20_000, 8_500)],
            totals: Totals { claims: 2, medfee_sumamt: Fen(170_000), hifp_pay: Fen(83_500) },
        }
    }

    #[test]
    fn the_csv_has_a_bom_a_header_the_rows_and_the_totals() {
        let text = String::from_utf8(csv(&view()).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "\u{feff}序号,姓名,性别,医疗机构,机构级别,入院时间,出院时间,医疗总费用(分),统筹基金支付(分)"
        );
        assert_eq!(lines[1], "1,王*明,女,'=H2108,县级,2026-05-03 08:00:00,2026-05-09 10:00:00,150000,75000");
        assert_eq!(lines[2], "2,李*英,女,,,2026-05-03 08:00:00,2026-05-09 10:00:00,20000,8500");
        assert_eq!(lines[3], "合计（2人次）,,,,,,,170000,83500");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn the_workbook_is_a_zip_with_the_names() {
        let bytes = xlsx(&view()).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut strings = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/sharedStrings.xml").unwrap(), &mut strings).unwrap();
        for text in ["王*明", "李*英", "县级", "合计（2人次）", "统筹基金支付(分)"] {
            assert!(strings.contains(text), "{text} in {strings}");
        }
        let mut core = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("docProps/core.xml").unwrap(), &mut core).unwrap();
        assert!(core.contains("2026-05-01T00:00:00Z"), "dated by its month, not the clock: {core}");
    }
}
