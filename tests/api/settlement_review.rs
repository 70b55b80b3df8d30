//! Fraud rules and the county's review, through the gateway: each rule fires on a
//! claim made for it and not on its near miss; a flagged claim is answered with its
//! rules and evidence, pays nothing and holds its cap (the next claim sees less
//! left); approved on review it is paid once (payment instruction, the bank's answer,
//! the ledger), rejected its cap comes back and the clinic reads why; a decision is
//! final; another county's office sees nothing; bad input is refused precisely; a
//! flagged claim cancelled releases its cap and posts nothing; the ledger check
//! passes at the end.

use chrono::{Datelike, Duration as Days, NaiveDateTime, Timelike, Utc};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::*;

on_both_backends!(each_rule_fires_on_its_case_and_not_on_its_near_miss, a_flagged_claim_is_reviewed_once);

const COUNTY: &str = "210804";
const CLINICS: [&str; 4] = ["H21080400001", "H21080400002", "H21080400003", "H21080400004"];
const CAP: i64 = 15_000_000;
/// Outpatient claims of one person a day before the rule fires (N).
const PER_DAY: i64 = 2;
/// Claims an institution needs before the outlier rule applies (M).
const MIN_CLAIMS: i64 = 3;

fn china_now() -> NaiveDateTime {
    (Utc::now() + Days::hours(8)).naive_utc()
}

fn platform(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
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
        "inpatient_annual_cap": CAP,
        "outpatient": {"ratio": 5000, "deductible_per_visit": 0, "annual_cap": 40000},
        "chronic": {"ratio": 6000, "annual_cap": 300_000},
        "premium_per_person": 38000,
        "subsidy_per_person": 61000,
        "fraud_thresholds": {
            "outpatient_claims_per_day": PER_DAY, "amount_outlier_factor": 30000,
            "amount_outlier_days": 30, "amount_outlier_min_claims": MIN_CLAIMS
        }
    })
}

/// A claim to send: who, where, what kind, when (seconds after the scene's base
/// time) and how much is in scope (the total is that plus 100,000 outside it).
struct Visit {
    clinic: usize,
    card: String,
    med_type: &'static str,
    level: &'static str,
    begin: i64,
    end: i64,
    inscp: i64,
}

fn inpatient(clinic: usize, card: &str, begin: i64, end: i64) -> Visit {
    Visit { clinic, card: card.to_string(), med_type: "21", level: "county", begin, end, inscp: 100_000 }
}

struct Scene {
    p: Province,
    clinics: Vec<String>,
    bank: String,
    cards: Vec<String>,
    year: i32,
    /// Every admission is at or after it: later than every premium paid and card
    /// activated while the scene was set.
    base: NaiveDateTime,
    seq: std::sync::atomic::AtomicU32,
}

impl Scene {
    /// `n` people with activated cards, all but those in `not_enrolled` enrolled and
    /// paid for this year.
    async fn new(backend: Backend, n: usize, not_enrolled: &[usize]) -> Scene {
        let p = Province::new(backend, &[]).await;
        let year = china_now().year();
        let (status, body) = p.put(&p.admin, &format!("/api/v1/policies/{COUNTY}/{year}"), policy(year)).await;
        assert_eq!(status, 201, "{body}");
        let (status, _) =
            p.put(&p.admin, &format!("/api/v1/bank-assignments/{COUNTY}"), json!({"bank": "BANK-P"})).await;
        assert_eq!(status, 200);
        let mut clinics = Vec::new();
        for code in CLINICS {
            clinics.push(p.app.client(&p.admin, "clinic", &[code]).await.1);
        }
        let (_, bank) = p.app.client(&p.admin, "bank", &["BANK-P"]).await;
        let cards = p.activated_cards(&people(n), 1).await;
        let scene =
            Scene { p, clinics, bank, cards, year, base: china_now(), seq: std::sync::atomic::AtomicU32::new(0) };
        for card in &scene.cards {
            scene.wait_card(card, "activated").await;
        }
        let enrolled: Vec<&String> =
            scene.cards.iter().enumerate().filter(|(i, _)| !not_enrolled.contains(i)).map(|(_, c)| c).collect();
        scene.enroll_and_collect(&enrolled).await;
        // Admissions are stamped to the second: the base is a whole second after the
        // last premium, and not in the last seconds of a day in China, so that the
        // claims of one test share their day.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        while china_now().num_seconds_from_midnight() > 86_400 - 60 {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
        let now = china_now();
        Scene { base: now.with_nanosecond(0).unwrap(), ..scene }
    }

