//! Settlement through the gateway: a card activated in card making becomes a card
//! holder in settlement, eligible once enrolled and paid; a lost card is refused and a
//! replacement carries the enrollment over; enrollment by card number and by citizen
//! ID, as JSON and as CSV, with row errors; every eligibility lookup is logged, also
//! across a graceful stop; premiums are collected by batch debit exactly once, with
//! the bank's answers repeated and contradicted, failures listed and collected by a
//! later run, instructions of a lost card withdrawn before the bank pulls them, and the
//! ledger balanced and checked at the end.

use std::time::Duration;

use chrono::Datelike;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::*;

on_both_backends!(
    an_activated_card_is_eligible_once_enrolled_and_paid_and_its_replacement_too,
    premiums_are_collected_by_batch_debit_exactly_once,
    card_status_applies_in_order_once_whatever_order_it_arrives_in,
    status_messages_waiting_in_the_earlier_form_reach_settlement,
);

pub(crate) const COUNTY: &str = "210804";
pub(crate) const PREMIUM: i64 = 38000;

/// This year in China, where the scheme's years are counted.
pub(crate) fn this_year() -> i32 {
    (chrono::Utc::now() + chrono::Duration::hours(8)).year()
}

pub(crate) fn policy(year: i32) -> Value {
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
        "premium_per_person": PREMIUM,
        "subsidy_per_person": 61000
    })
}

/// A county with a policy and a bank, a clinic and the bank's client: shared with
/// the payment tests.
pub(crate) struct Scheme {
    pub(crate) p: Province,
    pub(crate) clinic: String,
    pub(crate) bank: String,
    pub(crate) year: i32,
}

impl Scheme {
    pub(crate) async fn new(backend: Backend, env: &[(&str, &str)]) -> Scheme {
        Scheme::with_policy(backend, env, policy(this_year())).await
    }

    /// [`Scheme::new`] with the county's policy for this year given.
    pub(crate) async fn with_policy(backend: Backend, env: &[(&str, &str)], policy: Value) -> Scheme {
        let p = Province::new(backend, env).await;
        let year = this_year();
        let (status, body) = p.put(&p.admin, &format!("/api/v1/policies/{COUNTY}/{year}"), policy).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) =
            p.put(&p.admin, &format!("/api/v1/bank-assignments/{COUNTY}"), json!({"bank": "BANK-P"})).await;
        assert_eq!(status, 200, "{body}");
        let (_, clinic) = p.app.client(&p.admin, "clinic", &["H21080400001"]).await;
        let (_, bank) = p.app.client(&p.admin, "bank", &["BANK-P"]).await;
        Scheme { p, clinic, bank, year }
    }

    pub(crate) async fn eligibility(&self, card: &str) -> (u16, Value) {
        self.p.get(&self.clinic, &format!("/api/v1/eligibility?card_no={card}&purpose=admission")).await
    }

    /// Waits until settlement has heard of the card in `state`.
    pub(crate) async fn wait_card(&self, card: &str, state: &str) -> Value {
        eventually(&format!("card {card} {state} in settlement"), || async {
            let (status, body) = self.eligibility(card).await;
            status == 200 && body["card_state"] == state
        })
        .await;
        self.eligibility(card).await.1
    }

    pub(crate) async fn enroll_json(&self, rows: Value) -> (u16, Value) {
        self.p.post(&self.p.county, "/api/v1/enrollments", rows).await
    }

    pub(crate) async fn pending_envelopes(&self) -> Vec<Value> {
        let (status, body) = self.p.get(&self.bank, "/api/v1/debit-envelopes?state=pending").await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    pub(crate) async fn answer(&self, results: Value) -> (u16, Value) {
        self.p.post(&self.bank, "/api/v1/debit-instructions/results", json!({ "results": results })).await
    }
}

