//! Claims through the gateway: a quote equals the settlement; a claim sent again (by
//! key, by msgid, by Idempotency-Key) answers the first answer; the same key or msgid
//! with another body is refused; bad claims are refused precisely with nothing stored;
//! the annual cap holds under fifty concurrent claims; cancel and reversal give the
//! cap and the money back; the ledger check passes after all of it.

use chrono::{Datelike, Duration as Days, Utc};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::*;

on_both_backends!(a_claim_is_settled_once_and_undone_precisely, the_annual_cap_holds_under_concurrent_claims);

const COUNTY: &str = "210804";
const CLINIC: &str = "H21080400001";
const CAP: i64 = 15_000_000;

/// Now in China, where the platform's times are written.
fn china_now() -> chrono::NaiveDateTime {
    (Utc::now() + Days::hours(8)).naive_utc()
}

fn msgid(seq: u32) -> String {
    format!("{CLINIC}{}{seq:04}", china_now().format("%Y%m%d%H%M%S"))
}

/// An inpatient claim at a county hospital, admitted and discharged a moment ago (the
/// card was activated only seconds before, and no admission may be in the future).
fn claim(msgid: &str, ipt: &str, card: &str, inscp: i64) -> Value {
    let now = china_now();
    let (begin, end) = ((now - Days::seconds(1)).format("%Y-%m-%d %H:%M:%S"), now.format("%Y-%m-%d %H:%M:%S"));
    json!({
        "msgid": msgid, "ipt_otp_no": ipt, "mdtrt_cert_type": "03", "mdtrt_cert_no": card, "insutype": "390",
        "med_type": "21", "level": "county",
        "begntime": begin.to_string(), "endtime": end.to_string(),
        "medfee_sumamt": inscp + 100_000, "fulamt_ownpay_amt": 50_000, "overlmt_selfpay": 20_000,
        "preselfpay_amt": 30_000, "inscp_scp_amt": inscp
    })
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
        "subsidy_per_person": 61000
    })
}

struct Ward {
    p: Province,
    clinic: String,
    cards: Vec<String>,
}

