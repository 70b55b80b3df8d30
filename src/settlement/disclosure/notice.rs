//! The disclosure as a printable notice for the village board: a title, the period,
//! the table, the totals, the date of posting, how long objections may be raised and
//! where (the county office's phone, from configuration). One self-contained HTML
//! page: the style inline, no script, no outside resource; every value escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};

use super::DisclosureView;
use super::formats::{level_label, sex_label};
use crate::config::Config;

/// What a notice says beyond the data: the objection period and the county offices'
/// phones (`HEALTHCARD_DISCLOSURE_OBJECTION_DAYS`, `HEALTHCARD_DISCLOSURE_OFFICE_PHONES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeSettings {
    pub objection_days: u32,
    /// By county code.
    pub office_phones: BTreeMap<String, String>,
}

impl NoticeSettings {
    pub fn from_config(config: &Config) -> NoticeSettings {
        NoticeSettings {
            objection_days: config.disclosure_objection_days,
            office_phones: config.disclosure_office_phones.clone(),
        }
    }
}

/// `text` as HTML text: the five characters that could end an element or a quoted
/// attribute written as character references, everything else as it is.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A date as the notice writes it: 2026年5月3日.
fn chinese_date(date: NaiveDate) -> String {
    format!("{}年{}月{}日", date.year(), date.month(), date.day())
}

