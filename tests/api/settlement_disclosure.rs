//! Public disclosure and the fund summary through the gateway.
//!
//! Disclosure: a village's approved claims of a month, read without a token, with
//! masked names, a confidential claim without institution or level, a cancelled claim
//! and the claims of another village or month left out, the months judged in China;
//! as JSON, CSV, XLSX and a printable HTML notice (opened in headless Chromium and
//! saved as a screenshot), none holding a citizen ID, card number or full name; each
//! with an `ETag` that answers `304`; bad input refused precisely.
//!
//! Fund summary: after enrollment, a debit run, a subsidy, claims, a payment, a cancel
//! before and one after payment and a recovery, every figure is what was done, to the
//! fen; another county's office gets 404, a clinic 403.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration as Days, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::*;
use crate::settlement::{COUNTY, PREMIUM, Scheme};

on_both_backends!(
    a_village_month_is_disclosed_to_anyone_masked_in_every_format,
    the_fund_summary_agrees_with_what_was_done
);

const CLINIC: &str = "H21080400001";
const VILLAGE: &str = "前进村";
const OTHER_VILLAGE: &str = "后山村";
const PHONE: &str = "0417-2812345";

/// Now in China, where the platform's times are written.
fn china_now() -> chrono::NaiveDateTime {
    (Utc::now() + Days::hours(8)).naive_utc()
}

fn month_of(date: NaiveDate) -> String {
    date.format("%Y-%m").to_string()
}

/// A claim admitted a second ago and discharged now: 130000 in scope, so 75000 from
/// the fund at a county hospital (deductible 30000, 75%).
fn claim(n: u32, card: &str, med_type: &str, level: &str, confidential: bool) -> Value {
    let now = china_now();
    let time = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
    json!({
        "msgid": format!("{CLINIC}{}{n:04}", now.format("%Y%m%d%H%M%S")),
        "ipt_otp_no": format!("ZY{n:06}"), "mdtrt_cert_type": "03", "mdtrt_cert_no": card, "insutype": "390",
        "med_type": med_type, "level": level, "begntime": time(now - Days::seconds(1)), "endtime": time(now),
        "medfee_sumamt": 150_000 + i64::from(n), "fulamt_ownpay_amt": 10_000 + i64::from(n), "overlmt_selfpay": 5000,
        "preselfpay_amt": 5000, "inscp_scp_amt": 130_000, "confidential": confidential
    })
}

