//! Reimbursements paid onto cards: a claim's payment instruction is sealed into an
//! envelope when the bank asks, pulled and answered paid (the ledger shows it and its
//! check passes); a retryable failure goes into a later envelope until the attempts
//! are spent, then waits for a person who re-issues it; a final code waits at once;
//! repeats are no-ops and contradictions 409; a claim cancelled before its envelope is
//! pulled withdraws the payment, one cancelled after payment is owed back and then
//! recorded collected.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::people;
use crate::settlement::{COUNTY, Scheme, codes};

on_both_backends!(claims_are_paid_onto_cards_retried_surfaced_and_recovered);

const CLINIC: &str = "H21080400001";

/// An inpatient claim at a county hospital: 130000 in scope, 30000 deductible, 75%:
/// 75000 paid by the fund.
fn claim(card: &str, n: u32) -> Value {
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    let at = now.format("%Y-%m-%d %H:%M:%S").to_string();
    json!({
        "msgid": format!("{CLINIC}{}{n:04}", now.format("%Y%m%d%H%M%S")),
        "ipt_otp_no": format!("ZY{n:06}"),
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": card,
        "insutype": "390",
        "med_type": "21",
        "level": "county",
        "begntime": at,
        "endtime": at,
        "medfee_sumamt": 150000,
        "fulamt_ownpay_amt": 10000,
        "overlmt_selfpay": 5000,
        "preselfpay_amt": 5000,
        "inscp_scp_amt": 130000
    })
}

const PAY: i64 = 75000;