    async fn wait_card(&self, card: &str, state: &str) {
        eventually(&format!("card {card} {state} in settlement"), || async {
            let (status, body) = self.p.get(&self.clinics[0], &format!("/api/v1/eligibility?card_no={card}")).await;
            status == 200 && body["card_state"] == state
        })
        .await;
    }

    /// Enrolls `cards` for the year, runs a debit and collects every instruction.
    async fn enroll_and_collect(&self, cards: &[&String]) {
        let p = &self.p;
        let rows: Vec<Value> = cards.iter().map(|c| json!({"card_no": c, "year": self.year})).collect();
        let (status, body) = p.post(&p.county, "/api/v1/enrollments", Value::Array(rows)).await;
        assert_eq!(status, 200, "{body}");
        let (status, run) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": self.year})).await;
        assert_eq!(status, 201, "{run}");
        let (_, envelopes) = p.get(&self.bank, "/api/v1/debit-envelopes?state=pending").await;
        let mut answers = Vec::new();
        for e in envelopes["items"].as_array().unwrap() {
            let (_, full) =
                p.get(&self.bank, &format!("/api/v1/debit-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
            for line in full["instructions"].as_array().unwrap() {
                answers.push(
                    json!({"instruction_id": line["instruction_id"], "outcome": "collected", "bank_reference": "P"}),
                );
            }
        }
        assert_eq!(answers.len(), cards.len());
        let (status, report) =
            p.post(&self.bank, "/api/v1/debit-instructions/results", json!({ "results": answers })).await;
        assert_eq!(status, 200, "{report}");
    }

    /// `secs` after the base, in the platform's format; waits until that is not in the
    /// future.
    async fn at(&self, secs: i64) -> String {
        let at = self.base + Days::seconds(secs);
        while china_now() < at + Days::milliseconds(50) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        platform(at)
    }

    fn body(&self, v: &Visit, begin: String, end: String) -> Value {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let clinic = CLINICS[v.clinic];
        json!({
            "msgid": format!("{clinic}{}{seq:04}", china_now().format("%Y%m%d%H%M%S")),
            "ipt_otp_no": format!("N{seq:05}"), "mdtrt_cert_type": "03", "mdtrt_cert_no": v.card, "insutype": "390",
            "med_type": v.med_type, "level": v.level, "begntime": begin, "endtime": end,
            "medfee_sumamt": v.inscp + 100_000, "fulamt_ownpay_amt": 50_000, "overlmt_selfpay": 20_000,
            "preselfpay_amt": 30_000, "inscp_scp_amt": v.inscp
        })
    }

    /// Settles `v`; the answer, which must be `200`.
    async fn settle(&self, v: Visit) -> Value {
        let body = self.body(&v, self.at(v.begin).await, self.at(v.end).await);
        self.settle_body(v.clinic, &body).await
    }

    async fn settle_body(&self, clinic: usize, body: &Value) -> Value {
        let (status, answer) = self.p.post(&self.clinics[clinic], "/api/v1/claims", body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    async fn review(&self, token: &str, setl_id: &str, body: Value) -> (u16, Value) {
        self.p.post(token, &format!("/api/v1/claims/{setl_id}/review"), body).await
    }

    async fn inpatient_used(&self, card: &str) -> i64 {
        let (_, e) = self.p.get(&self.clinics[0], &format!("/api/v1/eligibility?card_no={card}")).await;
        e["caps"]["inpatient"]["used"].as_i64().unwrap()
    }

    async fn balances(&self) -> Value {
        let (status, fund) = self.p.get(&self.p.admin, &format!("/api/v1/funds/{COUNTY}?year={}", self.year)).await;
        assert_eq!(status, 200, "{fund}");
        fund["years"][0]["balances"].clone()
    }

    fn ledger_check(&self) {
        let out = tokio::task::block_in_place(|| self.p.app.env.cli(&["ledger", "check"]));
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The codes of the rules a claim answer was flagged by.
fn flags(answer: &Value) -> Vec<String> {
    answer["fraud_flags"]
        .as_array()
        .map(|a| a.iter().map(|f| f["code"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn evidence<'a>(answer: &'a Value, code: &str) -> &'a Value {
    let all = answer["fraud_flags"].as_array().unwrap();
    &all.iter().find(|f| f["code"] == code).unwrap_or_else(|| panic!("no {code} in {answer}"))["evidence"]
}

/// A clean claim: approved, no flags, a payment instruction.
fn assert_clean(answer: &Value) {
    assert_eq!(answer["state"], "approved", "{answer}");
    assert!(answer.get("fraud_flags").is_none(), "{answer}");
    assert!(answer["payment_instruction_id"].is_string(), "{answer}");
}

/// A flagged claim: every term, nothing to pay yet, exactly these rules.
fn assert_flagged(answer: &Value, rules: &[&str]) {
    assert_eq!(answer["state"], "flagged", "{answer}");
    assert_eq!(flags(answer), rules, "{answer}");
    assert!(answer.get("payment_instruction_id").is_none(), "{answer}");
    assert!(answer.get("payment_state").is_none(), "{answer}");
    for term in ["deductible", "ratio", "cap", "used_before", "left_before", "hifp_pay", "psn_part_amt"] {
        assert!(answer[term].is_i64(), "{term}: {answer}");
    }
}

fn setl(answer: &Value) -> String {
    answer["setl_id"].as_str().unwrap().to_string()
}

async fn each_rule_fires_on_its_case_and_not_on_its_near_miss(backend: Backend) {
    const LATE_PAYER: usize = 11;
    let s = Scene::new(backend, 14, &[LATE_PAYER]).await;
    let c = |i: usize| s.cards[i].as_str();

    // overlapping_stay: a transfer (admitted at the other's discharge) is no overlap;
    // a stay inside another one, at any institution, is.
    let first = s.settle(inpatient(0, c(0), 0, 2)).await;
    assert_clean(&first);
    let transfer = s.settle(inpatient(1, c(0), 2, 3)).await;
    assert_clean(&transfer);
    let inside = s.settle(inpatient(2, c(0), 1, 2)).await;
    assert_flagged(&inside, &["overlapping_stay"]);
    assert_eq!(evidence(&inside, "overlapping_stay"), &json!({"setl_ids": [setl(&first)]}));

    // outpatient_frequency: N outpatient claims of a day are fine, the one after not.
    let visit = |clinic: usize| Visit {
        clinic,
        card: c(1).to_string(),
        med_type: "11",
        level: "village",
        begin: 0,
        end: 0,
        inscp: 2_000,
    };
    let one = s.settle(visit(0)).await;
    assert_clean(&one);
    let two = s.settle(visit(1)).await;
    assert_clean(&two);
    let three = s.settle(visit(2)).await;
    assert_flagged(&three, &["outpatient_frequency"]);
    let e = evidence(&three, "outpatient_frequency");
    assert_eq!((e["count"].as_i64(), e["limit"].as_i64()), (Some(PER_DAY + 1), Some(PER_DAY)), "{e}");
    assert_eq!(e["setl_ids"], json!([setl(&one), setl(&two)]));
    assert_eq!(e["date"], json!(s.base.date().to_string()));

    // duplicate_visit: the same institution, kind and dates under another number; at
    // another institution it is another visit.
    let chronic = |clinic: usize, begin: i64, end: i64| Visit {
        clinic,
        card: c(2).to_string(),
        med_type: "14",
        level: "township",
        begin,
        end,
        inscp: 20_000,
    };
    let original = s.settle(chronic(0, 0, 1)).await;
    assert_clean(&original);
    let elsewhere = s.settle(chronic(1, 0, 1)).await;
    assert_clean(&elsewhere);
    let again = s.settle(chronic(0, 1, 2)).await;
    assert_flagged(&again, &["duplicate_visit"]);
    assert_eq!(evidence(&again, "duplicate_visit"), &json!({"setl_ids": [setl(&original)]}));

    // amount_outlier at institution 4: three usual totals make a median of 200,000;
    // exactly three times it is not above it, one fen more is. Before M claims no
    // total is an outlier.
    let at_four = |person: usize, level: &'static str, inscp: i64| Visit {
        clinic: 3,
        card: c(person).to_string(),
        med_type: "21",
        level,
        begin: 0,
        end: 1,
        inscp,
    };
    for person in 3..=5 {
        assert_clean(&s.settle(at_four(person, "township", 100_000)).await);
    }
    let three_times = s.settle(at_four(6, "township", 500_000)).await;
    assert_clean(&three_times);
    let outlier = s.settle(at_four(7, "township", 500_001)).await;
    assert_flagged(&outlier, &["amount_outlier"]);
    assert_eq!(
        evidence(&outlier, "amount_outlier"),
        &json!({"medfee_sumamt": 600_001, "median": 200_000, "claims": MIN_CLAIMS, "days": 30, "factor": 30000})
    );
    for person in 8..=9 {
        assert_clean(&s.settle(at_four(person, "municipal", 100_000)).await);
    }
    assert_clean(&s.settle(at_four(10, "municipal", 5_000_000)).await);

    // before_enrollment, by the premium: enrolled and paid only after the admission.
    let admitted = s.at(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    s.enroll_and_collect(&[&s.cards[LATE_PAYER]]).await;
    let before_paid = s.body(&inpatient(0, c(LATE_PAYER), 0, 0), admitted.clone(), admitted.clone());
    let before_paid = s.settle_body(0, &before_paid).await;
    assert_flagged(&before_paid, &["before_enrollment"]);
    let e = evidence(&before_paid, "before_enrollment");
    assert!(e["premium_paid_at"].is_string() && e.get("card_activated_at").is_none(), "{e}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let now = platform(china_now());
    let after_paid = s.body(&inpatient(1, c(LATE_PAYER), 0, 0), now.clone(), now);
    assert_clean(&s.settle_body(1, &after_paid).await);

    // before_enrollment, by the card: a replacement card activated after the
    // admission (the premium was paid long before).
    let p = &s.p;
    let old = c(12);
    assert_eq!(p.post(&p.county, &format!("/api/v1/cards/{old}/report-loss"), json!({})).await.0, 200);
    assert_eq!(p.post(&p.county, &format!("/api/v1/cards/{old}/replace"), json!({})).await.0, 200);
    let lease = p.lease(&p.maker, 5).await;
    let new_card = pan(500);
    let (status, body) = p.results(&p.maker, &lease, json!([produced(&order_ids(&lease)[0], &new_card)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(p.post(&p.county, "/api/v1/cards/issue", json!({"card_numbers": [new_card]})).await.0, 200);
    let admitted = platform(china_now() - Days::seconds(1));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(p.post(&p.county, &format!("/api/v1/cards/{new_card}/activate"), json!({})).await.0, 200);
    s.wait_card(&new_card, "activated").await;
    let before_card = s.body(&inpatient(0, &new_card, 0, 0), admitted.clone(), admitted);
    let before_card = s.settle_body(0, &before_card).await;
    assert_flagged(&before_card, &["before_enrollment"]);
    let e = evidence(&before_card, "before_enrollment");
    assert!(e["card_activated_at"].is_string() && e.get("premium_paid_at").is_none(), "{e}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let now = platform(china_now());
    assert_clean(&s.settle_body(1, &s.body(&inpatient(1, &new_card, 0, 0), now.clone(), now)).await);

    // after_card_lost: admitted while the card was reported lost, and found since; an
    // admission before the loss is fine. A card still lost is refused outright.
    let card = c(13);
    let before_loss = platform(china_now() - Days::seconds(1));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(p.post(&p.county, &format!("/api/v1/cards/{card}/report-loss"), json!({})).await.0, 200);
    s.wait_card(card, "reported_lost").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let while_lost = platform(china_now());
    let (status, refused) = p
        .post(
            &s.clinics[0],
            "/api/v1/claims",
            s.body(&inpatient(0, card, 0, 0), while_lost.clone(), while_lost.clone()),
        )
        .await;
    assert_eq!((status, refused["errors"][0]["code"].as_str()), (422, Some("card_lost")), "{refused}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(p.post(&p.county, &format!("/api/v1/cards/{card}/found"), json!({})).await.0, 200);
    s.wait_card(card, "activated").await;
    let lost = s.settle_body(0, &s.body(&inpatient(0, card, 0, 0), while_lost.clone(), while_lost)).await;
    assert_flagged(&lost, &["after_card_lost"]);
    assert!(evidence(&lost, "after_card_lost")["card_lost_at"].is_string(), "{lost}");
    assert_clean(&s.settle_body(1, &s.body(&inpatient(1, card, 0, 0), before_loss.clone(), before_loss)).await);

    // The county's queue holds exactly the flagged claims, oldest first.
    let (status, queue) = s.p.get(&s.p.county, "/api/v1/reviews?state=pending").await;
    assert_eq!(status, 200, "{queue}");
    let queued: Vec<String> = queue["items"].as_array().unwrap().iter().map(setl).collect();
    let flagged = [&inside, &three, &again, &outlier, &before_paid, &before_card, &lost].map(setl).to_vec();
    assert_eq!(queued, flagged);
    assert_eq!(queue["items"][0]["fraud_flags"], inside["fraud_flags"]);
    s.ledger_check();
}

async fn a_flagged_claim_is_reviewed_once(backend: Backend) {
    let s = Scene::new(backend, 4, &[]).await;
    let p = &s.p;
    let card0 = s.cards[0].as_str();
    let big = |clinic: usize, begin: i64, end: i64| Visit { inscp: 8_030_000, ..inpatient(clinic, card0, begin, end) };

    // Each big stay is worth 6,000,000 (40% of the cap). The second overlaps the
    // first: flagged, nothing paid, and its share of the cap held all the same.
    let before = s.balances().await;
    let paid_one = s.settle(big(0, 0, 1)).await;
    assert_clean(&paid_one);
    let flagged = s.settle(big(1, 0, 1)).await;
    assert_flagged(&flagged, &["overlapping_stay"]);
    assert_eq!(flagged["hifp_pay"].as_i64(), Some(6_000_000));
    assert_eq!(s.inpatient_used(card0).await, 12_000_000);
    let after = s.balances().await;
    assert_eq!(
        after["reimbursement_payable"].as_i64().unwrap() - before["reimbursement_payable"].as_i64().unwrap(),
        6_000_000,
        "only the approved claim is owed: {after}"
    );
    let next = s.settle(big(2, 2, 2)).await;
    assert_clean(&next);
    assert_eq!(
        (next["used_before"].as_i64(), next["left_before"].as_i64(), next["hifp_pay"].as_i64()),
        (Some(12_000_000), Some(3_000_000), Some(3_000_000)),
        "the next claim sees the held cap as used: {next}"
    );

    // Two more flagged claims (a chronic visit billed twice by one institution), for
    // approval and for a cancel.
    let twice = |card: &str, n: i64| Visit {
        clinic: 0,
        card: card.to_string(),
        med_type: "14",
        level: "township",
        begin: n,
        end: n,
        inscp: 20_000,
    };
    let (card1, card2) = (s.cards[1].as_str(), s.cards[2].as_str());
    assert_clean(&s.settle(twice(card1, 0)).await);
    let to_approve = s.settle(twice(card1, 1)).await;
    assert_flagged(&to_approve, &["duplicate_visit"]);
    assert_clean(&s.settle(twice(card2, 0)).await);
    let to_cancel = s.settle(twice(card2, 1)).await;
    assert_flagged(&to_cancel, &["duplicate_visit"]);
    // The same claim sent again answers the first answer, flags and all.
    let (id_flagged, id_approve, id_cancel) = (setl(&flagged), setl(&to_approve), setl(&to_cancel));
    let (status, read) = p.get(&s.clinics[1], &format!("/api/v1/claims/{id_flagged}")).await;
    assert_eq!(
        (status, read["state"].as_str(), read["fraud_flags"].clone()),
        (200, Some("flagged"), flagged["fraud_flags"].clone())
    );

    // The queue, oldest first, paged; only the county's own office and the province's
    // roles see it.
    let (status, page) = p.get(&p.county, "/api/v1/reviews?state=pending&limit=2").await;
    assert_eq!(status, 200, "{page}");
    let first_page: Vec<String> = page["items"].as_array().unwrap().iter().map(setl).collect();
    assert_eq!(first_page, [id_flagged.clone(), id_approve.clone()]);
    assert_eq!(page["items"][0]["fraud_flags"][0]["evidence"]["setl_ids"], json!([setl(&paid_one)]));
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = p.get(&p.county, &format!("/api/v1/reviews?state=pending&limit=2&cursor={cursor}")).await;
    assert_eq!(
        rest["items"].as_array().unwrap().iter().map(setl).collect::<Vec<_>>(),
        std::slice::from_ref(&id_cancel)
    );
    assert!(rest["next_cursor"].is_null(), "{rest}");
    let (_, other_county) = p.app.client(&p.admin, "county_office", &["210802"]).await;
    let (status, none) = p.get(&other_county, "/api/v1/reviews?state=pending").await;
    assert_eq!((status, none["items"].clone()), (200, json!([])));
    let (status, body) = p.get(&other_county, &format!("/api/v1/reviews?county={COUNTY}")).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, _) = p.get(&s.clinics[0], "/api/v1/reviews").await;
    assert_eq!(status, 403);
    let (status, body) = p.get(&p.county, "/api/v1/reviews?state=maybe").await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (422, Some("state_invalid")), "{body}");

    // Bad decisions: precise codes, the field named, nothing decided.
    let long = "x".repeat(201);
    let cases = [
        (json!({"decision": "maybe", "reason": "r"}), "decision", "decision_invalid"),
        (json!({"decision": 1, "reason": "r"}), "decision", "decision_invalid"),
        (json!({"reason": "r"}), "decision", "field_missing"),
        (json!({"decision": "approve"}), "reason", "field_missing"),
        (json!({"decision": "approve", "reason": "  "}), "reason", "field_missing"),
        (json!({"decision": "reject", "reason": long}), "reason", "reason_too_long"),
        (json!({"decision": "reject", "reason": 5}), "reason", "reason_invalid"),
    ];
    for (body, field, code) in cases {
        let (status, problem) = s.review(&p.county, &id_flagged, body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        let errors: Vec<(&str, &str)> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
            .collect();
        assert!(errors.contains(&(field, code)), "{body}: {problem}");
    }
    let (status, problem) =
        s.review(&p.county, &id_flagged, json!({"decision": "reject", "reason": "r", "by": "me"})).await;
    assert_eq!((status, problem["code"].as_str()), (400, Some("invalid_body")), "{problem}");
    // Another county's office: 404, as for a claim that does not exist; a clinic may
    // not review at all; an approved claim is not under review.
    let decision = json!({"decision": "reject", "reason": "the stays overlap: double billing"});
    let (status, body) = s.review(&other_county, &id_flagged, decision.clone()).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    assert_eq!(s.review(&p.county, "no-such-claim", decision.clone()).await.0, 404);
    assert_eq!(s.review(&s.clinics[0], &id_flagged, decision.clone()).await.0, 403);
    let (status, body) = s.review(&p.county, &setl(&paid_one), decision.clone()).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("claim_not_flagged")), "{body}");
    assert_eq!(s.inpatient_used(card0).await, 15_000_000, "nothing changed yet");

    // Rejected: the held cap comes back; the clinic reads the state and the reason.
    let (status, rejected) = s.review(&p.county, &id_flagged, decision.clone()).await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(
        (rejected["state"].as_str(), rejected["reason"].as_str(), rejected["review"]["state"].as_str()),
        (Some("rejected"), Some("the stays overlap: double billing"), Some("rejected"))
    );
    assert!(rejected["review"]["decided_by"].is_string() && rejected["review"]["decided_at"].is_string(), "{rejected}");
    assert!(rejected.get("payment_instruction_id").is_none(), "{rejected}");
    assert_eq!(s.inpatient_used(card0).await, 9_000_000);
    let (status, seen) = p.get(&s.clinics[1], &format!("/api/v1/claims/{id_flagged}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (seen["state"].clone(), seen["reason"].clone(), seen["fraud_flags"].clone()),
        (rejected["state"].clone(), rejected["reason"].clone(), flagged["fraud_flags"].clone())
    );
    // A decision is final.
    for again in [decision.clone(), json!({"decision": "approve", "reason": "on second thought"})] {
        let (status, body) = s.review(&p.county, &id_flagged, again).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("claim_already_reviewed")), "{body}");
    }
    let (status, body) = p.post(&s.clinics[1], &format!("/api/v1/claims/{id_flagged}/cancel"), json!({})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("claim_not_cancellable")), "{body}");

    // Approved, with an Idempotency-Key: paid once, as any approved claim.
    let approve = json!({"decision": "approve", "reason": "two separate prescriptions, checked with the clinic"});
    let before = s.balances().await;
    let send = |body: Value| {
        p.app
            .http
            .post(format!("{}/api/v1/claims/{id_approve}/review", p.gw))
            .bearer_auth(&p.county)
            .header("Idempotency-Key", "review-1")
            .json(&body)
            .send()
    };
    let (status, approved) = json_of(send(approve.clone()).await.unwrap()).await;
    assert_eq!(status, 200, "{approved}");
    let hifp = to_approve["hifp_pay"].as_i64().unwrap();
    assert!(hifp > 0);
    assert_eq!(
        (approved["state"].as_str(), approved["payment_state"].as_str(), approved["review"]["state"].as_str()),
        (Some("approved"), Some("pending"), Some("approved")),
        "{approved}"
    );
    assert_eq!(approved["fraud_flags"], to_approve["fraud_flags"]);
    let replay = send(approve.clone()).await.unwrap();
    assert_eq!(replay.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(json_of(replay).await, (200, approved.clone()));
    let (status, body) = json_of(send(json!({"decision": "reject", "reason": "x"})).await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("idempotency_key_reused")), "{body}");
    let (status, body) = s.review(&p.county, &id_approve, approve.clone()).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("claim_already_reviewed")), "{body}");
    let after = s.balances().await;
    assert_eq!(
        after["reimbursement_payable"].as_i64().unwrap() - before["reimbursement_payable"].as_i64().unwrap(),
        hifp,
        "{after}"
    );
    assert_eq!(after["fund_pool"].as_i64().unwrap() - before["fund_pool"].as_i64().unwrap(), -hifp, "{after}");
    // The bank gets it once and pays it.
    let payment = approved["payment_instruction_id"].clone();
    let (_, envelopes) = p.get(&s.bank, "/api/v1/payment-envelopes?state=pending").await;
    let mut lines = Vec::new();
    for e in envelopes["items"].as_array().unwrap() {
        let (_, full) =
            p.get(&s.bank, &format!("/api/v1/payment-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
        lines.extend(full["instructions"].as_array().unwrap().clone());
    }
    let ours: Vec<&Value> = lines.iter().filter(|l| l["instruction_id"] == payment).collect();
    assert_eq!(ours.len(), 1, "{lines:?}");
    assert_eq!(ours[0]["amount"].as_i64(), Some(hifp));
    let answers: Vec<Value> = lines
        .iter()
        .map(|l| json!({"instruction_id": l["instruction_id"], "outcome": "paid", "bank_reference": "B1"}))
        .collect();
    let (status, report) = p.post(&s.bank, "/api/v1/payment-instructions/results", json!({ "results": answers })).await;
    assert_eq!(status, 200, "{report}");
    let (_, paid) = p.get(&s.clinics[0], &format!("/api/v1/claims/{id_approve}")).await;
    assert_eq!((paid["state"].as_str(), paid["payment_state"].as_str()), (Some("approved"), Some("paid")), "{paid}");

    // A flagged claim cancelled: its cap released, nothing posted, off the queue.
    let (_, eligible) = p.get(&s.clinics[0], &format!("/api/v1/eligibility?card_no={card2}")).await;
    let chronic_used = eligible["caps"]["chronic"]["used"].as_i64().unwrap();
    let before = s.balances().await;
    let (status, negated) =
        p.post(&s.clinics[0], &format!("/api/v1/claims/{id_cancel}/cancel"), json!({"reason": "sent twice"})).await;
    assert_eq!(status, 200, "{negated}");
    assert_eq!(s.balances().await, before, "a flagged claim posted nothing, its cancel nothing either");
    let (_, eligible) = p.get(&s.clinics[0], &format!("/api/v1/eligibility?card_no={card2}")).await;
    assert_eq!(
        eligible["caps"]["chronic"]["used"].as_i64(),
        Some(chronic_used - to_cancel["hifp_pay"].as_i64().unwrap())
    );
    let (status, body) = s.review(&p.county, &id_cancel, approve.clone()).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("claim_not_flagged")), "{body}");
    let (_, queue) = p.get(&p.county, "/api/v1/reviews?state=pending").await;
    assert_eq!(queue["items"], json!([]));
    for (state, id) in [("rejected", &id_flagged), ("approved", &id_approve), ("withdrawn", &id_cancel)] {
        let (status, list) = p.get(&p.county, &format!("/api/v1/reviews?state={state}")).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(
            list["items"].as_array().unwrap().iter().map(setl).collect::<Vec<_>>(),
            std::slice::from_ref(id),
            "{state}"
        );
    }
    let (_, auditor) = p.app.client(&p.admin, "auditor", &[]).await;
    let (status, all) = p.get(&auditor, "/api/v1/reviews?state=withdrawn").await;
    assert_eq!((status, all["items"][0]["state"].as_str()), (200, Some("cancelled")), "{all}");
    s.ledger_check();
}
