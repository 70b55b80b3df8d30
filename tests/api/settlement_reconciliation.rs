//! Reconciliation with clinics through the gateway: totals (3201) that agree and that
//! differ, with the scheme's figures beside the clinic's; a detail reconciliation
//! (3202) of 10,000 settlements that agree and one of each difference code, as CSV and
//! as JSON, its differences paged and as CSV, over the route's own body limit; bad
//! periods and bad rows refused precisely (row and field), nothing kept of them; an
//! Idempotency-Key replaying a detail upload.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use chrono::{Datelike, Duration as Days, NaiveDate, Utc};
use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::*;

on_both_backends!(
    totals_agree_or_differ_with_both_sides_figures,
    a_detail_reconciliation_lists_one_difference_of_each_code_among_ten_thousand_that_agree,
    bad_detail_uploads_are_refused_row_by_row_and_leave_nothing,
);

const COUNTY: &str = "210804";
const CLINIC: &str = "H21080400001";
const OTHER_CLINIC: &str = "H21080400002";
const HEADER: &str = "setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,refd_setl_flag";

/// Now in China, where the platform's times and the reconciliation's days are.
fn china_now() -> chrono::NaiveDateTime {
    (Utc::now() + Days::hours(8)).naive_utc()
}

fn china_today() -> NaiveDate {
    china_now().date()
}

/// A period from yesterday to today: settlements made a moment ago are in it whatever
/// the hour.
fn recent() -> (String, String) {
    (china_today().pred_opt().unwrap().to_string(), china_today().to_string())
}

fn policy(year: i32) -> Value {
    json!({
        "effective_from": format!("{year}-01-01"),
        "levels": {
            "village": {"deductible": 10000, "ratio": 8500},
            "township": {"deductible": 10000, "ratio": 8500},
            "county": {"deductible": 30000, "ratio": 7500},
            "municipal": {"deductible": 60000, "ratio": 6000},
            "provincial": {"deductible": 100000, "ratio": 5000}
        },
        "inpatient_annual_cap": 15_000_000,
        "outpatient": {"ratio": 5000, "deductible_per_visit": 0, "annual_cap": 40000},
        "chronic": {"ratio": 6000, "annual_cap": 300_000},
        "premium_per_person": 38000,
        "subsidy_per_person": 61000
    })
}

/// A clinic's desk: people with activated, enrolled and paid cards, and the clinic's
/// token.
struct Desk {
    p: Province,
    clinic: String,
    other: String,
    cards: Vec<String>,
    /// Message ids are made from one moment back, 10,000 a second.
    base: chrono::NaiveDateTime,
    sent: AtomicU32,
}