pub(crate) fn codes(problem: &Value) -> Vec<(u64, String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap_or(0),
                e["field"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn an_activated_card_is_eligible_once_enrolled_and_paid_and_its_replacement_too(backend: Backend) {
    let s = Scheme::new(backend, &[]).await;
    let p = &s.p;
    let folks = people(3);
    let cards = p.activated_cards(&folks, 1).await;
    let year = s.year;

    // Settlement hears of the cards from card making; never enrolled yet.
    for card in &cards[1..] {
        s.wait_card(card, "activated").await;
    }
    let first = s.wait_card(&cards[0], "activated").await;
    assert_eq!(first["eligible"], false, "{first}");
    assert_eq!(first["reasons"], json!(["not_enrolled"]));
    assert_eq!(first["holder"]["name"].as_str().unwrap().chars().nth(1), Some('*'), "{first}");
    assert_eq!(first["holder"]["birth_year"].as_i64(), Some(folks[0].id[6..10].parse().unwrap()));
    assert_eq!((first["county_code"].as_str(), first["village"].as_str()), (Some(COUNTY), Some("前进村")));
    assert!(!first.to_string().contains(&folks[0].id), "no citizen ID in {first}");
    assert_eq!(first["policy_version"], 1);
    assert_eq!(first["caps"]["inpatient"], json!({"cap": 15_000_000, "used": 0, "left": 15_000_000}));
    let (status, body) = s.p.get(&s.clinic, &format!("/api/v1/eligibility?card_no={}", pan(999))).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = s.p.get(&s.clinic, "/api/v1/eligibility?card_no=12345&date=2026-13-01").await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<String> = codes(&body).into_iter().map(|(_, f, _)| f).collect();
    assert_eq!(fields, ["card_no", "date"], "{body}");

    // Enrollment: by card number and by citizen ID, with every bad row named.
    let (status, report) = s
        .enroll_json(json!([
            {"card_no": cards[0], "year": year},
            {"citizen_id": folks[1].id, "year": year},
            {"card_no": cards[0], "year": year},
            {"card_no": "6222020000000000001", "year": year},
            {"card_no": pan(999), "year": year},
            {"card_no": cards[2], "year": year + 5},
            {"card_no": cards[2], "citizen_id": folks[2].id, "year": year},
            {"year": year},
            {"card_no": cards[2], "year": "soon"}
        ]))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["received"].as_u64(), report["enrolled"].as_u64()), (Some(9), Some(2)), "{report}");
    assert_eq!(report["already_enrolled"], json!([{"row": 3, "psn_no": first["psn_no"], "year": year}]));
    assert_eq!(
        codes(&report),
        [
            (4, "card_no".into(), "card_no_bad_checksum".into()),
            (5, "card_no".into(), "person_not_found".into()),
            (6, "year".into(), "no_policy".into()),
            (7, "card_no".into(), "person_named_twice".into()),
            (8, "card_no".into(), "person_missing".into()),
            (9, "year".into(), "year_invalid".into()),
        ],
        "{report}"
    );
    assert_eq!(report["rejected"], 6);
    // Another county's office finds none of these people.
    let (_, other) = p.app.client(&p.admin, "county_office", &["210803"]).await;
    let (status, report) = p.post(&other, "/api/v1/enrollments", json!([{"card_no": cards[2], "year": year}])).await;
    assert_eq!((status, codes(&report)), (200, vec![(1, "card_no".into(), "person_not_found".into())]), "{report}");
    let (status, _) = p.get(&other, &format!("/api/v1/enrollments?card_no={}&year={year}", cards[0])).await;
    assert_eq!(status, 404);

    // CSV in GB18030, the Chinese header; enrolling again says so.
    let csv = format!("身份证号,卡号,年度\n{},,{year}\n,{},{year}\n", folks[2].id, cards[0]);
    let (gb, _, _) = encoding_rs::GB18030.encode(&csv);
    let r = p
        .app
        .http
        .post(format!("{}/api/v1/enrollments", p.gw))
        .bearer_auth(&p.county)
        .header("content-type", "text/csv; charset=gb18030")
        .body(gb.into_owned())
        .send()
        .await
        .unwrap();
    let (status, report) = json_of(r).await;
    assert_eq!(
        (status, report["enrolled"].as_u64(), report["already_enrolled"][0]["row"].as_u64()),
        (200, Some(1), Some(2)),
        "{report}"
    );

    let enrolled = s.eligibility(&cards[0]).await.1;
    assert_eq!((enrolled["enrolled"].as_bool(), enrolled["paid"].as_bool()), (Some(true), Some(false)));
    assert_eq!(enrolled["reasons"], json!(["premium_unpaid"]));
    let (status, one) = p.get(&p.county, &format!("/api/v1/enrollments?card_no={}&year={year}", cards[0])).await;
    assert_eq!(
        (status, one["paid"].as_bool(), one["psn_no"].clone()),
        (200, Some(false), first["psn_no"].clone()),
        "{one}"
    );
    let (status, list) =
        p.get(&p.county, &format!("/api/v1/enrollments?county={COUNTY}&year={year}&paid=false&limit=2")).await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (200, Some(2)), "{list}");
    assert!(list["next_cursor"].is_string(), "{list}");

    // The premium is collected: eligible.
    let (status, run) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
    assert_eq!((status, run["instruction_count"].as_i64()), (201, Some(3)), "{run}");
    let envelope = &s.pending_envelopes().await[0];
    let (_, envelope) =
        p.get(&s.bank, &format!("/api/v1/debit-envelopes/{}", envelope["envelope_id"].as_str().unwrap())).await;
    let answers: Vec<Value> = envelope["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, line)| json!({"instruction_id": line["instruction_id"], "outcome": "collected", "bank_reference": format!("B{i}")}))
        .collect();
    let (status, report) = s.answer(Value::Array(answers)).await;
    assert_eq!((status, report["collected"].as_u64()), (200, Some(3)), "{report}");
    let paid = s.eligibility(&cards[0]).await.1;
    assert_eq!((paid["eligible"].as_bool(), paid["reasons"].clone()), (Some(true), json!([])), "{paid}");

    // Lost: refused. Found: eligible again. Replaced: the new card carries the person
    // over, paid; the old one is dead.
    let (status, _) = p.post(&p.county, &format!("/api/v1/cards/{}/report-loss", cards[0]), json!({})).await;
    assert_eq!(status, 200);
    let lost = s.wait_card(&cards[0], "reported_lost").await;
    assert_eq!((lost["eligible"].as_bool(), lost["reasons"].clone()), (Some(false), json!(["card_lost"])));
    let (status, _) = p.post(&p.county, &format!("/api/v1/cards/{}/replace", cards[0]), json!({})).await;
    assert_eq!(status, 200);
    let lease = p.lease(&p.maker, 5).await;
    let order = order_ids(&lease);
    let new_card = pan(500);
    let (status, _) = p.results(&p.maker, &lease, json!([produced(&order[0], &new_card)])).await;
    assert_eq!(status, 200);
    let (status, _) = p.post(&p.county, "/api/v1/cards/issue", json!({"card_numbers": [new_card]})).await;
    assert_eq!(status, 200);
    // Settlement hears of a card when it is activated.
    assert_eq!(s.eligibility(&new_card).await.0, 404);
    let (status, _) = p.post(&p.county, &format!("/api/v1/cards/{new_card}/activate"), json!({})).await;
    assert_eq!(status, 200);
    let new = s.wait_card(&new_card, "activated").await;
    assert_eq!((new["eligible"].as_bool(), new["psn_no"].clone()), (Some(true), first["psn_no"].clone()), "{new}");
    let old = s.wait_card(&cards[0], "replaced").await;
    assert_eq!(old["reasons"], json!(["card_replaced"]));
    let (_, one) = p.get(&p.county, &format!("/api/v1/enrollments?card_no={new_card}&year={year}")).await;
    assert_eq!(
        (one["card_no"].as_str(), one["paid_amount"].as_i64()),
        (Some(new_card.as_str()), Some(PREMIUM)),
        "{one}"
    );

    // Every lookup is in the access log, also the last ones before a graceful stop.
    let (_, auditor) = p.app.client(&p.admin, "auditor", &[]).await;
    let (status, log) = p.get(&auditor, &format!("/api/v1/eligibility/access-log?card_no={new_card}&limit=1000")).await;
    assert_eq!(status, 200, "{log}");
    let before = log["items"].as_array().unwrap().len();
    assert!(before >= 2, "{log}");
    assert_eq!(log["items"][0]["purpose"], "admission");
    let (status, _) = p.get(&p.county, "/api/v1/eligibility/access-log").await;
    assert_eq!(status, 403);
    for _ in 0..5 {
        assert_eq!(s.eligibility(&new_card).await.0, 200);
    }
    let Scheme { p, .. } = s;
    let Province { mut app, admin, .. } = p;
    app.proc.terminate(Duration::from_secs(30));
    app.proc = tokio::task::block_in_place(|| app.env.start("all", &[]));
    let (_, auditor) = app.client(&admin, "auditor", &[]).await;
    let r = app
        .http
        .get(format!("{}/api/v1/eligibility/access-log?card_no={new_card}&limit=1000", app.gateway()))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    let (_, log) = json_of(r).await;
    assert_eq!(log["items"].as_array().unwrap().len(), before + 5, "{log}");
}