impl Scheme {
    /// `folks` with activated cards known to settlement, enrolled for the year with
    /// their premiums collected; their card numbers.
    async fn insured(&self, folks: &[Person]) -> Vec<String> {
        let p = &self.p;
        let cards = p.activated_cards(folks, 1).await;
        for card in &cards {
            self.wait_card(card, "activated").await;
        }
        let rows: Vec<Value> = cards.iter().map(|c| json!({"card_no": c, "year": self.year})).collect();
        let (status, report) = self.enroll_json(Value::Array(rows)).await;
        assert_eq!((status, report["enrolled"].as_u64()), (200, Some(folks.len() as u64)), "{report}");
        let (status, run) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": self.year})).await;
        assert_eq!(status, 201, "{run}");
        let mut collected = Vec::new();
        for e in self.pending_envelopes().await {
            let (_, full) =
                p.get(&self.bank, &format!("/api/v1/debit-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
            for line in full["instructions"].as_array().unwrap() {
                collected.push(
                    json!({"instruction_id": line["instruction_id"], "outcome": "collected", "bank_reference": "D"}),
                );
            }
        }
        assert_eq!(collected.len(), folks.len());
        assert_eq!(self.answer(Value::Array(collected)).await.0, 200);
        // Admissions are stamped to the second, begin a second before now, and must
        // follow the activation.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        cards
    }

    async fn settle(&self, body: Value) -> Value {
        let (status, settled) = self.p.post(&self.clinic, "/api/v1/claims", body).await;
        assert_eq!((status, settled["state"].as_str()), (200, Some("approved")), "{settled}");
        settled
    }
}

/// A disclosure request without a token: status, headers and body.
async fn disclose(
    app: &TestApp,
    query: &str,
    accept: Option<&str>,
    if_none_match: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.http.get(format!("{}/api/v1/disclosures?{query}", app.gateway()));
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

fn query(village: &str, month: &str) -> String {
    format!("county={COUNTY}&village={}&month={month}", urlencode(village))
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Whether `needle` occurs anywhere in `bytes`.
fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every byte of the workbook: the zip itself and each of its parts unpacked.
fn xlsx_parts(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut parts = vec![("(the zip)".to_string(), bytes.to_vec())];
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).unwrap();
        let mut content = Vec::new();
        part.read_to_end(&mut content).unwrap();
        parts.push((part.name().unwrap().to_string(), content));
    }
    assert!(parts.iter().any(|(name, _)| name == "xl/sharedStrings.xml"), "a workbook with text");
    parts
}

/// `target/test-artifacts` of the build the tests run from.
fn artifacts() -> PathBuf {
    let dir = Path::new(BIN).parent().and_then(Path::parent).unwrap().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `html` in headless Chromium and saves what it shows as a PNG next to it.
fn screenshot(html: &Path, png: &Path) {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(chromium.exists(), "{} is missing: .ci/run installs it (apt-get install chromium)", chromium.display());
    let _ = std::fs::remove_file(png);
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,1000",
            &format!("file://{}", html.display()),
        ])
        .output()
        .unwrap();
    let image = std::fs::read(png).unwrap_or_default();
    assert!(
        image.starts_with(b"\x89PNG\r\n\x1a\n") && image.len() > 1000,
        "no screenshot at {} ({}): {}{}",
        png.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn a_village_month_is_disclosed_to_anyone_masked_in_every_format(backend: Backend) {
    let s = Scheme::new(
        backend,
        &[
            ("HEALTHCARD_DISCLOSURE_OFFICE_PHONES", &format!(r#"{{"{COUNTY}": "{PHONE}"}}"#)),
            ("HEALTHCARD_DISCLOSURE_OBJECTION_DAYS", "10"),
        ],
    )
    .await;
    let p = &s.p;
    let mut folks = people(7);
    folks[4].village = OTHER_VILLAGE;
    let cards = s.insured(&folks).await;

    // 0: a county hospital; 1: confidential; 2: cancelled; 3: moved to last month;
    // 4: of the other village; 5: an outpatient visit at the village clinic; 6: no claim.
    let plain = s.settle(claim(1, &cards[0], "21", "county", false)).await;
    let secret = s.settle(claim(2, &cards[1], "21", "municipal", true)).await;
    let cancelled = s.settle(claim(3, &cards[2], "21", "county", false)).await;
    let earlier = s.settle(claim(4, &cards[3], "21", "township", false)).await;
    let elsewhere = s.settle(claim(5, &cards[4], "21", "county", false)).await;
    let visit = s.settle(claim(6, &cards[5], "11", "village", false)).await;
    let setl = |c: &Value| c["setl_id"].as_str().unwrap().to_string();
    let (status, body) = p.post(&s.clinic, &format!("/api/v1/claims/{}/cancel", setl(&cancelled)), json!({})).await;
    assert_eq!(status, 200, "{body}");

    // No claim can be admitted before its card was activated a moment ago: the months
    // are set in the database. Claim 3 at 23:30 in China on the last day of last month
    // (15:30 UTC), claim 0 at 00:30 in China on the first day of this month (16:30
    // UTC the day before): each in its month as China counts it.
    let today = china_now().date();
    let first = today.with_day(1).unwrap();
    let last_month_end = first.pred_opt().unwrap();
    let (this_month, last_month) = (month_of(today), month_of(last_month_end));
    let mut db = Direct::open(&p.app.env, "settlement");
    let utc = |d: NaiveDate, h: u32, m: u32| d.and_hms_opt(h, m, 0).unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
    let move_claim = |db: &mut Direct, setl_id: &str, admitted: String, discharged: String| {
        db.run(&format!(
            "UPDATE claims SET admitted_at = '{admitted}', discharged_at = '{discharged}' WHERE setl_id = '{setl_id}'"
        ))
        .unwrap();
    };
    move_claim(&mut db, &setl(&earlier), utc(last_month_end, 15, 30), utc(last_month_end, 15, 59));
    move_claim(&mut db, &setl(&plain), utc(last_month_end, 16, 30), utc(first, 1, 0));

    // JSON, anonymous: claims 0, 1 and 5, in order of admission.
    let (status, headers, body) = disclose(&p.app, &query(VILLAGE, &this_month), None, None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "cache-control"), "public, max-age=300");
    let disclosure: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (&disclosure["county_code"], &disclosure["village"], &disclosure["month"]),
        (&json!(COUNTY), &json!(VILLAGE), &json!(this_month))
    );
    let items = disclosure["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3, "{disclosure}");
    assert_eq!(names[0], "王*明", "claim 0 first, admitted on the 1st at 00:30 in China");
    let mut rest = names[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, ["李*英", "杨*"]);
    assert_eq!(
        items[0],
        json!({"name": "王*明", "sex": folks[0].sex(), "institution": CLINIC, "level": "county",
               "begntime": format!("{first} 00:30:00"), "endtime": format!("{first} 09:00:00"),
               "medfee_sumamt": 150_001, "hifp_pay": 75_000})
    );
    let by_name = |name: &str| items.iter().find(|i| i["name"] == name).unwrap();
    let hidden = by_name("李*英");
    assert_eq!((&hidden["institution"], &hidden["level"]), (&Value::Null, &Value::Null), "{hidden}");
    assert_eq!((&hidden["begntime"], &hidden["medfee_sumamt"]), (&secret["begntime"], &json!(150_002)));
    assert_eq!(hidden["hifp_pay"], secret["hifp_pay"]);
    let outpatient = by_name("杨*");
    assert_eq!((&outpatient["level"], &outpatient["hifp_pay"]), (&json!("village"), &visit["hifp_pay"]));
    let fund: i64 = [&plain, &secret, &visit].iter().map(|c| c["hifp_pay"].as_i64().unwrap()).sum();
    assert_eq!(
        disclosure["totals"],
        json!({"claims": 3, "medfee_sumamt": 150_001 + 150_002 + 150_006, "hifp_pay": fund})
    );

    // The other village and last month each hold only their own claim.
    let (status, _, other) = disclose(&p.app, &query(OTHER_VILLAGE, &this_month), None, None).await;
    let other: Value = serde_json::from_slice(&other).unwrap();
    assert_eq!(status, 200);
    assert_eq!((other["items"].as_array().unwrap().len(), &other["items"][0]["name"]), (1, &json!("陈*")));
    assert_eq!(other["items"][0]["hifp_pay"], elsewhere["hifp_pay"]);
    let (status, _, before) = disclose(&p.app, &query(VILLAGE, &last_month), None, None).await;
    let before: Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(status, 200);
    assert_eq!(before["items"].as_array().unwrap().len(), 1, "{before}");
    assert_eq!(
        (&before["items"][0]["name"], &before["items"][0]["begntime"]),
        (&json!("刘*"), &json!(format!("{last_month_end} 23:30:00")))
    );
    // A month without claims in a known village is an empty list.
    let (status, _, empty) = disclose(&p.app, &query(VILLAGE, "2020-02"), None, None).await;
    let empty: Value = serde_json::from_slice(&empty).unwrap();
    assert_eq!((status, &empty["items"], &empty["totals"]["claims"]), (200, &json!([]), &json!(0)));

    // Every format, by Accept and by ?format=, without anyone's citizen ID, card
    // number or full name in a single byte.
    let q = query(VILLAGE, &this_month);
    let (_, csv_headers, csv) = disclose(&p.app, &q, Some("text/csv"), None).await;
    let (_, xlsx_headers, xlsx) = disclose(&p.app, &format!("{q}&format=xlsx"), None, None).await;
    let (_, html_headers, html) = disclose(&p.app, &q, Some("text/html,application/xhtml+xml,*/*;q=0.8"), None).await;
    assert_eq!(header(&csv_headers, "content-type"), "text/csv; charset=utf-8");
    assert!(header(&csv_headers, "content-disposition").contains(&format!("disclosure-{COUNTY}-{this_month}.csv")));
    assert_eq!(
        header(&xlsx_headers, "content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(header(&html_headers, "content-type"), "text/html; charset=utf-8");
    let csv_text = String::from_utf8(csv.clone()).unwrap();
    let lines: Vec<&str> = csv_text.lines().collect();
    assert_eq!(lines[0], "\u{feff}序号,姓名,性别,医疗机构,机构级别,入院时间,出院时间,医疗总费用(分),统筹基金支付(分)");
    assert!(lines[1].starts_with(&format!(
        "1,王*明,{},{CLINIC},县级,{first} 00:30:00,",
        if folks[0].sex() == "1" { "男" } else { "女" }
    )));
    let hidden_line = lines.iter().find(|l| l.contains("李*英")).unwrap();
    assert!(hidden_line.contains(",,,"), "no institution or level: {hidden_line}");
    assert_eq!(lines[4], format!("合计（3人次）,,,,,,,{},{fund}", 150_001 + 150_002 + 150_006));
    assert_eq!(lines.len(), 5);
    let html_text = String::from_utf8(html.clone()).unwrap();
    for text in [
        format!("{VILLAGE} 新型农村合作医疗补偿公示"),
        format!("{}年{}月", today.year(), today.month()),
        "<td>王*明</td>".to_string(),
        "合计：3 人次".to_string(),
        format!("张贴日期：{}年{}月{}日", today.year(), today.month(), today.day()),
        "公示期 10 天".to_string(),
        format!("电话：{PHONE}"),
    ] {
        assert!(html_text.contains(&text), "{text} missing from the notice");
    }
    assert!(!html_text.contains("<script") && !html_text.contains("src=") && !html_text.contains("href="));
    let parts = xlsx_parts(&xlsx);
    let strings = &parts.iter().find(|(n, _)| n == "xl/sharedStrings.xml").unwrap().1;
    for text in ["王*明", "李*英", "杨*", "县级", "合计（3人次）"] {
        assert!(holds(strings, text), "{text} missing from the workbook");
    }
    let mut answers: Vec<(String, Vec<u8>)> = vec![
        ("json".into(), body.clone()),
        ("csv".into(), csv.clone()),
        ("html".into(), html.clone()),
        ("other village".into(), serde_json::to_vec(&other).unwrap()),
        ("last month".into(), serde_json::to_vec(&before).unwrap()),
    ];
    answers.extend(parts.into_iter().map(|(name, bytes)| (format!("xlsx {name}"), bytes)));
    for (what, bytes) in &answers {
        for (person, card) in folks.iter().zip(&cards) {
            assert!(!holds(bytes, &person.id), "{what} holds the citizen ID {}", person.id);
            assert!(!holds(bytes, &person.id[..17]), "{what} holds most of the citizen ID {}", person.id);
            assert!(!holds(bytes, card), "{what} holds the card number {card}");
            if person.name.chars().count() > 1 {
                assert!(!holds(bytes, person.name), "{what} holds the full name {}", person.name);
            }
        }
        assert!(!holds(bytes, "ZY00"), "{what} holds an admission number");
    }

    // The notice opened in a browser, as the village office prints it.
    let dir = artifacts();
    let name = format!("disclosure-{}", if backend == Backend::Sqlite { "sqlite" } else { "postgres" });
    let (html_file, png_file) = (dir.join(format!("{name}.html")), dir.join(format!("{name}.png")));
    std::fs::write(&html_file, &html).unwrap();
    tokio::task::block_in_place(|| screenshot(&html_file, &png_file));

    // Entity tags: one per format; the tag sent back answers 304 without a body.
    let json_tag = header(&headers, "etag").to_string();
    let tags =
        [json_tag.as_str(), header(&csv_headers, "etag"), header(&xlsx_headers, "etag"), header(&html_headers, "etag")];
    assert!(tags.iter().all(|t| t.len() == 66 && t.starts_with('"')), "{tags:?}");
    let mut distinct = tags.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{tags:?}");
    let (status, unchanged, nothing) = disclose(&p.app, &q, None, Some(&json_tag)).await;
    assert_eq!((status, nothing.len()), (304, 0));
    assert_eq!(
        (header(&unchanged, "etag"), header(&unchanged, "cache-control")),
        (json_tag.as_str(), "public, max-age=300")
    );
    let (status, _, _) = disclose(&p.app, &q, Some("text/csv"), Some(&format!("\"x\", {}", tags[1]))).await;
    assert_eq!(status, 304);
    // The workbook built again (seconds later) is the same bytes: its tag holds too.
    let (status, _, _) = disclose(&p.app, &format!("{q}&format=xlsx"), None, Some(tags[2])).await;
    assert_eq!(status, 304);
    let (status, _, _) = disclose(&p.app, &q, Some("text/html"), Some(tags[3])).await;
    assert_eq!(status, 304);
    let (status, _, again) = disclose(&p.app, &q, Some("text/csv"), Some(&json_tag)).await;
    assert_eq!((status, again), (200, csv), "the JSON's tag is not the CSV's");
    // A new claim changes the answer and its tag.
    s.settle(claim(7, &cards[6], "21", "county", false)).await;
    let (status, changed, _) = disclose(&p.app, &q, None, Some(&json_tag)).await;
    assert_eq!(status, 200);
    assert_ne!(header(&changed, "etag"), json_tag);

    // Anonymous here, and at the service itself; other routes still want a token.
    let direct = format!("{}/api/v1/disclosures?{q}", p.app.service("settlement"));
    assert_eq!(p.app.http.get(direct).send().await.unwrap().status(), 200);
    let r = p.app.http.get(format!("{}/api/v1/funds/{COUNTY}", p.gw)).send().await.unwrap();
    assert_problem(r, 401, "missing_token").await;

    // Bad input: precise codes.
    let future = month_of(first.checked_add_months(chrono::Months::new(1)).unwrap());
    let cases = [
        (query(VILLAGE, &future), "month", "month_in_future"),
        (query(VILLAGE, &format!("{}-13", today.year())), "month", "month_invalid"),
        (query(VILLAGE, &this_month.replace('-', "/")), "month", "month_invalid"),
        (query(VILLAGE, &format!("{}-5", today.year())), "month", "month_invalid"),
        (format!("county={COUNTY}&village={}", urlencode(VILLAGE)), "month", "month_missing"),
        (format!("county=2108&village={}&month={this_month}", urlencode(VILLAGE)), "county", "county_code_invalid"),
        (format!("village={}&month={this_month}", urlencode(VILLAGE)), "county", "county_missing"),
        (format!("county={COUNTY}&village=&month={this_month}"), "village", "village_missing"),
        (format!("{}&format=pdf", query(VILLAGE, &this_month)), "format", "format_unknown"),
    ];
    for (bad, field, code) in cases {
        let r = p.app.http.get(format!("{}/api/v1/disclosures?{bad}", p.gw)).send().await.unwrap();
        let problem = assert_problem(r, 422, "validation_failed").await;
        assert_eq!(
            (&problem["errors"][0]["field"], &problem["errors"][0]["code"]),
            (&json!(field), &json!(code)),
            "{bad}"
        );
    }
    let r =
        p.app.http.get(format!("{}/api/v1/disclosures?{}", p.gw, query("无此村", &this_month))).send().await.unwrap();
    assert_problem(r, 404, "village_unknown").await;
    let r = p
        .app
        .http
        .get(format!("{}/api/v1/disclosures?county=210803&village={}&month={this_month}", p.gw, urlencode(VILLAGE)))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "village_unknown").await;
    let r = p.app.http.get(format!("{}/api/v1/disclosures?{q}&card_no=1", p.gw)).send().await.unwrap();
    assert_problem(r, 400, "invalid_query").await;
}

async fn pay_pending(s: &Scheme, paid: &[&str]) -> Vec<Value> {
    let p = &s.p;
    let (status, list) = p.get(&s.bank, "/api/v1/payment-envelopes?state=pending").await;
    assert_eq!(status, 200, "{list}");
    let mut lines = Vec::new();
    for e in list["items"].as_array().unwrap() {
        let (_, full) =
            p.get(&s.bank, &format!("/api/v1/payment-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
        lines.extend(full["instructions"].as_array().unwrap().clone());
    }
    let results: Vec<Value> = lines
        .iter()
        .filter(|l| paid.contains(&l["setl_id"].as_str().unwrap()))
        .map(|l| json!({"instruction_id": l["instruction_id"], "outcome": "paid", "bank_reference": "P"}))
        .collect();
    assert_eq!(results.len(), paid.len());
    let (status, report) = p.post(&s.bank, "/api/v1/payment-instructions/results", json!({ "results": results })).await;
    assert_eq!((status, report["paid"].as_u64()), (200, Some(paid.len() as u64)), "{report}");
    lines
}

/// The money figures of a summary or of one of its months.
const FLOWS: [&str; 10] = [
    "premiums",
    "subsidies",
    "income",
    "approved",
    "cancelled",
    "paid",
    "recoveries_owed",
    "recoveries_collected",
    "written_off",
    "paid_out",
];

async fn the_fund_summary_agrees_with_what_was_done(backend: Backend) {
    let s = Scheme::new(backend, &[]).await;
    let p = &s.p;
    let year = s.year;
    let cards = s.insured(&people(3)).await;
    let subsidy = json!({"year": year, "source": "central", "amount": 500_000, "reference": "CZ-1"});
    assert_eq!(p.post(&p.admin, &format!("/api/v1/funds/{COUNTY}/subsidies"), subsidy.clone()).await.0, 201);
    let elsewhere = json!({"year": year, "source": "county", "amount": 1234, "reference": "CZ-2"});
    assert_eq!(p.post(&p.admin, "/api/v1/funds/210803/subsidies", elsewhere).await.0, 201);

    // Three claims of 75000: the third cancelled before the bank had it, the first two
    // paid, the second then cancelled (owed back) and its money collected.
    let claims: Vec<Value> = {
        let mut out = Vec::new();
        for (i, card) in cards.iter().enumerate() {
            out.push(s.settle(claim(i as u32 + 1, card, "21", "county", false)).await);
        }
        out
    };
    let setl: Vec<String> = claims.iter().map(|c| c["setl_id"].as_str().unwrap().to_string()).collect();
    assert!(claims.iter().all(|c| c["hifp_pay"] == 75_000));
    assert_eq!(p.post(&s.clinic, &format!("/api/v1/claims/{}/cancel", setl[2]), json!({})).await.0, 200);
    pay_pending(&s, &[&setl[0], &setl[1]]).await;
    assert_eq!(p.post(&s.clinic, &format!("/api/v1/claims/{}/cancel", setl[1]), json!({})).await.0, 200);
    let recovery =
        format!("/api/v1/payment-instructions/{}/recovery", claims[1]["payment_instruction_id"].as_str().unwrap());
    let (status, body) = p.post(&p.county, &recovery, json!({"outcome": "collected", "reference": "HS-1"})).await;
    assert_eq!(status, 200, "{body}");

    let premiums = 3 * PREMIUM;
    let income = premiums + 500_000;
    let expected = json!({
        "premiums": premiums, "subsidies": 500_000, "income": income,
        "approved": 225_000, "cancelled": 150_000, "paid": 150_000,
        "recoveries_owed": 75_000, "recoveries_collected": 75_000, "written_off": 0, "paid_out": 75_000,
    });
    // The pool: income, less three approvals, plus the withdrawn one and the recovery.
    let balance = income - 225_000 + 75_000 + 75_000;
    // 75000 / 614000 = 1221.49 bp, rounded half up.
    let ratio = (75_000 * 10_000 * 2 + income) / (2 * income);
    let (status, summary) = p.get(&p.county, &format!("/api/v1/funds/{COUNTY}/summary?year={year}")).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!((&summary["county_code"], &summary["year"]), (&json!(COUNTY), &json!(year)));
    for figure in FLOWS {
        assert_eq!(summary[figure], expected[figure], "{figure}: {summary}");
    }
    assert_eq!(
        (&summary["balance"], &summary["payable"], &summary["recoveries_outstanding"], &summary["use_ratio_bp"]),
        (&json!(balance), &json!(0), &json!(0), &json!(ratio)),
        "{summary}"
    );
    assert_eq!(
        summary["claims"],
        json!([{"med_type": "21", "level": "county", "claims": 1, "medfee_sumamt": 150_001, "hifp_pay": 75_000}]),
        "only the claim still approved counts"
    );
    // The months add up to the year and end where the year ends.
    let months = summary["months"].as_array().unwrap();
    assert!(!months.is_empty());
    for figure in FLOWS {
        let sum: i64 = months.iter().map(|m| m[figure].as_i64().unwrap()).sum();
        assert_eq!(json!(sum), expected[figure], "{figure} by month: {summary}");
    }
    let last = months.last().unwrap();
    assert_eq!((&last["balance"], &last["use_ratio_bp"]), (&json!(balance), &json!(ratio)));
    let claimed: i64 =
        months.iter().flat_map(|m| m["claims"].as_array().unwrap()).map(|g| g["claims"].as_i64().unwrap()).sum();
    assert_eq!(claimed, 1);
    assert_eq!(last["month"], json!(month_of(china_now().date())));
    // The balances of the fund agree.
    let (_, fund) = p.get(&p.admin, &format!("/api/v1/funds/{COUNTY}?year={year}")).await;
    assert_eq!(fund["years"][0]["balances"]["fund_pool"], json!(balance), "{fund}");

    // The province: every county summed.
    let (status, all) = p.get(&p.admin, &format!("/api/v1/funds/all/summary?year={year}")).await;
    assert_eq!((status, &all["county_code"]), (200, &json!("all")), "{all}");
    assert_eq!((&all["subsidies"], &all["income"]), (&json!(500_000 + 1234), &json!(income + 1234)));
    assert_eq!(
        (&all["balance"], &all["paid_out"], &all["claims"]),
        (&json!(balance + 1234), &json!(75_000), &summary["claims"])
    );
    let (_, auditor) = p.app.client(&p.admin, "auditor", &[]).await;
    let (status, seen) = p.get(&auditor, &format!("/api/v1/funds/{COUNTY}/summary?year={year}")).await;
    assert_eq!((status, seen), (200, summary.clone()));
    // Another year has nothing.
    let (status, next) = p.get(&p.admin, &format!("/api/v1/funds/{COUNTY}/summary?year={}", year + 1)).await;
    assert_eq!(
        (status, &next["income"], &next["months"], &next["use_ratio_bp"]),
        (200, &json!(0), &json!([]), &Value::Null)
    );

    // Who may read it.
    let (_, other_office) = p.app.client(&p.admin, "county_office", &["210803"]).await;
    let r = p
        .app
        .http
        .get(format!("{}/api/v1/funds/{COUNTY}/summary", p.gw))
        .bearer_auth(&other_office)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let r = p.app.http.get(format!("{}/api/v1/funds/all/summary", p.gw)).bearer_auth(&p.county).send().await.unwrap();
    assert_problem(r, 404, "not_found").await;
    let r =
        p.app.http.get(format!("{}/api/v1/funds/{COUNTY}/summary", p.gw)).bearer_auth(&s.clinic).send().await.unwrap();
    assert_problem(r, 403, "role_not_allowed").await;
    let r = p.app.http.get(format!("{}/api/v1/funds/{COUNTY}/summary", p.gw)).send().await.unwrap();
    assert_problem(r, 401, "missing_token").await;
    let (status, current) = p.get(&p.county, &format!("/api/v1/funds/{COUNTY}/summary")).await;
    assert_eq!((status, &current["year"]), (200, &json!(year)), "this year when none is given");
    let r = p
        .app
        .http
        .get(format!("{}/api/v1/funds/{COUNTY}/summary?year=1999", p.gw))
        .bearer_auth(&p.county)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "year_invalid");
    let r = p
        .app
        .http
        .get(format!("{}/api/v1/funds/{COUNTY}/summary?year=abc", p.gw))
        .bearer_auth(&p.county)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_query").await;

    let out = tokio::task::block_in_place(|| p.app.env.cli(&["ledger", "check"]));
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