const STYLE: &str = "\
body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",SimSun,sans-serif;\
color:#000;background:#fff;margin:24px;font-size:15px;line-height:1.5}\
h1{font-size:24px;text-align:center;margin:0 0 4px}\
.period{text-align:center;margin:0 0 12px}\
table{width:100%;border-collapse:collapse}\
th,td{border:1px solid #000;padding:4px 6px;text-align:left}\
th{background:#eee}\
.amount{text-align:right;white-space:nowrap}\
thead{display:table-header-group}\
tfoot{display:table-footer-group}\
tr{break-inside:avoid;page-break-inside:avoid}\
.empty{text-align:center}\
.posting{margin-top:16px}\
@page{size:A4 landscape;margin:12mm}\
@media print{body{margin:0;font-size:12pt}th{background:none}}";

/// The notice of `view`, posted on `posted_on`.
pub fn page(view: &DisclosureView, settings: &NoticeSettings, posted_on: NaiveDate) -> String {
    let village = escape(&view.village);
    let (year, month) = (view.month.year(), view.month.month());
    let mut html = String::with_capacity(4096 + view.items.len() * 400);
    // Writing into a String cannot fail: the results of write! are ignored below.
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{village} 医疗补偿公示 {year}年{month}月</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>{village} 新型农村合作医疗补偿公示</h1>\n\
         <p class=\"period\">公示期间：{year}年{month}月（{first} 至 {last} 入院）　县（区）代码：{county}</p>\n\
         <table>\n<thead><tr><th>序号</th><th>姓名</th><th>性别</th><th>医疗机构</th><th>机构级别</th>\
         <th>入院时间</th><th>出院时间</th><th class=\"amount\">医疗总费用（元）</th>\
         <th class=\"amount\">统筹基金支付（元）</th></tr></thead>\n<tbody>\n",
        first = chinese_date(view.month.first_day()),
        last = chinese_date(view.month.last_day()),
        county = escape(&view.county_code),
    );
    for (i, item) in view.items.iter().enumerate() {
        let _ = writeln!(
            html,
            "<tr><td>{n}</td><td>{name}</td><td>{sex}</td><td>{institution}</td><td>{level}</td>\
             <td>{begin}</td><td>{end}</td><td class=\"amount\">{total}</td><td class=\"amount\">{fund}</td></tr>",
            n = i + 1,
            name = escape(&item.name),
            sex = escape(sex_label(&item.sex)),
            institution = escape(item.institution.as_deref().unwrap_or_default()),
            level = escape(item.level.as_deref().map(level_label).unwrap_or_default()),
            begin = escape(&item.begntime),
            end = escape(&item.endtime),
            total = item.medfee_sumamt,
            fund = item.hifp_pay,
        );
    }
    if view.items.is_empty() {
        html.push_str("<tr><td class=\"empty\" colspan=\"9\">本月无补偿记录</td></tr>\n");
    }
    let _ = write!(
        html,
        "</tbody>\n<tfoot><tr><th colspan=\"7\">合计：{claims} 人次</th><td class=\"amount\">{total}</td>\
         <td class=\"amount\">{fund}</td></tr></tfoot>\n</table>\n",
        claims = view.totals.claims,
        total = view.totals.medfee_sumamt,
        fund = view.totals.hifp_pay,
    );
    let days = settings.objection_days.max(1);
    let until = posted_on.checked_add_days(chrono::Days::new(u64::from(days - 1))).unwrap_or(posted_on);
    let phone =
        settings.office_phones.get(&view.county_code).map(|p| format!("，电话：{}", escape(p))).unwrap_or_default();
    let _ = write!(
        html,
        "<p class=\"posting\">张贴日期：{posted}。公示期 {days} 天，自张贴之日起至 {until} 止。</p>\n\
         <p>对公示内容有异议的，请在公示期内向县（区）合作医疗管理办公室反映{phone}。</p>\n\
         <p>姓名已隐去部分字；涉及个人隐私的病例不公示医疗机构和级别。</p>\n</main>\n</body>\n</html>\n",
        posted = chinese_date(posted_on),
        until = chinese_date(until),
    );
    html
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::domain::Fen;
    use crate::domain::month::Month;
    use crate::settlement::disclosure::{DisclosedItem, Totals};

    #[test]
    fn escape_writes_the_five_characters_as_references() {
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(escape("a & \"b\""), "a &amp; &quot;b&quot;");
        assert_eq!(escape("&amp;"), "&amp;amp;", "escaped text is escaped again, never trusted");
        assert_eq!(escape("王*明 前进村"), "王*明 前进村");
        assert_eq!(escape(""), "");
    }

    fn view(items: Vec<DisclosedItem>) -> DisclosureView {
        let totals = Totals {
            claims: items.len() as u64,
            medfee_sumamt: Fen(items.iter().map(|i| i.medfee_sumamt.get()).sum()),
            hifp_pay: Fen(items.iter().map(|i| i.hifp_pay.get()).sum()),
        };
        DisclosureView {
            county_code: "210804".into(),
            village: "前进<村>".into(),
            month: Month::parse("2026-05").unwrap(),
            items,
            totals,
        }
    }

    fn settings() -> NoticeSettings {
        NoticeSettings {
            objection_days: 7,
            office_phones: [("210804".to_string(), "0417-2812345".to_string())].into_iter().collect(),
        }
    }

    #[test]
    fn the_notice_has_the_period_the_rows_the_totals_and_the_objection_period() {
        let item = DisclosedItem {
            name: "王*明".into(),
            sex: "1".into(),
            institution: Some("H21080400001".into()),
            level: Some("county".into()),
            begntime: "2026-05-03 08:00:00".into(),
            endtime: "2026-05-09 10:00:00".into(),
            medfee_sumamt: Fen(150_000),
            hifp_pay: Fen(75_005),
        };
        let secret = DisclosedItem { institution: None, level: None, name: "李*英".into(), ..item.clone() };
        let posted = NaiveDate::from_ymd_opt(2026, 6, 2).unwrap();
        let html = page(&view(vec![item, secret]), &settings(), posted);
        for text in [
            "<title>前进&lt;村&gt; 医疗补偿公示 2026年5月</title>",
            "公示期间：2026年5月（2026年5月1日 至 2026年5月31日 入院）",
            "<td>王*明</td><td>男</td><td>H21080400001</td><td>县级</td>",
            "<td>李*英</td><td>男</td><td></td><td></td>",
            "<td class=\"amount\">1500.00</td><td class=\"amount\">750.05</td>",
            "合计：2 人次</th><td class=\"amount\">3000.00</td><td class=\"amount\">1500.10</td>",
            "张贴日期：2026年6月2日。公示期 7 天，自张贴之日起至 2026年6月8日 止。",
            "电话：0417-2812345。",
            "@media print",
        ] {
            assert!(html.contains(text), "{text} missing from\n{html}");
        }
        assert!(!html.contains("<script"), "no script");
        assert!(!html.contains("前进<村>"), "the village is escaped");
        assert_eq!(html.matches("H21080400001").count(), 1, "the confidential row names no institution");
    }

    #[test]
    fn an_empty_month_says_so_and_a_county_without_a_phone_names_none() {
        let html = page(&view(vec![]), &NoticeSettings { objection_days: 1, ..Default::default() }, NaiveDate::MIN);
        assert!(html.contains("本月无补偿记录"));
        assert!(html.contains("合计：0 人次"));
        assert!(html.contains("反映。"), "no phone line: {html}");
        assert!(!html.contains("电话"));
    }
}