impl Desk {
    async fn new(backend: Backend, n: usize, env: &[(&str, &str)]) -> Desk {
        let mut vars =
            vec![("HEALTHCARD_RATE_LIMIT_PER_SECOND", "1000000"), ("HEALTHCARD_RATE_LIMIT_BURST", "1000000")];
        vars.extend_from_slice(env);
        let p = Province::new(backend, &vars).await;
        let year = china_now().year();
        assert_eq!(p.put(&p.admin, &format!("/api/v1/policies/{COUNTY}/{year}"), policy(year)).await.0, 201);
        assert_eq!(
            p.put(&p.admin, &format!("/api/v1/bank-assignments/{COUNTY}"), json!({"bank": "BANK-P"})).await.0,
            200
        );
        let (_, clinic) = p.app.client(&p.admin, "clinic", &[CLINIC]).await;
        let (_, other) = p.app.client(&p.admin, "clinic", &[OTHER_CLINIC]).await;
        let (_, bank) = p.app.client(&p.admin, "bank", &["BANK-P"]).await;
        let cards = p.activated_cards(&people(n), 1).await;
        for card in &cards {
            eventually("card in settlement", || async {
                p.get(&clinic, &format!("/api/v1/eligibility?card_no={card}")).await.0 == 200
            })
            .await;
        }
        let rows: Vec<Value> = cards.iter().map(|c| json!({"card_no": c, "year": year})).collect();
        assert_eq!(p.post(&p.county, "/api/v1/enrollments", Value::Array(rows)).await.0, 200);
        let (status, run) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
        assert_eq!(status, 201, "{run}");
        let (_, envelopes) = p.get(&bank, "/api/v1/debit-envelopes?state=pending").await;
        let mut answers = Vec::new();
        for e in envelopes["items"].as_array().unwrap() {
            let (_, full) =
                p.get(&bank, &format!("/api/v1/debit-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
            for line in full["instructions"].as_array().unwrap() {
                answers.push(
                    json!({"instruction_id": line["instruction_id"], "outcome": "collected", "bank_reference": "P"}),
                );
            }
        }
        let (status, report) = p.post(&bank, "/api/v1/debit-instructions/results", json!({ "results": answers })).await;
        assert_eq!(status, 200, "{report}");
        // Admissions are stamped to the second and must follow the activation.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        Desk { p, clinic, other, cards, base: china_now(), sent: AtomicU32::new(0) }
    }

    fn msgid(&self) -> String {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        let at = self.base - Days::seconds(i64::from(n / 10_000));
        format!("{CLINIC}{}{:04}", at.format("%Y%m%d%H%M%S"), n % 10_000)
    }

    /// Settles a claim of `med_type` on card `card` with `inscp` in scope and 300 fen
    /// outside it; returns the settlement.
    async fn settle(&self, card: usize, med_type: &str, inscp: i64) -> Value {
        let msgid = self.msgid();
        let now = china_now();
        let (begin, end) = ((now - Days::seconds(1)).format("%Y-%m-%d %H:%M:%S"), now.format("%Y-%m-%d %H:%M:%S"));
        let level = if med_type == "21" { "county" } else { "village" };
        let body = json!({
            "msgid": msgid, "ipt_otp_no": format!("N{}", &msgid[12..]), "mdtrt_cert_type": "03",
            "mdtrt_cert_no": self.cards[card], "insutype": "390", "med_type": med_type, "level": level,
            "begntime": begin.to_string(), "endtime": end.to_string(),
            "medfee_sumamt": inscp + 300, "fulamt_ownpay_amt": 100, "overlmt_selfpay": 100,
            "preselfpay_amt": 100, "inscp_scp_amt": inscp
        });
        let (status, settled) = self.p.post(&self.clinic, "/api/v1/claims", body).await;
        assert_eq!(status, 200, "{settled}");
        settled
    }

    async fn cancel(&self, settled: &Value) {
        let path = format!("/api/v1/claims/{}/cancel", settled["setl_id"].as_str().unwrap());
        let (status, body) = self.p.post(&self.clinic, &path, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn upload(&self, token: &str, query: &str, content_type: &str, body: String) -> reqwest::Response {
        self.p
            .app
            .http
            .post(format!("{}/api/v1/reconciliations/detail?{query}", self.p.gw))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

fn amount(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} in {v}"))
}

/// `{medfee_sumamt, fund_pay_sumamt, fixmedins_setl_cnt}` of settlements.
fn figures(settled: &[&Value]) -> Value {
    json!({
        "medfee_sumamt": settled.iter().map(|s| amount(s, "medfee_sumamt")).sum::<i64>(),
        "fund_pay_sumamt": settled.iter().map(|s| amount(s, "fund_pay_sumamt")).sum::<i64>(),
        "fixmedins_setl_cnt": settled.len(),
    })
}

fn totals_body(clr_type: &str, f: &Value) -> Value {
    let (begin, end) = recent();
    json!({
        "stmt_begndate": begin, "stmt_enddate": end, "insutype": "390", "clr_type": clr_type,
        "medfee_sumamt": f["medfee_sumamt"], "fund_pay_sumamt": f["fund_pay_sumamt"],
        "fixmedins_setl_cnt": f["fixmedins_setl_cnt"]
    })
}

fn field_codes(problem: &Value) -> Vec<(Option<u64>, String, String)> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["row"].as_u64(), e["field"].as_str().unwrap().into(), e["code"].as_str().unwrap().into()))
                .collect()
        })
        .unwrap_or_default()
}