async fn premiums_are_collected_by_batch_debit_exactly_once(backend: Backend) {
    let s = Scheme::new(backend, &[("HEALTHCARD_DEBIT_ENVELOPE_SIZE", "2")]).await;
    let p = &s.p;
    let year = s.year;
    let folks = people(4);
    let cards = p.activated_cards(&folks, 1).await;
    for card in &cards {
        s.wait_card(card, "activated").await;
    }

    // No one enrolled: an empty run is refused, not created.
    let (status, body) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("nothing_to_debit")), "{body}");
    let (status, body) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": "210803", "year": year})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("no_bank_assigned")), "{body}");
    let rows: Vec<Value> = cards.iter().map(|c| json!({"card_no": c, "year": year})).collect();
    let (status, report) = s.enroll_json(Value::Array(rows)).await;
    assert_eq!((status, report["enrolled"].as_u64()), (200, Some(4)), "{report}");

    // One instruction per person, two to an envelope, each with its header.
    let (status, run) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(
        (run["instruction_count"].as_i64(), run["total"].as_i64(), run["premium"].as_i64()),
        (Some(4), Some(4 * PREMIUM), Some(PREMIUM))
    );
    assert_eq!(run["envelopes"].as_array().map(Vec::len), Some(2));
    let run_id = run["id"].as_str().unwrap().to_string();
    // A second run while the first is unanswered asks no one twice.
    let (status, body) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("nothing_to_debit")), "{body}");

    // A card lost before its envelope is pulled is withdrawn from it.
    let (status, _) = p.post(&p.county, &format!("/api/v1/cards/{}/report-loss", cards[3]), json!({})).await;
    assert_eq!(status, 200);
    s.wait_card(&cards[3], "reported_lost").await;
    let mut envelopes = s.pending_envelopes().await;
    envelopes.sort_by_key(|e| e["count"].as_i64());
    assert_eq!(envelopes.iter().map(|e| e["count"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2], "{envelopes:?}");
    assert_eq!(envelopes[0]["total"], PREMIUM);
    // Other banks see none of them.
    let (_, stranger) = p.app.client(&p.admin, "bank", &["BANK-Q"]).await;
    let (_, none) = p.get(&stranger, "/api/v1/debit-envelopes?state=pending").await;
    assert_eq!(none["items"], json!([]));
    let (status, _) =
        p.get(&stranger, &format!("/api/v1/debit-envelopes/{}", envelopes[0]["envelope_id"].as_str().unwrap())).await;
    assert_eq!(status, 404);

    let mut lines = Vec::new();
    for e in &envelopes {
        let (status, full) =
            p.get(&s.bank, &format!("/api/v1/debit-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
        assert_eq!(status, 200, "{full}");
        assert_eq!(full["count"], e["count"]);
        let sum: i64 = full["instructions"].as_array().unwrap().iter().map(|l| l["amount"].as_i64().unwrap()).sum();
        assert_eq!(sum, full["total"].as_i64().unwrap());
        lines.extend(full["instructions"].as_array().unwrap().clone());
    }
    assert!(s.pending_envelopes().await.is_empty(), "pulled envelopes are no longer pending");
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["card_no"] != cards[3].as_str()));
    // Pulled: the card found again changes nothing in them.
    let (status, _) = p.post(&p.county, &format!("/api/v1/cards/{}/found", cards[3]), json!({})).await;
    assert_eq!(status, 200);
    s.wait_card(&cards[3], "activated").await;

    let id_of = |card: &str| lines.iter().find(|l| l["card_no"] == card).unwrap()["instruction_id"].clone();
    let answers = json!([
        {"instruction_id": id_of(&cards[0]), "outcome": "collected", "bank_reference": "R0"},
        {"instruction_id": id_of(&cards[1]), "outcome": "failed", "code": "insufficient_funds", "bank_reference": "R1"},
        {"instruction_id": id_of(&cards[2]), "outcome": "collected", "bank_reference": "R2"}
    ]);
    // Bad answers first: nothing of them is stored.
    let (status, body) = s
        .answer(json!([
            {"instruction_id": id_of(&cards[0]), "outcome": "collected", "bank_reference": "R0"},
            {"instruction_id": "no-such-instruction", "outcome": "collected", "bank_reference": "R9"},
            {"instruction_id": id_of(&cards[1]), "outcome": "failed", "code": "moon_phase", "bank_reference": "R1"}
        ]))
        .await;
    assert_eq!((status, codes(&body)), (422, vec![(3, "code".into(), "code_invalid".into())]), "{body}");
    let (status, body) = s
        .answer(json!([
            {"instruction_id": id_of(&cards[0]), "outcome": "collected", "bank_reference": "R0"},
            {"instruction_id": "no-such-instruction", "outcome": "collected", "bank_reference": "R9"}
        ]))
        .await;
    assert_eq!(
        (status, codes(&body)),
        (422, vec![(2, "instruction_id".into(), "instruction_not_found".into())]),
        "{body}"
    );
    let unpaid = s.eligibility(&cards[0]).await.1;
    assert_eq!(unpaid["reasons"], json!(["premium_unpaid"]));

    let (status, report) = s.answer(answers.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report, json!({"received": 3, "collected": 2, "failed": 1, "repeated": 0}));
    let (status, report) = s.answer(answers.clone()).await;
    assert_eq!((status, report["repeated"].as_u64()), (200, Some(3)), "{report}");
    let (status, body) =
        s.answer(json!([{"instruction_id": id_of(&cards[1]), "outcome": "collected", "bank_reference": "R1"}])).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("instruction_already_answered")), "{body}");
    assert_eq!(codes(&body), [(1, "outcome".into(), "instruction_already_answered".into())]);

    // The failures, for follow-up, as JSON and CSV.
    let (status, failures) = p.get(&p.admin, &format!("/api/v1/debit-runs/{run_id}/failures")).await;
    assert_eq!(status, 200, "{failures}");
    let items = failures["items"].as_array().unwrap();
    assert_eq!(
        (items.len(), items[0]["card_no"].as_str(), items[0]["code"].as_str()),
        (1, Some(cards[1].as_str()), Some("insufficient_funds"))
    );
    let r = p
        .app
        .http
        .get(format!("{}/api/v1/debit-runs/{run_id}/failures", p.gw))
        .bearer_auth(&p.county)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("instruction_id,psn_no,card_no,name,village,amount,code"), "{text}");
    assert!(
        text.contains(&format!("{},前进村,{PREMIUM},insufficient_funds,R1", items[0]["name"].as_str().unwrap())),
        "{text}"
    );
    let (_, run_now) = p.get(&p.admin, &format!("/api/v1/debit-runs/{run_id}")).await;
    assert_eq!(run_now["states"], json!({"collected": 2, "failed": 1, "withdrawn": 1}), "{run_now}");

    // A later run asks only the still unpaid: the failed and the withdrawn.
    let (status, second) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
    assert_eq!((status, second["instruction_count"].as_i64()), (201, Some(2)), "{second}");
    let mut lines = Vec::new();
    for e in s.pending_envelopes().await {
        let (_, full) =
            p.get(&s.bank, &format!("/api/v1/debit-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
        lines.extend(full["instructions"].as_array().unwrap().clone());
    }
    let mut cards_asked: Vec<&str> = lines.iter().map(|l| l["card_no"].as_str().unwrap()).collect();
    cards_asked.sort_unstable();
    let mut expected = vec![cards[1].as_str(), cards[3].as_str()];
    expected.sort_unstable();
    assert_eq!(cards_asked, expected);
    let answers: Vec<Value> = lines
        .iter()
        .map(|l| json!({"instruction_id": l["instruction_id"], "outcome": "collected", "bank_reference": "S"}))
        .collect();
    let (status, report) = s.answer(Value::Array(answers)).await;
    assert_eq!((status, report["collected"].as_u64()), (200, Some(2)), "{report}");
    let (status, body) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("nothing_to_debit")), "{body}");
    for card in &cards {
        assert_eq!(s.eligibility(card).await.1["eligible"], true, "{card}");
    }

    // The fund holds four premiums, the ledger balances and its check passes.
    let (status, fund) = p.get(&p.admin, &format!("/api/v1/funds/{COUNTY}?year={year}")).await;
    assert_eq!(status, 200, "{fund}");
    let balances = &fund["years"][0]["balances"];
    assert_eq!(
        (balances["fund_pool"].as_i64(), balances["premium_income"].as_i64()),
        (Some(4 * PREMIUM), Some(-4 * PREMIUM)),
        "{fund}"
    );
    let out = tokio::task::block_in_place(|| p.app.env.cli(&["ledger", "check"]));
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A card status message as card making sends it, straight to settlement.
fn status(card: &str, seq: i64, state: &str) -> Value {
    let payload = json!({
        "card_no": card, "id_hash": "ab".repeat(32), "county_code": COUNTY, "state": state,
        "at": format!("2026-11-0{seq}T08:00:00Z"), "seq": seq,
        "holder": {"village": "前进村", "name_masked": "王*明", "name_enc": "sealed", "sex": "1", "birth_date": "1961-02-03"}
    });
    json!({"id": uuid::Uuid::now_v7(), "source": "cardmaking", "kind": "card_status_changed",
           "created_at": "2026-11-01T08:00:00Z", "payload": payload})
}