impl Ward {
    /// `n` people with activated cards; the first `paid` enrolled and paid, the next
    /// one enrolled only.
    async fn new(backend: Backend, n: usize, paid: usize) -> Ward {
        let p = Province::new(backend, &[]).await;
        let year = china_now().year();
        assert_eq!(p.put(&p.admin, &format!("/api/v1/policies/{COUNTY}/{year}"), policy(year)).await.0, 201);
        assert_eq!(
            p.put(&p.admin, &format!("/api/v1/bank-assignments/{COUNTY}"), json!({"bank": "BANK-P"})).await.0,
            200
        );
        let (_, clinic) = p.app.client(&p.admin, "clinic", &[CLINIC]).await;
        let (_, bank) = p.app.client(&p.admin, "bank", &["BANK-P"]).await;
        let cards = p.activated_cards(&people(n), 1).await;
        for card in &cards {
            eventually("card in settlement", || async {
                p.get(&clinic, &format!("/api/v1/eligibility?card_no={card}")).await.0 == 200
            })
            .await;
        }
        let rows: Vec<Value> = cards.iter().take(paid + 1).map(|c| json!({"card_no": c, "year": year})).collect();
        assert_eq!(p.post(&p.county, "/api/v1/enrollments", Value::Array(rows)).await.0, 200);
        let (status, run) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": year})).await;
        assert_eq!(status, 201, "{run}");
        let (_, envelopes) = p.get(&bank, "/api/v1/debit-envelopes?state=pending").await;
        let mut answers = Vec::new();
        for e in envelopes["items"].as_array().unwrap() {
            let (_, full) =
                p.get(&bank, &format!("/api/v1/debit-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
            for line in full["instructions"].as_array().unwrap() {
                let paid_card = cards.iter().take(paid).any(|c| line["card_no"] == c.as_str());
                answers.push(if paid_card {
                    json!({"instruction_id": line["instruction_id"], "outcome": "collected", "bank_reference": "P"})
                } else {
                    json!({"instruction_id": line["instruction_id"], "outcome": "failed", "code": "insufficient_funds", "bank_reference": "F"})
                });
            }
        }
        let (status, report) = p.post(&bank, "/api/v1/debit-instructions/results", json!({ "results": answers })).await;
        assert_eq!(status, 200, "{report}");
        // Admissions are stamped to the second and must follow the activation.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        Ward { p, clinic, cards }
    }

    async fn send(&self, path: &str, body: &Value) -> (u16, Value) {
        self.p.post(&self.clinic, path, body.clone()).await
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

fn field_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| (e["field"].as_str().unwrap().into(), e["code"].as_str().unwrap().into())).collect())
        .unwrap_or_default()
}

async fn a_claim_is_settled_once_and_undone_precisely(backend: Backend) {
    let w = Ward::new(backend, 3, 1).await;
    let card = &w.cards[0];
    let first_msgid = msgid(1);
    let body = claim(&first_msgid, "ZY0001", card, 900_000);

    // The quote is the settlement, without its effects.
    let (status, quote) = w.send("/api/v1/claims/quote", &body).await;
    assert_eq!(status, 200, "{quote}");
    assert_eq!((quote["act_pay_dedc"].as_i64(), quote["hifp_pay"].as_i64()), (Some(30_000), Some(652_500)), "{quote}");
    let (_, again) = w.send("/api/v1/claims/quote", &body).await;
    assert_eq!(again, quote, "a quote uses no cap");
    let (status, settled) = w.send("/api/v1/claims", &body).await;
    assert_eq!(status, 200, "{settled}");
    for term in [
        "deductible",
        "ratio",
        "cap",
        "used_before",
        "left_before",
        "act_pay_dedc",
        "hifp_pay",
        "pool_prop_selfpay",
        "fund_pay_sumamt",
        "psn_part_amt",
        "acct_pay",
        "psn_cash_pay",
    ] {
        assert_eq!(settled[term], quote[term], "{term}: {settled}");
    }
    assert_eq!(
        (settled["state"].as_str(), settled["medins_setl_id"].as_str()),
        (Some("approved"), Some(first_msgid.as_str()))
    );
    assert_eq!((settled["policy_version"].as_i64(), settled["payment_state"].as_str()), (Some(1), Some("pending")));
    assert_eq!(settled["psn_part_amt"].as_i64(), Some(1_000_000 - 652_500));
    let setl_id = settled["setl_id"].as_str().unwrap().to_string();
    let (_, eligible) = w.p.get(&w.clinic, &format!("/api/v1/eligibility?card_no={card}")).await;
    assert_eq!(eligible["caps"]["inpatient"], json!({"cap": CAP, "used": 652_500, "left": CAP - 652_500}));

    // Sent again: the first answer, by msgid, by key in a new message, by Idempotency-Key.
    let (status, repeat) = w.send("/api/v1/claims", &body).await;
    assert_eq!((status, repeat["setl_id"].as_str()), (200, Some(setl_id.as_str())));
    let mut new_message = body.clone();
    new_message["msgid"] = json!(msgid(2));
    let (status, repeat) = w.send("/api/v1/claims", &new_message).await;
    assert_eq!((status, repeat["setl_id"].as_str()), (200, Some(setl_id.as_str())), "{repeat}");
    let resent_as = new_message["msgid"].as_str().unwrap();
    let (status, found) = w.p.get(&w.clinic, &format!("/api/v1/claims?msgid={resent_as}")).await;
    assert_eq!((status, found["setl_id"].as_str()), (200, Some(setl_id.as_str())), "the new msgid names it too");
    let keyed = claim(&msgid(3), "ZY0002", card, 100_000);
    let send_keyed = || {
        w.p.app
            .http
            .post(format!("{}/api/v1/claims", w.p.gw))
            .bearer_auth(&w.clinic)
            .header("Idempotency-Key", "claim-zy0002")
            .json(&keyed)
            .send()
    };
    let (status, one) = json_of(send_keyed().await.unwrap()).await;
    let (_, two) = json_of(send_keyed().await.unwrap()).await;
    assert_eq!((status, two["setl_id"].clone()), (200, one["setl_id"].clone()));
    // The same key or msgid with another body is refused, naming the settlement.
    let (status, body409) = w.send("/api/v1/claims", &claim(&msgid(4), "ZY0001", card, 800_000)).await;
    assert_eq!((status, body409["code"].as_str()), (409, Some("claim_exists")), "{body409}");
    assert!(body409["detail"].as_str().unwrap().contains(&setl_id));
    let (status, body409) = w.send("/api/v1/claims", &claim(&first_msgid, "ZY0009", card, 900_000)).await;
    assert_eq!((status, body409["code"].as_str()), (409, Some("msgid_reused")), "{body409}");

    // The lookup by msgid after a timeout.
    let (status, found) = w.p.get(&w.clinic, &format!("/api/v1/claims?msgid={first_msgid}")).await;
    assert_eq!((status, found["setl_id"].as_str()), (200, Some(setl_id.as_str())));
    assert_eq!(w.p.get(&w.clinic, &format!("/api/v1/claims?msgid={}", msgid(99))).await.0, 404);

    // Bad claims: precise codes, nothing stored.
    let mut parts = claim(&msgid(10), "ZY0010", card, 900_000);
    parts["medfee_sumamt"] = json!(1);
    let mut future = claim(&msgid(11), "ZY0011", card, 900_000);
    future["begntime"] = json!(format!("{} 00:00:00", china_now().date() + Days::days(3)));
    let mut backwards = claim(&msgid(12), "ZY0012", card, 900_000);
    backwards["endtime"] = json!("2003-01-01 00:00:00");
    let mut huge = claim(&msgid(13), "ZY0013", card, 900_000);
    huge["fulamt_ownpay_amt"] = json!(2_000_000_000_000_i64);
    let cases = [
        (parts, "medfee_sumamt", "parts_do_not_add_up"),
        (future, "begntime", "admission_in_future"),
        (backwards, "endtime", "discharge_before_admission"),
        (huge, "fulamt_ownpay_amt", "amount_too_large"),
        (
            claim(&format!("H99999999999{}", &msgid(14)[12..]), "ZY0014", card, 900_000),
            "msgid",
            "msgid_of_another_institution",
        ),
        (claim("H2108040000120261301", "ZY0015", card, 900_000), "msgid", "msgid_invalid"),
        (claim(&msgid(16), "ZY0016", &pan(999), 900_000), "mdtrt_cert_no", "card_unknown"),
        (claim(&msgid(17), "ZY0017", &w.cards[1], 900_000), "begntime", "premium_unpaid"),
        (claim(&msgid(18), "ZY0018", &w.cards[2], 900_000), "begntime", "not_enrolled"),
    ];
    for (bad, field, code) in cases {
        let (status, problem) = w.send("/api/v1/claims", &bad).await;
        assert_eq!(status, 422, "{code}: {problem}");
        assert!(field_codes(&problem).contains(&(field.into(), code.into())), "{code}: {problem}");
    }
    let (_, eligible) = w.p.get(&w.clinic, &format!("/api/v1/eligibility?card_no={card}")).await;
    let used = 652_500 + one["hifp_pay"].as_i64().unwrap();
    assert_eq!(eligible["caps"]["inpatient"]["used"].as_i64(), Some(used), "nothing stored by the refused claims");

    // Cancel: not by another clinic; once; the cap comes back.
    let (_, stranger) = w.p.app.client(&w.p.admin, "clinic", &["H21080400002"]).await;
    let (status, _) = w.p.post(&stranger, &format!("/api/v1/claims/{setl_id}/cancel"), json!({})).await;
    assert_eq!(status, 404);
    let (status, negated) =
        w.send(&format!("/api/v1/claims/{setl_id}/cancel"), &json!({"reason": "wrong patient"})).await;
    assert_eq!(status, 200, "{negated}");
    assert_eq!((negated["hifp_pay"].as_i64(), negated["cancels"].as_str()), (Some(-652_500), Some(setl_id.as_str())));
    let (status, again) = w.send(&format!("/api/v1/claims/{setl_id}/cancel"), &json!({})).await;
    assert_eq!((status, again["code"].as_str()), (409, Some("claim_already_cancelled")), "{again}");
    let (_, original) = w.p.get(&w.clinic, &format!("/api/v1/claims/{setl_id}")).await;
    assert_eq!((original["state"].as_str(), original["hifp_pay"].as_i64()), (Some("cancelled"), Some(652_500)));
    assert_eq!(original["cancelled_by"], negated["setl_id"]);
    let (_, eligible) = w.p.get(&w.clinic, &format!("/api/v1/eligibility?card_no={card}")).await;
    assert_eq!(eligible["caps"]["inpatient"]["used"].as_i64(), Some(used - 652_500));

    // Reversal: of a settled msgid, it cancels; of one that never arrived, it kills it.
    let keyed_msgid = keyed["msgid"].as_str().unwrap().to_string();
    let (status, reversed) = w.send("/api/v1/claims/reversals", &json!({"omsgid": keyed_msgid})).await;
    assert_eq!((status, reversed["outcome"].as_str()), (200, Some("cancelled")), "{reversed}");
    let lost = msgid(50);
    let (status, reversed) = w.send("/api/v1/claims/reversals", &json!({"omsgid": lost})).await;
    assert_eq!((status, reversed["outcome"].as_str()), (200, Some("never_arrived")), "{reversed}");
    let (status, late) = w.send("/api/v1/claims", &claim(&lost, "ZY0050", card, 900_000)).await;
    assert_eq!((status, late["code"].as_str()), (409, Some("msgid_reversed")), "{late}");
    let (_, eligible) = w.p.get(&w.clinic, &format!("/api/v1/eligibility?card_no={card}")).await;
    assert_eq!(eligible["caps"]["inpatient"]["used"].as_i64(), Some(0));

    // The fund: everything approved was taken back to the pool.
    let year = china_now().year();
    let (_, fund) = w.p.get(&w.p.admin, &format!("/api/v1/funds/{COUNTY}?year={year}")).await;
    assert_eq!(fund["years"][0]["balances"]["reimbursement_payable"].as_i64(), Some(0), "{fund}");
    assert_eq!(fund["years"][0]["balances"]["fund_pool"].as_i64(), Some(38_000), "{fund}");
    w.ledger_check();
}

async fn the_annual_cap_holds_under_concurrent_claims(backend: Backend) {
    let w = Ward::new(backend, 1, 1).await;
    let card = w.cards[0].clone();
    // Fifty stays of one person at once overlap: with the fraud rules on, they would be
    // flagged (still holding the cap). Off, so that the race is between approvals.
    let year = china_now().year();
    let mut quiet = policy(year);
    quiet["fraud_thresholds"] = json!({"disabled_rules": ["overlapping_stay", "duplicate_visit"]});
    assert_eq!(w.p.put(&w.p.admin, &format!("/api/v1/policies/{COUNTY}/{year}"), quiet).await.0, 201);
    // Each claim is worth 40% of the cap: (8,030,000 - 30,000) * 75% = 6,000,000.
    let claims: Vec<Value> = (0..50).map(|i| claim(&msgid(100 + i), &format!("ZY1{i:03}"), &card, 8_030_000)).collect();
    let answers = futures_util::future::join_all(claims.iter().map(|c| w.send("/api/v1/claims", c))).await;
    let mut paid: Vec<i64> = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["state"], "approved", "{body}");
        assert_eq!(body["payment_instruction_id"].is_string(), body["hifp_pay"].as_i64() > Some(0), "{body}");
        assert_eq!(body["before_cap"].as_i64(), Some(6_000_000), "{body}");
        assert_eq!(
            body["hifp_pay"].as_i64().unwrap(),
            body["before_cap"].as_i64().unwrap().min(body["left_before"].as_i64().unwrap())
        );
        paid.push(body["hifp_pay"].as_i64().unwrap());
    }
    assert_eq!(paid.iter().sum::<i64>(), CAP);
    paid.sort_unstable();
    paid.reverse();
    assert_eq!(&paid[..4], &[6_000_000, 6_000_000, 3_000_000, 0]);
    let crossing = answers.iter().find(|(_, b)| b["hifp_pay"] == 3_000_000).unwrap();
    assert_eq!(
        (crossing.1["used_before"].as_i64(), crossing.1["left_before"].as_i64()),
        (Some(12_000_000), Some(3_000_000))
    );
    let (_, eligible) = w.p.get(&w.clinic, &format!("/api/v1/eligibility?card_no={card}")).await;
    assert_eq!(eligible["caps"]["inpatient"], json!({"cap": CAP, "used": CAP, "left": 0}));
    w.ledger_check();
}