async fn totals_agree_or_differ_with_both_sides_figures(backend: Backend) {
    let d = Desk::new(backend, 2, &[]).await;
    let a = d.settle(0, "11", 10_000).await;
    let b = d.settle(0, "11", 8_000).await;
    let c = d.settle(1, "21", 900_000).await;
    d.cancel(&b).await;
    assert!(amount(&a, "fund_pay_sumamt") > 0 && amount(&b, "fund_pay_sumamt") > 0, "{a} {b}");

    // Everything that stands, as the clinic counts it: they agree.
    let (status, agreed) = d.p.post(&d.clinic, "/api/v1/reconciliations", totals_body("99", &figures(&[&a, &c]))).await;
    assert_eq!(status, 201, "{agreed}");
    assert_eq!((agreed["stmt_rslt"].as_str(), agreed["kind"].as_str()), (Some("0"), Some("totals")), "{agreed}");
    assert_eq!(agreed["scheme"], figures(&[&a, &c]));
    assert_eq!(agreed["clinic"], agreed["scheme"]);
    assert_eq!(agreed["scheme_cancelled"], figures(&[&b]), "a cancelled settlement is shown beside, not counted");
    assert_eq!(agreed["differing_totals"], json!([]));
    assert_eq!(agreed["fixmedins_code"], CLINIC);
    assert!(agreed.get("rows").is_none());
    let id = agreed["id"].as_str().unwrap();
    let (status, read) = d.p.get(&d.clinic, &format!("/api/v1/reconciliations/{id}")).await;
    assert_eq!((status, &read), (200, &agreed));

    // The clearing type narrows by med_type.
    let (_, inpatient) = d.p.post(&d.clinic, "/api/v1/reconciliations", totals_body("21", &figures(&[&c]))).await;
    assert_eq!(inpatient["stmt_rslt"], "0", "{inpatient}");
    // A clinic that missed the cancel: they differ, both sides shown.
    let (status, differ) = d.p.post(&d.clinic, "/api/v1/reconciliations", totals_body("11", &figures(&[&a, &b]))).await;
    assert_eq!(status, 201, "{differ}");
    assert_eq!(differ["stmt_rslt"], "1", "{differ}");
    assert_eq!(differ["clinic"], figures(&[&a, &b]));
    assert_eq!(differ["scheme"], figures(&[&a]));
    assert_eq!(differ["differing_totals"], json!(["medfee_sumamt", "fund_pay_sumamt", "fixmedins_setl_cnt"]));
    assert_eq!(differ["stmt_rslt_dscr"], "medfee_sumamt, fund_pay_sumamt, fixmedins_setl_cnt differ");
    // A day without settlements agrees at zero.
    let quiet = (china_today() - Days::days(10)).to_string();
    let mut none = totals_body("99", &figures(&[]));
    none["stmt_begndate"] = json!(quiet);
    none["stmt_enddate"] = json!(quiet);
    let (_, zero) = d.p.post(&d.clinic, "/api/v1/reconciliations", none).await;
    assert_eq!((zero["stmt_rslt"].as_str(), &zero["scheme"]), (Some("0"), &figures(&[])), "{zero}");

    // Only the clinic itself sees it.
    assert_eq!(d.p.get(&d.other, &format!("/api/v1/reconciliations/{id}")).await.0, 404);
    assert_eq!(d.p.get(&d.p.county, &format!("/api/v1/reconciliations/{id}")).await.0, 403);
    assert_eq!(d.p.get(&d.p.admin, &format!("/api/v1/reconciliations/{id}")).await.0, 200);
    let (status, _) = d.p.get(&d.clinic, &format!("/api/v1/reconciliations/{id}/differences")).await;
    assert_eq!(status, 404, "a totals reconciliation lists no differences");

    // An Idempotency-Key replays the first answer.
    let send = || {
        d.p.app
            .http
            .post(format!("{}/api/v1/reconciliations", d.p.gw))
            .bearer_auth(&d.clinic)
            .header("Idempotency-Key", "totals-1")
            .json(&totals_body("99", &figures(&[&a, &c])))
            .send()
    };
    let (_, first) = json_of(send().await.unwrap()).await;
    let again = send().await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(json_of(again).await.1["id"], first["id"]);

    // Bad requests: a precise code per member.
    let (begin, end) = recent();
    let tomorrow = (china_today() + Days::days(1)).to_string();
    let long_ago = (china_today() - Days::days(31)).to_string();
    let good = totals_body("99", &figures(&[&a, &c]));
    let with = |changes: Value| {
        let mut body = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        (with(json!({"stmt_enddate": tomorrow})), "stmt_enddate", "period_in_future"),
        (with(json!({"stmt_begndate": long_ago})), "stmt_enddate", "period_too_long"),
        (with(json!({"stmt_begndate": end, "stmt_enddate": begin})), "stmt_enddate", "period_reversed"),
        (with(json!({"stmt_begndate": "2026-02-30"})), "stmt_begndate", "date_invalid"),
        (with(json!({"insutype": "310"})), "insutype", "insutype_unsupported"),
        (with(json!({"clr_type": "41"})), "clr_type", "clr_type_unknown"),
        (with(json!({"medfee_sumamt": -1})), "medfee_sumamt", "amount_negative"),
        (with(json!({"fixmedins_setl_cnt": null})), "fixmedins_setl_cnt", "field_missing"),
        (with(json!({"fixmedins_code": OTHER_CLINIC})), "fixmedins_code", "fixmedins_code_not_yours"),
    ];
    for (body, field, code) in cases {
        let (status, problem) = d.p.post(&d.clinic, "/api/v1/reconciliations", body).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "{code}: {problem}");
        assert_eq!(field_codes(&problem), [(None, field.to_string(), code.to_string())], "{problem}");
    }
    let (status, problem) = d.p.post(&d.clinic, "/api/v1/reconciliations", with(json!({"acct_pay": 0}))).await;
    assert_eq!((status, problem["code"].as_str()), (400, Some("invalid_body")), "{problem}");
    assert_eq!(d.p.post(&d.p.county, "/api/v1/reconciliations", good.clone()).await.0, 403);
}