async fn card_status_applies_in_order_once_whatever_order_it_arrives_in(backend: Backend) {
    let s = Scheme::new(backend, &[]).await;
    let app = &s.p.app;
    let service = app.service_token().await;
    let send = |message: Value| {
        let service = service.clone();
        async move {
            let r = app
                .http
                .post(format!("{}/internal/v1/messages", app.service("settlement")))
                .bearer_auth(service)
                .json(&message)
                .send()
                .await
                .unwrap();
            json_of(r).await
        }
    };
    let card = pan(77);
    // The loss arrives before the activation: refused until its turn.
    let lost = status(&card, 2, "reported_lost");
    let (code, body) = send(lost.clone()).await;
    assert_eq!((code, body["code"].as_str()), (409, Some("card_status_out_of_order")), "{body}");
    assert_eq!(s.eligibility(&card).await.0, 404);
    let activated = status(&card, 1, "activated");
    assert_eq!(send(activated.clone()).await.1["receipt"], "applied");
    assert_eq!(s.eligibility(&card).await.1["card_state"], "activated");
    assert_eq!(send(lost.clone()).await.1["receipt"], "applied");
    let now = s.eligibility(&card).await.1;
    assert_eq!(
        (now["card_state"].as_str(), now["reasons"].clone()),
        (Some("reported_lost"), json!(["not_enrolled", "card_lost"]))
    );
    // Again, as the outbox may deliver it: no second effect; and a late copy of the
    // activation under a new id changes nothing either.
    assert_eq!(send(lost).await.1["receipt"], "duplicate");
    let mut late = activated.clone();
    late["id"] = json!(uuid::Uuid::now_v7());
    assert_eq!(send(late).await.1["receipt"], "applied");
    assert_eq!(s.eligibility(&card).await.1["card_state"], "reported_lost");
}