impl Scheme {
    async fn payment_envelopes(&self) -> Vec<Value> {
        let (status, body) = self.p.get(&self.bank, "/api/v1/payment-envelopes?state=pending").await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    /// Pulls every pending payment envelope; their lines.
    async fn pull_payments(&self) -> Vec<Value> {
        let mut lines = Vec::new();
        for e in self.payment_envelopes().await {
            let (status, full) = self
                .p
                .get(&self.bank, &format!("/api/v1/payment-envelopes/{}", e["envelope_id"].as_str().unwrap()))
                .await;
            assert_eq!(status, 200, "{full}");
            let sum: i64 = full["instructions"].as_array().unwrap().iter().map(|l| l["amount"].as_i64().unwrap()).sum();
            assert_eq!(
                (sum, full["count"].as_u64()),
                (full["total"].as_i64().unwrap(), Some(full["instructions"].as_array().unwrap().len() as u64))
            );
            lines.extend(full["instructions"].as_array().unwrap().clone());
        }
        lines
    }

    async fn pay_answer(&self, results: Value) -> (u16, Value) {
        self.p.post(&self.bank, "/api/v1/payment-instructions/results", json!({ "results": results })).await
    }

    async fn balances(&self) -> Value {
        let (status, fund) = self.p.get(&self.p.admin, &format!("/api/v1/funds/{COUNTY}?year={}", self.year)).await;
        assert_eq!(status, 200, "{fund}");
        fund["years"][0]["balances"].clone()
    }
}

fn answer(id: &Value, outcome: &str, code: Option<&str>, reference: &str) -> Value {
    match code {
        Some(code) => json!({"instruction_id": id, "outcome": outcome, "code": code, "bank_reference": reference}),
        None => json!({"instruction_id": id, "outcome": outcome, "bank_reference": reference}),
    }
}

async fn claims_are_paid_onto_cards_retried_surfaced_and_recovered(backend: Backend) {
    let s = Scheme::new(backend, &[("HEALTHCARD_PAYMENT_MAX_ATTEMPTS", "2")]).await;
    let p = &s.p;
    let year = s.year;
    let folks = people(5);
    let cards = p.activated_cards(&folks, 1).await;
    for card in &cards {
        s.wait_card(card, "activated").await;
    }
    let rows: Vec<Value> = cards.iter().map(|c| json!({"card_no": c, "year": year})).collect();
    let (status, report) = s.enroll_json(Value::Array(rows)).await;
    assert_eq!((status, report["enrolled"].as_u64()), (200, Some(5)), "{report}");
    let (status, _) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
    assert_eq!(status, 201);
    let mut debits = Vec::new();
    for e in s.pending_envelopes().await {
        let (_, full) =
            p.get(&s.bank, &format!("/api/v1/debit-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
        debits.extend(full["instructions"].as_array().unwrap().clone());
    }
    let collected: Vec<Value> = debits
        .iter()
        .map(|l| json!({"instruction_id": l["instruction_id"], "outcome": "collected", "bank_reference": "D"}))
        .collect();
    assert_eq!(s.answer(Value::Array(collected)).await.0, 200);
    // Admissions after the activation, never in the future.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Five claims, one per card: each one payment instruction, loose until the bank asks.
    let mut setl = Vec::new();
    for (i, card) in cards.iter().enumerate() {
        let (status, body) = p.post(&s.clinic, "/api/v1/claims", claim(card, i as u32 + 1)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["hifp_pay"].as_i64(), body["payment_state"].as_str()), (Some(PAY), Some("pending")), "{body}");
        setl.push(body);
    }
    let payable = s.balances().await;
    assert_eq!(payable["reimbursement_payable"].as_i64(), Some(5 * PAY), "{payable}");

    // Cancelled before any envelope: withdrawn, the money back in the fund.
    let (status, body) =
        p.post(&s.clinic, &format!("/api/v1/claims/{}/cancel", setl[4]["setl_id"].as_str().unwrap()), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, cancelled) = p.get(&s.clinic, &format!("/api/v1/claims/{}", setl[4]["setl_id"].as_str().unwrap())).await;
    assert_eq!(cancelled["payment_state"], "withdrawn", "{cancelled}");

    // Other banks see nothing; the bank pulls one envelope of four.
    let (_, stranger) = p.app.client(&p.admin, "bank", &["BANK-Q"]).await;
    let (_, none) = p.get(&stranger, "/api/v1/payment-envelopes?state=pending").await;
    assert_eq!(none["items"], json!([]));
    let envelopes = s.payment_envelopes().await;
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    assert_eq!((envelopes[0]["count"].as_i64(), envelopes[0]["total"].as_i64()), (Some(4), Some(4 * PAY)));
    let (status, _) =
        p.get(&stranger, &format!("/api/v1/payment-envelopes/{}", envelopes[0]["envelope_id"].as_str().unwrap())).await;
    assert_eq!(status, 404);
    let lines = s.pull_payments().await;
    assert_eq!(lines.len(), 4);
    assert!(s.payment_envelopes().await.is_empty(), "a pulled envelope is no longer pending");
    let id_of = |card: &str| lines.iter().find(|l| l["card_no"] == card).unwrap()["instruction_id"].clone();
    let (a, b, c, d) = (id_of(&cards[0]), id_of(&cards[1]), id_of(&cards[2]), id_of(&cards[3]));

    // Refused answers store nothing.
    let (status, body) =
        s.pay_answer(json!([answer(&a, "paid", None, "P1"), answer(&b, "failed", Some("moon_phase"), "F1")])).await;
    assert_eq!((status, codes(&body)), (422, vec![(2, "code".into(), "code_invalid".into())]), "{body}");
    let (status, body) =
        s.pay_answer(json!([answer(&a, "paid", None, "P1"), answer(&json!("nope"), "paid", None, "P9")])).await;
    assert_eq!((status, codes(&body)), (422, vec![(2, "instruction_id".into(), "instruction_not_found".into())]));

    // a paid; b failed retryable; c failed final; d paid, then its claim cancelled.
    let first = json!([
        answer(&a, "paid", None, "P1"),
        answer(&b, "failed", Some("timeout"), "F1"),
        answer(&c, "failed", Some("account_closed"), "F2"),
        answer(&d, "paid", None, "P4")
    ]);
    let (status, report) = s.pay_answer(first.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report, json!({"received": 4, "paid": 2, "failed": 2, "retrying": 1, "needs_action": 1, "repeated": 0}));
    // Again: nothing changes, also for b now waiting for a later envelope.
    let (status, report) = s.pay_answer(first).await;
    assert_eq!((status, report["repeated"].as_u64()), (200, Some(4)), "{report}");
    // Paid at most once, whatever the bank sends.
    let (status, body) = s.pay_answer(json!([answer(&a, "failed", Some("timeout"), "P1")])).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("instruction_already_answered")), "{body}");
    let (status, body) = s.pay_answer(json!([answer(&b, "paid", None, "P2")])).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("instruction_already_answered")), "{body}");
    let (status, body) = s.pay_answer(json!([answer(&setl[4]["payment_instruction_id"], "paid", None, "X")])).await;
    assert_eq!(status, 422, "{body}");

    // b goes into a later envelope; failing again spends its two attempts.
    let again = s.pull_payments().await;
    assert_eq!(again.iter().map(|l| &l["instruction_id"]).collect::<Vec<_>>(), [&b]);
    let (status, report) = s.pay_answer(json!([answer(&b, "failed", Some("bank_unavailable"), "F3")])).await;
    assert_eq!((status, report["needs_action"].as_u64()), (200, Some(1)), "{report}");
    assert!(s.pull_payments().await.is_empty());

    // Both wait for a person: the county's list, JSON and CSV.
    let (status, list) = p.get(&p.county, "/api/v1/payment-instructions?state=needs_action").await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let of_b = items.iter().find(|i| i["instruction_id"] == b).unwrap();
    assert_eq!(
        (of_b["attempts"].as_i64(), of_b["code"].as_str(), of_b["village"].as_str()),
        (Some(2), Some("bank_unavailable"), Some("前进村"))
    );
    assert_eq!(of_b["name"].as_str().unwrap().chars().nth(1), Some('*'));
    let of_c = items.iter().find(|i| i["instruction_id"] == c).unwrap();
    assert_eq!((of_c["attempts"].as_i64(), of_c["code"].as_str()), (Some(1), Some("account_closed")));
    let r = p
        .app
        .http
        .get(format!("{}/api/v1/payment-instructions?state=needs_action", p.gw))
        .bearer_auth(&p.county)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.starts_with("instruction_id,setl_id,psn_no,card_no,name,village,amount,attempts,code"), "{text}");
    assert!(text.contains("account_closed,F2"), "{text}");
    let (_, other) = p.app.client(&p.admin, "county_office", &["210803"]).await;
    let (_, theirs) = p.get(&other, "/api/v1/payment-instructions?state=needs_action").await;
    assert_eq!(theirs["items"], json!([]));
    let (status, _) =
        p.post(&other, &format!("/api/v1/payment-instructions/{}/reissue", c.as_str().unwrap()), json!({})).await;
    assert_eq!(status, 404);

    // Re-issued: pending again, paid in the next envelope; a paid one is not re-issued.
    for id in [&b, &c] {
        let (status, body) = p
            .post(&p.county, &format!("/api/v1/payment-instructions/{}/reissue", id.as_str().unwrap()), json!({}))
            .await;
        assert_eq!(
            (status, body["state"].as_str(), body["attempts"].as_i64()),
            (200, Some("pending"), Some(0)),
            "{body}"
        );
    }
    let (status, body) =
        p.post(&p.county, &format!("/api/v1/payment-instructions/{}/reissue", a.as_str().unwrap()), json!({})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("payment_not_needing_action")), "{body}");
    let third = s.pull_payments().await;
    assert_eq!(third.len(), 2);
    let (status, report) = s.pay_answer(json!([answer(&b, "paid", None, "P5"), answer(&c, "paid", None, "P6")])).await;
    assert_eq!((status, report["paid"].as_u64()), (200, Some(2)), "{report}");

    // d's claim cancelled after payment: owed back, then collected.
    let d_setl = lines.iter().find(|l| l["instruction_id"] == d).unwrap()["setl_id"].as_str().unwrap().to_string();
    let (status, body) = p.post(&p.county, &format!("/api/v1/claims/{d_setl}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let owed = s.balances().await;
    assert_eq!(owed["recoveries_receivable"].as_i64(), Some(PAY), "{owed}");
    let recovery = format!("/api/v1/payment-instructions/{}/recovery", d.as_str().unwrap());
    let (status, body) = p
        .post(
            &p.county,
            &format!("/api/v1/payment-instructions/{}/recovery", a.as_str().unwrap()),
            json!({"outcome": "collected", "reference": "R1"}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("recovery_not_owed")), "{body}");
    let (status, body) = p.post(&p.county, &recovery, json!({"outcome": "collected", "reference": "HS-1"})).await;
    assert_eq!((status, body["recovery"]["state"].as_str()), (200, Some("collected")), "{body}");
    let (status, body) = p.post(&p.county, &recovery, json!({"outcome": "written_off", "reference": "HS-2"})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("recovery_already_recorded")), "{body}");

    // The ledger: three paid out of the fund onto cards, the rest back in the pool.
    let end = s.balances().await;
    assert_eq!(
        (
            end["reimbursement_payable"].as_i64(),
            end["bank_clearing"].as_i64(),
            end["recoveries_receivable"].as_i64(),
            end["fund_pool"].as_i64()
        ),
        (Some(0), Some(3 * PAY), Some(0), Some(5 * crate::settlement::PREMIUM - 3 * PAY)),
        "{end}"
    );
    let out = tokio::task::block_in_place(|| p.app.env.cli(&["ledger", "check"]));
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