/// A settlement as the clinic's detail row lists it.
fn csv_row(s: &Value, cancelled: bool, medfee_delta: i64) -> String {
    format!(
        "{},{},{},{},{},{}",
        s["setl_id"].as_str().unwrap(),
        s["mdtrt_id"].as_str().unwrap(),
        s["psn_no"].as_str().unwrap(),
        amount(s, "medfee_sumamt") + medfee_delta,
        amount(s, "fund_pay_sumamt"),
        u8::from(cancelled)
    )
}

fn json_row(s: &Value, cancelled: bool, medfee_delta: i64) -> Value {
    json!({
        "setl_id": s["setl_id"], "mdtrt_id": s["mdtrt_id"], "psn_no": s["psn_no"],
        "medfee_sumamt": amount(s, "medfee_sumamt") + medfee_delta, "fund_pay_sumamt": s["fund_pay_sumamt"],
        "refd_setl_flag": if cancelled { "1" } else { "0" }
    })
}

fn facts(s: &Value, cancelled: bool, medfee_delta: i64) -> Value {
    let mut row = json_row(s, cancelled, medfee_delta);
    row.as_object_mut().unwrap().remove("setl_id");
    row
}

async fn a_detail_reconciliation_lists_one_difference_of_each_code_among_ten_thousand_that_agree(backend: Backend) {
    // The gateway's limit for every other route is far below the detail upload's size.
    let d = Desk::new(backend, 8, &[("HEALTHCARD_MAX_BODY_BYTES", "262144"), ("HEALTHCARD_DB_POOL_SIZE", "8")]).await;
    const AGREEING: usize = 10_000;
    let started = Instant::now();
    // Outpatient claims that use the people's caps up and then pay nothing, and a few
    // inpatient ones that pay: amounts of every kind.
    let settled: Vec<Value> = stream::iter(0..AGREEING + 2)
        .map(|i| {
            let d = &d;
            async move {
                let (med_type, inscp) =
                    if i % 1000 == 0 { ("21", 100_000 + i as i64) } else { ("11", 1000 + i as i64 % 500) };
                d.settle(i % d.cards.len(), med_type, inscp).await
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    eprintln!("{backend:?}: {} settlements through the gateway in {:.1?}", settled.len(), started.elapsed());
    let (rows, rest) = settled.split_at(AGREEING);
    let (changed, missing) = (&rest[0], &rest[1]);
    // One agreeing settlement was cancelled, and the clinic lists it so.
    d.cancel(&rows[7]).await;
    let stranger = json!({
        "setl_id": uuid::Uuid::now_v7().to_string(), "mdtrt_id": "M-LOCAL-1", "psn_no": rows[1]["psn_no"],
        "medfee_sumamt": 4321, "fund_pay_sumamt": 0
    });

    // The clinic's list: the 10,000, one with another total and listed as cancelled
    // (3), one of its own (2); the last settlement is missing (1).
    let mut lines: Vec<String> = rows.iter().enumerate().map(|(i, s)| csv_row(s, i == 7, 0)).collect();
    lines.push(csv_row(changed, true, 100));
    lines.push(format!(
        "{},{},{},4321,0,0",
        stranger["setl_id"].as_str().unwrap(),
        stranger["mdtrt_id"].as_str().unwrap(),
        stranger["psn_no"].as_str().unwrap()
    ));
    let csv = format!("{HEADER}\n{}\n", lines.join("\n"));
    assert!(csv.len() > 262_144 * 4, "the body ({} bytes) is over the general limit", csv.len());
    let (begin, end) = recent();
    let query = format!("stmt_begndate={begin}&stmt_enddate={end}&insutype=390&clr_type=99");
    let (status, summary) = json_of(d.upload(&d.clinic, &query, "text/csv", csv.clone()).await).await;
    assert_eq!(status, 201, "{summary}");
    assert_eq!((summary["kind"].as_str(), summary["stmt_rslt"].as_str()), (Some("detail"), Some("1")), "{summary}");
    assert_eq!(
        summary["rows"],
        json!({"received": AGREEING + 2, "scheme": AGREEING + 2, "agreed": AGREEING,
               "only_scheme": 1, "only_clinic": 1, "differing": 1})
    );
    let standing: Vec<&Value> = settled.iter().enumerate().filter(|(i, _)| *i != 7).map(|(_, s)| s).collect();
    assert_eq!(summary["scheme"], figures(&standing));
    assert_eq!(summary["scheme_cancelled"], figures(&[&rows[7]]));
    let mut theirs = figures(&standing[..AGREEING - 1]);
    theirs["medfee_sumamt"] = json!(amount(&theirs, "medfee_sumamt") + 4321);
    theirs["fixmedins_setl_cnt"] = json!(AGREEING);
    assert_eq!(summary["clinic"], theirs, "the clinic's totals are those of its rows that stand");
    let id = summary["id"].as_str().unwrap().to_string();

    // The differences, one of each code, both sides shown.
    let (status, page) = d.p.get(&d.clinic, &format!("/api/v1/reconciliations/{id}/differences")).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{page}");
    let by_code =
        |code: &str| items.iter().find(|i| i["stmt_rslt"] == code).unwrap_or_else(|| panic!("{code}: {page}"));
    let one = by_code("1");
    assert_eq!(
        (&one["setl_id"], &one["scheme"], &one["clinic"]),
        (&missing["setl_id"], &facts(missing, false, 0), &Value::Null)
    );
    assert!(one.get("row").is_none());
    let two = by_code("2");
    assert_eq!(
        (&two["setl_id"], two["row"].as_u64(), &two["scheme"]),
        (&stranger["setl_id"], Some(10_002), &Value::Null)
    );
    assert_eq!(
        two["clinic"],
        json!({"mdtrt_id": "M-LOCAL-1", "psn_no": rows[1]["psn_no"], "medfee_sumamt": 4321, "fund_pay_sumamt": 0, "refd_setl_flag": "0"})
    );
    let three = by_code("3");
    assert_eq!((&three["setl_id"], three["row"].as_u64()), (&changed["setl_id"], Some(10_001)));
    assert_eq!(three["fields"], json!(["medfee_sumamt", "refd_setl_flag"]));
    assert_eq!((&three["scheme"], &three["clinic"]), (&facts(changed, false, 0), &facts(changed, true, 100)));
    let (_, only3) = d.p.get(&d.clinic, &format!("/api/v1/reconciliations/{id}/differences?stmt_rslt=3")).await;
    assert_eq!(only3["items"].as_array().unwrap().len(), 1);
    let (_, first) = d.p.get(&d.clinic, &format!("/api/v1/reconciliations/{id}/differences?limit=2")).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) =
        d.p.get(&d.clinic, &format!("/api/v1/reconciliations/{id}/differences?limit=2&cursor={cursor}")).await;
    assert_eq!((first["items"].as_array().unwrap().len(), second["items"].as_array().unwrap().len()), (2, 1));
    assert!(second["next_cursor"].is_null());

    // As CSV, by Accept or by format=csv: the header and the three.
    let by_accept =
        d.p.app
            .http
            .get(format!("{}/api/v1/reconciliations/{id}/differences", d.p.gw))
            .bearer_auth(&d.clinic)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
    assert!(by_accept.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = by_accept.text().await.unwrap();
    let by_format =
        d.p.app
            .http
            .get(format!("{}/api/v1/reconciliations/{id}/differences?format=csv", d.p.gw))
            .bearer_auth(&d.clinic)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert_eq!(text, by_format);
    let csv_lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(csv_lines.len(), 4, "{text}");
    assert!(csv_lines[0].starts_with("setl_id,stmt_rslt,row,fields,scheme_mdtrt_id"), "{text}");
    let changed_line = format!(
        "{},3,10001,medfee_sumamt;refd_setl_flag,{},{},{},{},0,",
        changed["setl_id"].as_str().unwrap(),
        changed["mdtrt_id"].as_str().unwrap(),
        changed["psn_no"].as_str().unwrap(),
        amount(changed, "medfee_sumamt"),
        amount(changed, "fund_pay_sumamt")
    );
    assert!(csv_lines.iter().any(|l| l.starts_with(&changed_line)), "{changed_line} in {text}");

    // Only the clinic itself sees it.
    assert_eq!(d.p.get(&d.other, &format!("/api/v1/reconciliations/{id}")).await.0, 404);
    assert_eq!(d.p.get(&d.other, &format!("/api/v1/reconciliations/{id}/differences")).await.0, 404);

    // The same list as a JSON array: the same findings.
    let mut array: Vec<Value> = rows.iter().enumerate().map(|(i, s)| json_row(s, i == 7, 0)).collect();
    array.push(json_row(changed, true, 100));
    let mut own = stranger.clone();
    own["refd_setl_flag"] = json!("0");
    array.push(own);
    let (status, again) =
        json_of(d.upload(&d.clinic, &query, "application/json", Value::Array(array).to_string()).await).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        (&again["rows"], &again["clinic"], &again["scheme"]),
        (&summary["rows"], &summary["clinic"], &summary["scheme"])
    );
    assert_ne!(again["id"], summary["id"]);

    // Every other route keeps the general limit; the scratch rows are gone once answered.
    let big: Vec<Value> = (0..6000).map(|_| json!({"card_no": d.cards[0], "year": 2027})).collect();
    let (status, problem) = d.p.post(&d.p.county, "/api/v1/enrollments", Value::Array(big)).await;
    assert_eq!((status, problem["code"].as_str()), (413, Some("body_too_large")), "{problem}");
    let mut db = Direct::open(&d.p.app.env, "settlement");
    eventually("scratch rows deleted", || {
        let left = db.texts("SELECT CAST(COUNT(*) AS TEXT) AS v FROM reconciliation_rows");
        async move { left == ["0"] }
    })
    .await;
}

async fn bad_detail_uploads_are_refused_row_by_row_and_leave_nothing(backend: Backend) {
    let d = Desk::new(backend, 1, &[("HEALTHCARD_RECONCILIATION_MAX_BODY_BYTES", "200000")]).await;
    let a = d.settle(0, "11", 10_000).await;
    let b = d.settle(0, "21", 200_000).await;
    let (begin, end) = recent();
    let query = format!("stmt_begndate={begin}&stmt_enddate={end}&insutype=390&clr_type=99");
    let problem_of = |r: reqwest::Response| async move { json_of(r).await };

    // Bad rows: every one, by row and field; the good rows are not compared.
    let csv = format!(
        "{HEADER}\n{}\nS-0001,m,p,100,0,0\n{}\n{},m,p,1.50,-2,2\n1,2\n",
        csv_row(&a, false, 0),
        csv_row(&b, false, 0),
        a["setl_id"].as_str().unwrap().to_uppercase()
    );
    let (status, problem) = problem_of(d.upload(&d.clinic, &query, "text/csv", csv).await).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "{problem}");
    let row = |n: u64, field: &str, code: &str| (Some(n), field.to_string(), code.to_string());
    assert_eq!(
        field_codes(&problem),
        [
            row(2, "setl_id", "setl_id_invalid"),
            row(4, "medfee_sumamt", "amount_invalid"),
            row(4, "fund_pay_sumamt", "amount_negative"),
            row(4, "refd_setl_flag", "refd_setl_flag_invalid"),
            row(5, "row", "row_malformed"),
        ]
    );
    let json_rows = json!([json_row(&a, false, 0), {"setl_id": b["setl_id"], "mdtrt_id": "m", "psn_no": "p",
        "medfee_sumamt": 1, "fund_pay_sumamt": 0, "refd_setl_flag": "0", "acct_pay": 0}, "row"]);
    let (status, problem) =
        problem_of(d.upload(&d.clinic, &query, "application/json", json_rows.to_string()).await).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(field_codes(&problem), [row(2, "acct_pay", "field_unknown"), row(3, "row", "row_malformed")]);
    // A settlement listed twice (in either case).
    let twice = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        csv_row(&a, false, 0),
        csv_row(&b, false, 0),
        csv_row(&a, false, 0).to_uppercase()
    );
    let (status, problem) = problem_of(d.upload(&d.clinic, &query, "text/csv", twice).await).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(field_codes(&problem), [row(3, "setl_id", "setl_id_duplicate")], "{problem}");

    // Bad uploads as a whole, and bad periods before anything is read.
    let good = format!("{HEADER}\n{}\n{}\n", csv_row(&a, false, 0), csv_row(&b, false, 0));
    let r = d.upload(&d.clinic, &query, "text/csv", "setl_id,mdtrt_id\nx,y\n".into()).await;
    assert_problem(r, 422, "column_missing").await;
    let r = d.upload(&d.clinic, &query, "application/json", "[{\"setl_id\":".into()).await;
    assert_problem(r, 400, "malformed_json").await;
    let r = d.upload(&d.clinic, &query, "text/plain", good.clone()).await;
    assert_problem(r, 415, "unsupported_media_type").await;
    let tomorrow = (china_today() + Days::days(1)).to_string();
    let future = format!("stmt_begndate={begin}&stmt_enddate={tomorrow}&insutype=390&clr_type=99");
    let (status, problem) = problem_of(d.upload(&d.clinic, &future, "text/csv", good.clone()).await).await;
    assert_eq!((status, field_codes(&problem)), (422, vec![(None, "stmt_enddate".into(), "period_in_future".into())]));
    let long_ago = (china_today() - Days::days(40)).to_string();
    let long = format!("stmt_begndate={long_ago}&stmt_enddate={end}&insutype=390&clr_type=11");
    let (status, problem) = problem_of(d.upload(&d.clinic, &long, "text/csv", good.clone()).await).await;
    assert_eq!((status, field_codes(&problem)), (422, vec![(None, "stmt_enddate".into(), "period_too_long".into())]));
    let huge = format!("{HEADER}\n{}\n", vec![csv_row(&a, false, 0); 2000].join("\n"));
    assert!(huge.len() > 200_000);
    assert_problem(d.upload(&d.clinic, &query, "text/csv", huge).await, 413, "body_too_large").await;
    assert_eq!(d.upload(&d.p.county, &query, "text/csv", good.clone()).await.status(), 403);

    // Nothing was kept of any of them.
    let mut db = Direct::open(&d.p.app.env, "settlement");
    assert_eq!(db.texts("SELECT CAST(COUNT(*) AS TEXT) AS v FROM reconciliations"), ["0"]);
    assert_eq!(db.texts("SELECT CAST(COUNT(*) AS TEXT) AS v FROM reconciliation_rows"), ["0"]);

    // An Idempotency-Key: the same upload answers the first reconciliation again; the
    // key with another list is refused.
    let send = |body: String| {
        d.p.app
            .http
            .post(format!("{}/api/v1/reconciliations/detail?{query}", d.p.gw))
            .bearer_auth(&d.clinic)
            .header("content-type", "text/csv")
            .header("Idempotency-Key", "detail-1")
            .body(body)
            .send()
    };
    let (status, first) = json_of(send(good.clone()).await.unwrap()).await;
    assert_eq!((status, first["stmt_rslt"].as_str()), (201, Some("0")), "{first}");
    assert_eq!(first["rows"]["agreed"], 2);
    let replay = send(good.clone()).await.unwrap();
    assert_eq!(replay.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(json_of(replay).await.1["id"], first["id"]);
    let other = format!("{HEADER}\n{}\n", csv_row(&a, false, 0));
    assert_problem(send(other).await.unwrap(), 422, "idempotency_key_reused").await;
    eventually("only the first reconciliation kept", || {
        let kept = db.texts("SELECT id AS v FROM reconciliations");
        let rows = db.texts("SELECT CAST(COUNT(*) AS TEXT) AS v FROM reconciliation_rows");
        let first = first["id"].as_str().unwrap().to_string();
        async move { kept == [first] && rows == ["0"] }
    })
    .await;

    // Both settlements listed with another visit or person: code 3, the member named.
    let mut other_visit = json_row(&a, false, 0);
    other_visit["mdtrt_id"] = json!("M-LOCAL-9");
    let mut other_person = json_row(&b, false, 0);
    other_person["psn_no"] = json!("P-LOCAL-9");
    let list = json!([other_visit, other_person]).to_string();
    let (status, ids) = json_of(d.upload(&d.clinic, &query, "application/json", list).await).await;
    assert_eq!(
        (status, ids["rows"]["differing"].as_i64(), ids["rows"]["agreed"].as_i64()),
        (201, Some(2), Some(0)),
        "{ids}"
    );
    let path = format!("/api/v1/reconciliations/{}/differences", ids["id"].as_str().unwrap());
    let (_, page) = d.p.get(&d.clinic, &path).await;
    let mut fields: Vec<Value> = page["items"].as_array().unwrap().iter().map(|i| i["fields"].clone()).collect();
    fields.sort_by_key(|f| f.to_string());
    assert_eq!(fields, [json!(["mdtrt_id"]), json!(["psn_no"])]);
}