async fn status_messages_waiting_in_the_earlier_form_reach_settlement(backend: Backend) {
    let s = Scheme::new(backend, &[]).await;
    let folks = people(1);
    let cards = s.p.activated_cards(&folks, 1).await;
    let before = s.wait_card(&cards[0], "activated").await;

    // Back to where an earlier version left things: its message waiting in the form it
    // wrote (no number, no holder), and settlement without the card.
    let Scheme { p, clinic, .. } = s;
    let Province { mut app, .. } = p;
    app.proc.terminate(Duration::from_secs(30));
    let earlier_form = match Direct::open(&app.env, "cardmaking") {
        Direct::Pg(_) => "payload = (payload::jsonb - 'seq' - 'holder' - 'replaces')::text",
        Direct::Sqlite(_) => "payload = json_remove(payload, '$.seq', '$.holder', '$.replaces')",
    };
    Direct::open(&app.env, "cardmaking")
        .run(&format!(
            "UPDATE outbox_messages SET {earlier_form}, delivered_at = NULL WHERE kind = 'card_status_changed'"
        ))
        .unwrap();
    Direct::open(&app.env, "settlement")
        .run("DELETE FROM card_events; DELETE FROM cards; DELETE FROM persons; DELETE FROM inbox_messages WHERE kind = 'card_status_changed'")
        .unwrap();
    app.proc = tokio::task::block_in_place(|| app.env.start("all", &[]));
    let http = app.http.clone();
    let url = format!("{}/api/v1/eligibility?card_no={}", app.gateway(), cards[0]);
    eventually("the earlier message applied", || async {
        http.get(&url).bearer_auth(&clinic).send().await.unwrap().status() == 200
    })
    .await;
    let (_, after) = json_of(http.get(&url).bearer_auth(&clinic).send().await.unwrap()).await;
    for field in ["card_state", "holder", "county_code", "village"] {
        assert_eq!(after[field], before[field], "{field}: {after}");
    }
}
