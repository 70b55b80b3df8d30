//! A seeded random soak of claims and payments (Settlement II, point 8): twenty people
//! with paid cards (two unpaid), three clinics and one bank go through a sequence of
//! operations chosen by a fixed-seed generator (new claims, some over the cap; the same
//! claim sent again by msgid and by key; other terms under a known key or msgid;
//! cancels, twice and by strangers; reversals of settled, cancelled, repeated and never
//! sent msgids; quotes; the bank sealing and pulling envelopes, some left unpulled, and
//! answering paid, failed retryable or final, with repeats, contradictions and
//! instructions it never got; re-issues; recoveries of money owed back). A model of
//! what must be true judges every answer as it comes (status, code, the settlement a
//! repeat names, every term of a new settlement from the cap used so far, each bank
//! report). At the end `healthcard ledger check` passes, the balances are the model's,
//! and one by one every claim, cancel record, msgid, payment instruction, envelope,
//! cap and ledger transaction is the model's, and nothing else is in the ledger.
//!
//! `HEALTHCARD_SOAK_OPERATIONS` sets the number of operations (10,000 by default).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::people;
use crate::settlement::{COUNTY, PREMIUM, Scheme};

on_both_backends!(a_random_sequence_of_claims_and_payments_keeps_the_ledger_right);

const SEED: u64 = 0x5e77_1e11_2026_0008;
const CLINICS: [&str; 3] = ["H21080400001", "H21080400002", "H21080400003"];
const PEOPLE: usize = 20;
/// The last ones are enrolled, their premium never collected.
const UNPAID: usize = 2;
const MAX_ATTEMPTS: i32 = 2;
const ENVELOPE_SIZE: usize = 8;
const SUBSIDY: i64 = 2_000_000_000;

/// Inpatient deductible and ratio per level, as [`crate::settlement::policy`] sets them.
const LEVELS: [(&str, i64, i64); 5] = [
    ("village", 10000, 8500),
    ("township", 10000, 8500),
    ("county", 30000, 7500),
    ("municipal", 60000, 6000),
    ("provincial", 100000, 5000),
];
const CARES: [&str; 3] = ["inpatient", "outpatient", "chronic"];
const CAPS: [i64; 3] = [15_000_000, 40_000, 300_000];
const RETRYABLE: [&str; 2] = ["timeout", "bank_unavailable"];
const FINAL: [&str; 4] = ["account_closed", "account_frozen", "card_lost", "card_not_found"];

fn china_now() -> chrono::NaiveDateTime {
    (Utc::now() + chrono::Duration::hours(8)).naive_utc()
}

/// splitmix64: the same operations in the same order on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() { None } else { Some(items[self.below(items.len())].clone()) }
    }
}

/// (care, deductible, ratio) of a claim.
fn terms_of(body: &Value) -> (usize, i64, i64) {
    match body["med_type"].as_str().unwrap() {
        "21" => {
            let level = LEVELS.iter().find(|l| body["level"] == l.0).unwrap();
            (0, level.1, level.2)
        }
        "11" => (1, 0, 5000),
        _ => (2, 0, 6000),
    }
}

fn amount(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} in {v}"))
}

/// The body without its msgid: what makes two messages the same claim.
fn same_claim(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("msgid");
        v
    };
    strip(a) == strip(b)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pay {
    Pending,
    Paid,
    NeedsAction,
    Withdrawn,
}

impl Pay {
    fn as_str(self) -> &'static str {
        match self {
            Pay::Pending => "pending",
            Pay::Paid => "paid",
            Pay::NeedsAction => "needs_action",
            Pay::Withdrawn => "withdrawn",
        }
    }
}

/// One answer of the bank: outcome, code, reference.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Said {
    paid: bool,
    code: Option<&'static str>,
    reference: String,
}

impl Said {
    fn json(&self, id: &str) -> Value {
        match self.code {
            None => json!({"instruction_id": id, "outcome": "paid", "bank_reference": self.reference}),
            Some(code) => {
                json!({"instruction_id": id, "outcome": "failed", "code": code, "bank_reference": self.reference})
            }
        }
    }
}

/// A payment instruction as the model knows it.
struct Instr {
    id: String,
    claim: usize,
    amount: i64,
    state: Pay,
    /// The envelope the service keeps it in (None: loose).
    envelope: Option<usize>,
    attempts: i32,
    /// Envelopes it was answered in, and every answer ever recorded.
    answered_in: Vec<usize>,
    said: Vec<Said>,
    code: Option<&'static str>,
    reference: Option<String>,
    /// `owed`, `collected`, `written_off`.
    recovery: Option<&'static str>,
}

struct Envelope {
    id: String,
    /// What was sealed into it.
    members: Vec<usize>,
    /// The lines of the bank's first read; the envelope is pulled from then on.
    pulled: Option<Vec<usize>>,
}

/// One settlement.
struct Settled {
    clinic: usize,
    person: usize,
    care: usize,
    body: Value,
    msgid: String,
    setl_id: String,
    hifp: i64,
    /// The negated record, once cancelled.
    cancel: Option<String>,
    payment: Option<usize>,
}

#[derive(Clone, Copy)]
enum Fate {
    Settled(usize),
    Dead,
}

#[derive(Debug)]
enum Expect {
    New,
    Existing(usize),
    Conflict(&'static str),
    Refused(&'static str),
}

#[derive(Default)]
struct Model {
    used: Vec<[i64; 3]>,
    claims: Vec<Settled>,
    instrs: Vec<Instr>,
    envelopes: Vec<Envelope>,
    fates: HashMap<(usize, String), Fate>,
    /// Settlements not cancelled by (clinic, ipt_otp_no).
    active: HashMap<(usize, String), usize>,
    /// Every body sent, with its clinic and person.
    bodies: Vec<(usize, usize, Value)>,
    /// Msgids the service never stored: repeats by key, never sent, reversed.
    loose_msgids: Vec<(usize, String)>,
    /// (kind, reference) -> lines, for every transaction after the setup.
    postings: BTreeMap<(String, String), Vec<(String, i64)>>,
}

impl Model {
    fn post(&mut self, kind: &str, reference: String, to: &str, from: &str, x: i64) {
        let key = (kind.to_string(), reference);
        assert!(!self.postings.contains_key(&key), "the model posts {key:?} twice");
        self.postings.insert(key, vec![(to.to_string(), x), (from.to_string(), -x)]);
    }

    fn expect_settle(&self, clinic: usize, person: usize, body: &Value) -> Expect {
        let msgid = body["msgid"].as_str().unwrap().to_string();
        match self.fates.get(&(clinic, msgid)) {
            Some(Fate::Settled(c)) => {
                return if same_claim(&self.claims[*c].body, body) {
                    Expect::Existing(*c)
                } else {
                    Expect::Conflict("msgid_reused")
                };
            }
            Some(Fate::Dead) => return Expect::Conflict("msgid_reversed"),
            None => {}
        }
        let ipt = body["ipt_otp_no"].as_str().unwrap().to_string();
        if let Some(c) = self.active.get(&(clinic, ipt)) {
            return if same_claim(&self.claims[*c].body, body) {
                Expect::Existing(*c)
            } else {
                Expect::Conflict("claim_exists")
            };
        }
        if person >= PEOPLE - UNPAID { Expect::Refused("premium_unpaid") } else { Expect::New }
    }

    fn is_open(&self, i: usize) -> bool {
        let p = &self.instrs[i];
        p.state == Pay::Pending
            && p.envelope.is_some_and(|e| self.envelopes[e].pulled.is_some() && !p.answered_in.contains(&e))
    }

    fn withdraw(&mut self, i: usize) {
        self.instrs[i].state = Pay::Withdrawn;
        let (setl, x) = (self.claims[self.instrs[i].claim].setl_id.clone(), self.instrs[i].amount);
        self.post("claim_cancelled", format!("cancel:{setl}"), "fund_pool", "reimbursement_payable", x);
    }

    fn owe_back(&mut self, i: usize) {
        self.instrs[i].recovery = Some("owed");
        let (setl, x) = (self.claims[self.instrs[i].claim].setl_id.clone(), self.instrs[i].amount);
        self.post("claim_cancelled", format!("cancel:{setl}"), "recoveries_receivable", "bank_clearing", x);
    }

    /// Claim `c` cancelled by the negated record `negated`; what became of its payment.
    fn cancelled(&mut self, c: usize, negated: String) -> &'static str {
        let claim = &mut self.claims[c];
        assert!(claim.cancel.is_none());
        claim.cancel = Some(negated);
        self.used[claim.person][claim.care] -= claim.hifp;
        let key = (claim.clinic, claim.body["ipt_otp_no"].as_str().unwrap().to_string());
        assert_eq!(self.active.remove(&key), Some(c));
        let Some(i) = claim.payment else { return "cancelled, nothing paid" };
        match self.instrs[i].state {
            Pay::Pending => match self.instrs[i].envelope {
                Some(e) if self.envelopes[e].pulled.is_some() => "cancelled, the bank has the payment",
                Some(_) => {
                    self.withdraw(i);
                    "cancelled, withdrawn from an unpulled envelope"
                }
                None => {
                    self.withdraw(i);
                    "cancelled, withdrawn while loose"
                }
            },
            Pay::NeedsAction => {
                self.withdraw(i);
                "cancelled, withdrawn while needing action"
            }
            Pay::Paid => {
                self.owe_back(i);
                "cancelled after payment, owed back"
            }
            Pay::Withdrawn => panic!("a payment withdrawn before its claim was cancelled"),
        }
    }

    /// The lines an envelope shows: what was sealed into it and not withdrawn before
    /// its first read, and after that read always the same.
    fn lines_of(&self, e: usize) -> Vec<usize> {
        match &self.envelopes[e].pulled {
            Some(lines) => lines.clone(),
            None => {
                self.envelopes[e].members.iter().copied().filter(|i| self.instrs[*i].state != Pay::Withdrawn).collect()
            }
        }
    }

    /// Balances by account of the postings after the setup.
    fn moved(&self) -> BTreeMap<String, i64> {
        let mut sums = BTreeMap::new();
        for lines in self.postings.values() {
            for (account, x) in lines {
                *sums.entry(account.clone()).or_insert(0) += x;
            }
        }
        sums
    }

    /// The same balances from the states of claims, instructions and recoveries.
    fn moved_by_state(&self) -> BTreeMap<String, i64> {
        let sum = |f: &dyn Fn(&Instr) -> bool| self.instrs.iter().filter(|p| f(p)).map(|p| p.amount).sum::<i64>();
        let approved: i64 = self.claims.iter().map(|c| c.hifp).sum();
        let withdrawn = sum(&|p| p.state == Pay::Withdrawn);
        let paid = sum(&|p| p.state == Pay::Paid);
        let recovered = |state: &str| sum(&|p| p.recovery == Some(state));
        let owed_ever = sum(&|p| p.recovery.is_some());
        let mut b = BTreeMap::new();
        b.insert("fund_pool".to_string(), withdrawn + recovered("collected") - approved);
        b.insert("reimbursement_payable".to_string(), sum(&|p| matches!(p.state, Pay::Pending | Pay::NeedsAction)));
        b.insert("bank_clearing".to_string(), paid - owed_ever);
        b.insert("recoveries_receivable".to_string(), recovered("owed"));
        b.insert("paid_out".to_string(), recovered("written_off"));
        b
    }
}

struct Soak {
    s: Scheme,
    clinics: Vec<String>,
    cards: Vec<String>,
    rng: Rng,
    m: Model,
    seq: u64,
    references: u64,
    /// The balances and transactions of the setup (premiums, the subsidy).
    setup_balances: BTreeMap<String, i64>,
    setup_transactions: Vec<Value>,
    counts: BTreeMap<&'static str, u64>,
}

impl Soak {
    async fn new(backend: Backend) -> Soak {
        let size = ENVELOPE_SIZE.to_string();
        let attempts = MAX_ATTEMPTS.to_string();
        // The soak's claims come at random (the same people at the same clinics, on
        // one day): the fraud rules, which settlement_review.rs tests, are off here, so
        // that every new claim is approved and the model judges payments and the ledger.
        let mut policy = crate::settlement::policy(crate::settlement::this_year());
        policy["fraud_thresholds"] = json!({"disabled_rules": [
            "overlapping_stay", "before_enrollment", "after_card_lost",
            "outpatient_frequency", "amount_outlier", "duplicate_visit"
        ]});
        let s = Scheme::with_policy(
            backend,
            &[
                ("HEALTHCARD_PAYMENT_MAX_ATTEMPTS", &attempts),
                ("HEALTHCARD_DEBIT_ENVELOPE_SIZE", &size),
                // The clinics and the bank here send far more than a clinic would.
                ("HEALTHCARD_RATE_LIMIT_PER_SECOND", "1000000"),
                ("HEALTHCARD_RATE_LIMIT_BURST", "1000000"),
            ],
            policy,
        )
        .await;
        let p = &s.p;
        let mut clinics = vec![s.clinic.clone()];
        for code in &CLINICS[1..] {
            clinics.push(p.app.client(&p.admin, "clinic", &[*code]).await.1);
        }
        let cards = p.activated_cards(&people(PEOPLE), 1).await;
        for card in &cards {
            s.wait_card(card, "activated").await;
        }
        let rows: Vec<Value> = cards.iter().map(|c| json!({"card_no": c, "year": s.year})).collect();
        let (status, report) = s.enroll_json(Value::Array(rows)).await;
        assert_eq!((status, report["enrolled"].as_u64()), (200, Some(PEOPLE as u64)), "{report}");
        let (status, run) = p.post(&p.admin, "/api/v1/debit-runs", json!({"county": COUNTY, "year": s.year})).await;
        assert_eq!(status, 201, "{run}");
        let mut answers = Vec::new();
        for e in s.pending_envelopes().await {
            let (_, full) =
                p.get(&s.bank, &format!("/api/v1/debit-envelopes/{}", e["envelope_id"].as_str().unwrap())).await;
            for line in full["instructions"].as_array().unwrap() {
                let unpaid = cards[PEOPLE - UNPAID..].iter().any(|c| line["card_no"] == c.as_str());
                answers.push(if unpaid {
                    json!({"instruction_id": line["instruction_id"], "outcome": "failed", "code": "insufficient_funds", "bank_reference": "F"})
                } else {
                    json!({"instruction_id": line["instruction_id"], "outcome": "collected", "bank_reference": "D"})
                });
            }
        }
        assert_eq!(answers.len(), PEOPLE);
        let (status, report) = s.answer(Value::Array(answers)).await;
        assert_eq!(status, 200, "{report}");
        let subsidy = json!({"year": s.year, "source": "central", "amount": SUBSIDY, "reference": "CZ-SOAK-1"});
        let (status, body) = p.post(&p.admin, &format!("/api/v1/funds/{COUNTY}/subsidies"), subsidy).await;
        assert_eq!(status, 201, "{body}");
        // Admissions after the activation, never in the future.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

        let mut soak = Soak {
            s,
            clinics,
            cards,
            rng: Rng(SEED),
            m: Model { used: vec![[0; 3]; PEOPLE], ..Model::default() },
            seq: 0,
            references: 0,
            setup_balances: BTreeMap::new(),
            setup_transactions: Vec::new(),
            counts: BTreeMap::new(),
        };
        soak.setup_balances = soak.balances().await;
        let paid = (PEOPLE - UNPAID) as i64 * PREMIUM;
        assert_eq!(soak.setup_balances["fund_pool"], paid + SUBSIDY);
        soak.setup_transactions = soak.ledger().await;
        let kinds: Vec<&str> = soak.setup_transactions.iter().map(|t| t["kind"].as_str().unwrap()).collect();
        assert!(kinds.iter().all(|k| ["premium_collected", "subsidy_received"].contains(k)), "{kinds:?}");
        soak
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.s.p.get(token, path).await
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.s.p.post(token, path, body).await
    }

    /// Many reads at once, answers in order.
    async fn get_many(&self, token: &str, paths: Vec<String>) -> Vec<(u16, Value)> {
        use futures_util::stream::{self, StreamExt};
        let p = &self.s.p;
        stream::iter(paths).map(|path| async move { p.get(token, &path).await }).buffered(8).collect().await
    }

    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_insert(0) += 1;
    }

    fn msgid(&mut self, clinic: usize) -> String {
        self.seq += 1;
        format!("{}{}{:04}", CLINICS[clinic], china_now().format("%Y%m%d%H%M%S"), self.seq % 10_000)
    }

    fn reference(&mut self, prefix: &str) -> String {
        self.references += 1;
        format!("{prefix}{}", self.references)
    }

    /// A new claim: a random kind of care and level, amounts that add up, now and then
    /// far over the cap, now and then below the deductible.
    fn new_body(&mut self, clinic: usize, person: usize) -> Value {
        let r = &mut self.rng;
        let med_type = match r.below(4) {
            0 => "11",
            1 => "14",
            _ => "21",
        };
        let level = LEVELS[r.below(LEVELS.len())].0;
        let inscp = match (med_type, r.below(50)) {
            (_, 0..=2) => r.range(0, 12_000),
            ("21", 3) => r.range(2_000_000, 16_000_000),
            ("21", _) => r.range(30_000, 500_000),
            ("11", _) => r.range(500, 4_000),
            _ => r.range(2_000, 25_000),
        };
        let (own, over, pre) = (r.range(0, 50_000), r.range(0, 20_000), r.range(0, 30_000));
        let msgid = self.msgid(clinic);
        self.seq += 1;
        let at = china_now().format("%Y-%m-%d %H:%M:%S").to_string();
        json!({
            "msgid": msgid, "ipt_otp_no": format!("ZY{:07}", self.seq), "mdtrt_cert_type": "03",
            "mdtrt_cert_no": self.cards[person], "insutype": "390", "med_type": med_type, "level": level,
            "begntime": at, "endtime": at,
            "medfee_sumamt": own + over + pre + inscp, "fulamt_ownpay_amt": own, "overlmt_selfpay": over,
            "preselfpay_amt": pre, "inscp_scp_amt": inscp
        })
    }

    /// Every term of a settlement or quote, from the cap the model says is used.
    fn assert_terms(&self, person: usize, body: &Value, answer: &Value) -> i64 {
        let (care, deductible, ratio) = terms_of(body);
        let used = self.m.used[person][care];
        let inscp = amount(body, "inscp_scp_amt");
        let above = (inscp - deductible).max(0);
        let before_cap = (above * ratio + 5000) / 10000;
        let left = (CAPS[care] - used).max(0);
        let hifp = before_cap.min(left);
        let expected = json!({
            "deductible": deductible, "ratio": ratio, "cap": CAPS[care], "used_before": used, "left_before": left,
            "above_deductible": above, "before_cap": before_cap, "act_pay_dedc": inscp.min(deductible),
            "hifp_pay": hifp, "pool_prop_selfpay": above - hifp, "fund_pay_sumamt": hifp,
            "psn_part_amt": amount(body, "medfee_sumamt") - hifp, "acct_pay": 0,
            "psn_cash_pay": amount(body, "medfee_sumamt") - hifp
        });
        for (term, value) in expected.as_object().unwrap() {
            assert_eq!(&answer[term], value, "{term}: {answer}");
        }
        assert!(amount(answer, "hifp_pay") <= left && used + hifp <= CAPS[care], "over the cap: {answer}");
        hifp
    }

    /// The claim view of settlement `c`, as the model has it.
    fn assert_view(&self, c: usize, v: &Value) {
        let claim = &self.m.claims[c];
        let state = if claim.cancel.is_some() { "cancelled" } else { "approved" };
        assert_eq!(v["setl_id"], claim.setl_id.as_str(), "{v}");
        assert_eq!(
            (v["state"].as_str(), v["hifp_pay"].as_i64(), v["medins_setl_id"].as_str(), v["cancelled_by"].as_str()),
            (Some(state), Some(claim.hifp), Some(claim.msgid.as_str()), claim.cancel.as_deref()),
            "{v}"
        );
        for field in ["ipt_otp_no", "mdtrt_cert_no", "med_type", "level", "medfee_sumamt", "inscp_scp_amt"] {
            assert_eq!(v[field], claim.body[field], "{field}: {v}");
        }
        match claim.payment {
            Some(i) => {
                let p = &self.m.instrs[i];
                assert_eq!(
                    (v["payment_instruction_id"].as_str(), v["payment_state"].as_str()),
                    (Some(p.id.as_str()), Some(p.state.as_str())),
                    "{v}"
                );
            }
            None => assert!(v.get("payment_instruction_id").is_none() && v.get("payment_state").is_none(), "{v}"),
        }
    }

    /// Sends a claim and judges the answer.
    async fn settle(&mut self, clinic: usize, person: usize, body: Value) {
        let expect = self.m.expect_settle(clinic, person, &body);
        let (status, answer) = self.post(&self.clinics[clinic], "/api/v1/claims", body.clone()).await;
        let msgid = body["msgid"].as_str().unwrap().to_string();
        match expect {
            Expect::Existing(c) => {
                assert_eq!(status, 200, "{answer}");
                self.assert_view(c, &answer);
                if self.m.claims[c].msgid != msgid {
                    // Answered by key: this msgid names the claim from now on.
                    self.m.fates.insert((clinic, msgid), Fate::Settled(c));
                }
                self.count("repeat answered");
            }
            Expect::Conflict(code) => {
                assert_eq!((status, answer["code"].as_str()), (409, Some(code)), "{answer}");
                self.count(code);
            }
            Expect::Refused(code) => {
                assert_eq!(status, 422, "{answer}");
                let codes: Vec<&str> =
                    answer["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
                assert_eq!(codes, [code], "{answer}");
                self.m.loose_msgids.push((clinic, msgid));
                self.count(code);
            }
            Expect::New => {
                assert_eq!(status, 200, "{answer}");
                let hifp = self.assert_terms(person, &body, &answer);
                assert_eq!(
                    (answer["state"].as_str(), answer["medins_setl_id"].as_str(), answer["policy_version"].as_i64()),
                    (Some("approved"), Some(msgid.as_str()), Some(1)),
                    "{answer}"
                );
                let setl_id = answer["setl_id"].as_str().unwrap().to_string();
                let c = self.m.claims.len();
                let payment = if hifp > 0 {
                    assert_eq!(answer["payment_state"], "pending", "{answer}");
                    let id = answer["payment_instruction_id"].as_str().unwrap().to_string();
                    self.m.instrs.push(Instr {
                        id,
                        claim: c,
                        amount: hifp,
                        state: Pay::Pending,
                        envelope: None,
                        attempts: 0,
                        answered_in: Vec::new(),
                        said: Vec::new(),
                        code: None,
                        reference: None,
                        recovery: None,
                    });
                    self.m.post("claim_approved", setl_id.clone(), "reimbursement_payable", "fund_pool", hifp);
                    Some(self.m.instrs.len() - 1)
                } else {
                    assert!(answer.get("payment_instruction_id").is_none(), "{answer}");
                    None
                };
                let (care, _, _) = terms_of(&body);
                self.m.used[person][care] += hifp;
                self.m.fates.insert((clinic, msgid.clone()), Fate::Settled(c));
                self.m.active.insert((clinic, body["ipt_otp_no"].as_str().unwrap().to_string()), c);
                self.m.claims.push(Settled {
                    clinic,
                    person,
                    care,
                    body: body.clone(),
                    msgid,
                    setl_id,
                    hifp,
                    cancel: None,
                    payment,
                });
                self.count(if hifp == 0 { "settled, nothing to pay" } else { "settled" });
            }
        }
        self.m.bodies.push((clinic, person, body));
    }

    async fn op_new_claim(&mut self) {
        let (clinic, person) = (self.rng.below(CLINICS.len()), self.rng.below(PEOPLE));
        let body = self.new_body(clinic, person);
        self.settle(clinic, person, body).await;
    }

    /// An earlier message again: the same msgid, or a new one.
    async fn op_resend(&mut self, new_msgid: bool) {
        let Some((clinic, person, mut body)) = self.rng.pick(&self.m.bodies) else { return };
        if new_msgid {
            body["msgid"] = json!(self.msgid(clinic));
        }
        self.settle(clinic, person, body).await;
    }

    /// A known ipt_otp_no with other amounts, in a new message.
    async fn op_other_terms(&mut self) {
        let Some((clinic, person, mut body)) = self.rng.pick(&self.m.bodies) else { return };
        let more = self.rng.range(1, 5000);
        body["msgid"] = json!(self.msgid(clinic));
        body["inscp_scp_amt"] = json!(amount(&body, "inscp_scp_amt") + more);
        body["medfee_sumamt"] = json!(amount(&body, "medfee_sumamt") + more);
        self.settle(clinic, person, body).await;
    }

    /// A known msgid (settled, or reversed before it arrived) with another claim.
    async fn op_reused_msgid(&mut self) {
        let msgid = if self.rng.chance(70) {
            self.rng.pick(&self.m.claims.iter().map(|c| (c.clinic, c.msgid.clone())).collect::<Vec<_>>())
        } else {
            self.rng.pick(&self.m.loose_msgids)
        };
        let Some((clinic, msgid)) = msgid else { return };
        let person = self.rng.below(PEOPLE);
        let mut body = self.new_body(clinic, person);
        body["msgid"] = json!(msgid);
        self.settle(clinic, person, body).await;
    }

    async fn op_quote(&mut self) {
        let (clinic, person) = (self.rng.below(CLINICS.len()), self.rng.below(PEOPLE));
        let body = self.new_body(clinic, person);
        let (status, answer) = self.post(&self.clinics[clinic], "/api/v1/claims/quote", body.clone()).await;
        if person >= PEOPLE - UNPAID {
            assert_eq!(status, 422, "{answer}");
        } else {
            assert_eq!(status, 200, "{answer}");
            self.assert_terms(person, &body, &answer);
        }
        self.count("quote");
    }

    /// Half the time one of the last few claims, whose payments are still on their way.
    fn recent_claim(&mut self) -> usize {
        let n = self.m.claims.len();
        if self.rng.chance(50) { n - 1 - self.rng.below(n.min(20)) } else { self.rng.below(n) }
    }

    async fn op_cancel(&mut self) {
        if self.m.claims.is_empty() {
            return;
        }
        let c = self.recent_claim();
        let who = self.rng.below(10);
        let own = self.m.claims[c].clinic;
        let token = match who {
            0..=6 => self.clinics[own].clone(),
            7 | 8 => self.s.p.county.clone(),
            _ => self.clinics[(own + 1) % CLINICS.len()].clone(),
        };
        let setl_id = self.m.claims[c].setl_id.clone();
        let body = if self.rng.chance(50) { json!({"reason": "soak"}) } else { json!({}) };
        let (status, answer) = self.post(&token, &format!("/api/v1/claims/{setl_id}/cancel"), body).await;
        if who == 9 {
            assert_eq!(status, 404, "another clinic's claim: {answer}");
            self.count("cancel by a stranger");
            return;
        }
        if let Some(by) = &self.m.claims[c].cancel {
            assert_eq!((status, answer["code"].as_str()), (409, Some("claim_already_cancelled")), "{answer}");
            assert!(answer["detail"].as_str().unwrap().contains(by.as_str()), "{answer}");
            self.count("cancelled again");
            return;
        }
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            (answer["cancels"].as_str(), answer["hifp_pay"].as_i64(), answer["state"].as_str()),
            (Some(setl_id.as_str()), Some(-self.m.claims[c].hifp), Some("cancelled")),
            "{answer}"
        );
        // A cancel record is no claim to cancel.
        let negated = answer["setl_id"].as_str().unwrap().to_string();
        if self.rng.chance(5) {
            let (status, _) = self.post(&token, &format!("/api/v1/claims/{negated}/cancel"), json!({})).await;
            assert_eq!(status, 404);
        }
        let what = self.m.cancelled(c, negated);
        self.count(what);
    }

    async fn op_reverse(&mut self) {
        let pick = self.rng.below(10);
        let target = match pick {
            0..=4 if !self.m.claims.is_empty() => {
                let c = self.recent_claim();
                Some((self.m.claims[c].clinic, self.m.claims[c].msgid.clone()))
            }
            5 | 6 => self.rng.pick(&self.m.loose_msgids),
            _ => None,
        };
        let (clinic, omsgid) = match target {
            Some(t) => t,
            None => {
                let clinic = self.rng.below(CLINICS.len());
                (clinic, self.msgid(clinic))
            }
        };
        let (status, answer) =
            self.post(&self.clinics[clinic], "/api/v1/claims/reversals", json!({"omsgid": omsgid})).await;
        assert_eq!(status, 200, "{answer}");
        match self.m.fates.get(&(clinic, omsgid.clone())).copied() {
            Some(Fate::Settled(c)) => {
                let claim = &self.m.claims[c];
                assert_eq!(answer["setl_id"].as_str(), Some(claim.setl_id.as_str()), "{answer}");
                match claim.cancel.clone() {
                    Some(by) => {
                        assert_eq!(
                            (answer["outcome"].as_str(), answer["cancelled_by"].as_str()),
                            (Some("already_cancelled"), Some(by.as_str())),
                            "{answer}"
                        );
                        self.count("reversal of a cancelled claim");
                    }
                    None => {
                        assert_eq!(answer["outcome"], "cancelled", "{answer}");
                        let negated = answer["cancelled_by"].as_str().unwrap().to_string();
                        let what = self.m.cancelled(c, negated);
                        self.count("reversal cancels");
                        self.count(what);
                    }
                }
            }
            Some(Fate::Dead) | None => {
                assert_eq!(answer["outcome"], "never_arrived", "{answer}");
                assert!(answer.get("setl_id").is_none(), "{answer}");
                self.m.fates.insert((clinic, omsgid.clone()), Fate::Dead);
                if !self.m.loose_msgids.contains(&(clinic, omsgid.clone())) {
                    self.m.loose_msgids.push((clinic, omsgid));
                }
                self.count("reversal of a msgid never settled");
            }
        }
    }

    /// Every page of `path`.
    async fn pages(&self, token: &str, path: &str) -> Vec<Value> {
        let path = format!("{path}{}limit=1000", if path.contains('?') { '&' } else { '?' });
        let mut items = Vec::new();
        let mut at = path.clone();
        loop {
            let (status, page) = self.get(token, &at).await;
            assert_eq!(status, 200, "{page}");
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cursor) => at = format!("{path}&cursor={cursor}"),
                None => return items,
            }
        }
    }

    fn envelope_index(&self, id: &str) -> Option<usize> {
        self.m.envelopes.iter().position(|e| e.id == id)
    }

    /// An envelope read (header and lines) against the lines the model expects.
    fn assert_envelope(&self, e: usize, full: &Value) {
        let lines = self.m.lines_of(e);
        let got = full["instructions"].as_array().unwrap();
        let mut got_ids: Vec<&str> = got.iter().map(|l| l["instruction_id"].as_str().unwrap()).collect();
        let mut want: Vec<&str> = lines.iter().map(|i| self.m.instrs[*i].id.as_str()).collect();
        got_ids.sort_unstable();
        want.sort_unstable();
        assert_eq!(got_ids, want, "envelope {}: {full}", self.m.envelopes[e].id);
        for l in got {
            let i = self.m.instrs.iter().position(|p| l["instruction_id"] == p.id.as_str()).unwrap();
            let claim = &self.m.claims[self.m.instrs[i].claim];
            assert_eq!(
                (l["amount"].as_i64(), l["setl_id"].as_str(), l["card_no"].as_str()),
                (Some(self.m.instrs[i].amount), Some(claim.setl_id.as_str()), Some(self.cards[claim.person].as_str())),
                "{l}"
            );
        }
        let total: i64 = lines.iter().map(|i| self.m.instrs[*i].amount).sum();
        assert_eq!((full["count"].as_u64(), full["total"].as_i64()), (Some(lines.len() as u64), Some(total)), "{full}");
    }

    /// The bank asks for its pending envelopes (which seals the loose instructions) and
    /// reads some of them; the others stay unpulled.
    async fn op_pull(&mut self) {
        let loose: Vec<usize> = (0..self.m.instrs.len())
            .filter(|i| self.m.instrs[*i].state == Pay::Pending && self.m.instrs[*i].envelope.is_none())
            .collect();
        let listed = self.pages(&self.s.bank, "/api/v1/payment-envelopes?state=pending").await;
        let unpulled: Vec<usize> =
            (0..self.m.envelopes.len()).filter(|e| self.m.envelopes[*e].pulled.is_none()).collect();
        let mut fresh = Vec::new();
        for header in &listed {
            let id = header["envelope_id"].as_str().unwrap();
            match self.envelope_index(id) {
                Some(e) => {
                    assert!(unpulled.contains(&e), "a pulled envelope listed as pending: {header}");
                    let lines = self.m.lines_of(e);
                    let total: i64 = lines.iter().map(|i| self.m.instrs[*i].amount).sum();
                    assert_eq!(
                        (header["count"].as_u64(), header["total"].as_i64()),
                        (Some(lines.len() as u64), Some(total)),
                        "{header}"
                    );
                }
                None => fresh.push(id.to_string()),
            }
        }
        assert_eq!(listed.len() - fresh.len(), unpulled.len(), "every unpulled envelope is listed");
        // What went into the new envelopes, read as the province reads them: no pull.
        let mut sealed = HashSet::new();
        for id in fresh {
            let (status, full) = self.get(&self.s.p.admin, &format!("/api/v1/payment-envelopes/{id}")).await;
            assert_eq!(status, 200, "{full}");
            assert!(full.get("first_pulled_at").is_none(), "{full}");
            let count = full["instructions"].as_array().unwrap().len();
            assert!((1..=ENVELOPE_SIZE).contains(&count), "{full}");
            let e = self.m.envelopes.len();
            let mut members = Vec::new();
            for l in full["instructions"].as_array().unwrap() {
                let i = self.m.instrs.iter().position(|p| l["instruction_id"] == p.id.as_str()).unwrap();
                assert!(loose.contains(&i) && sealed.insert(i), "sealed twice or not loose: {l}");
                self.m.instrs[i].envelope = Some(e);
                members.push(i);
            }
            self.m.envelopes.push(Envelope { id, members, pulled: None });
            self.assert_envelope(e, &full);
        }
        assert_eq!(sealed.len(), loose.len(), "every loose instruction is sealed");
        // The bank reads some.
        let unpulled: Vec<usize> =
            (0..self.m.envelopes.len()).filter(|e| self.m.envelopes[*e].pulled.is_none()).collect();
        for e in unpulled {
            if self.rng.chance(70) {
                let id = self.m.envelopes[e].id.clone();
                let (status, full) = self.get(&self.s.bank, &format!("/api/v1/payment-envelopes/{id}")).await;
                assert_eq!(status, 200, "{full}");
                self.assert_envelope(e, &full);
                assert!(full["first_pulled_at"].is_string(), "{full}");
                self.m.envelopes[e].pulled = Some(self.m.lines_of(e));
                self.count("envelope pulled");
            }
        }
    }

    /// The bank reads a pulled envelope again: it never changes.
    async fn op_reread(&mut self) {
        let pulled: Vec<usize> =
            (0..self.m.envelopes.len()).filter(|e| self.m.envelopes[*e].pulled.is_some()).collect();
        let Some(e) = self.rng.pick(&pulled) else { return };
        let (status, full) =
            self.get(&self.s.bank, &format!("/api/v1/payment-envelopes/{}", self.m.envelopes[e].id)).await;
        assert_eq!(status, 200, "{full}");
        self.assert_envelope(e, &full);
        self.count("envelope read again");
    }

    fn new_said(&mut self) -> Said {
        let reference = self.reference("B");
        let code = match self.rng.below(10) {
            0..=4 => None,
            5..=7 => self.rng.pick(&RETRYABLE),
            _ => self.rng.pick(&FINAL),
        };
        Said { paid: code.is_none(), code, reference }
    }

    /// The bank answers: new answers for some of what it has in hand, repeats of earlier
    /// answers, now and then an answer that contradicts an earlier one (409) or one for
    /// an instruction it never got (422); all of a request or nothing.
    async fn op_answer(&mut self) {
        enum Row {
            New(usize, Said),
            Repeat,
            Conflict,
            Missing(&'static str),
        }
        let mut rows: Vec<(Value, Row)> = Vec::new();
        let open: Vec<usize> = (0..self.m.instrs.len()).filter(|i| self.m.is_open(*i)).collect();
        for i in open {
            if self.rng.chance(60) {
                let said = self.new_said();
                rows.push((said.json(&self.m.instrs[i].id), Row::New(i, said)));
            }
        }
        let answered: Vec<usize> = (0..self.m.instrs.len()).filter(|i| !self.m.instrs[*i].said.is_empty()).collect();
        for _ in 0..self.rng.below(4) {
            let Some(i) = self.rng.pick(&answered) else { break };
            let said = self.rng.pick(&self.m.instrs[i].said).unwrap();
            rows.push((said.json(&self.m.instrs[i].id), Row::Repeat));
        }
        if self.rng.chance(8) {
            let closed: Vec<usize> = answered.iter().copied().filter(|i| !self.m.is_open(*i)).collect();
            if let Some(i) = self.rng.pick(&closed) {
                let said = self.new_said();
                rows.push((said.json(&self.m.instrs[i].id), Row::Conflict));
            }
        }
        if self.rng.chance(4) {
            let never: Vec<usize> =
                (0..self.m.instrs.len()).filter(|i| self.m.instrs[*i].said.is_empty() && !self.m.is_open(*i)).collect();
            let said = self.new_said();
            match self.rng.pick(&never) {
                Some(i) if self.m.instrs[i].state == Pay::Withdrawn && self.m.instrs[i].envelope.is_some() => {
                    rows.push((said.json(&self.m.instrs[i].id), Row::Missing("instruction_withdrawn")))
                }
                Some(i) => rows.push((said.json(&self.m.instrs[i].id), Row::Missing("instruction_not_found"))),
                None => rows
                    .push((said.json("0190c0de-0000-7000-8000-000000000000"), Row::Missing("instruction_not_found"))),
            }
        }
        if rows.is_empty() {
            return;
        }
        for k in (1..rows.len()).rev() {
            rows.swap(k, self.rng.below(k + 1));
        }
        let body: Vec<Value> = rows.iter().map(|(v, _)| v.clone()).collect();
        let (status, answer) =
            self.post(&self.s.bank, "/api/v1/payment-instructions/results", json!({"results": body})).await;
        let refused = |code: &str| -> Vec<(u64, String)> {
            rows.iter()
                .enumerate()
                .filter(|(_, (_, r))| match r {
                    Row::Missing(c) => *c == code,
                    Row::Conflict => code == "instruction_already_answered",
                    _ => false,
                })
                .map(|(n, _)| (n as u64 + 1, code.to_string()))
                .collect()
        };
        let errors = |answer: &Value| -> Vec<(u64, String)> {
            let mut e: Vec<(u64, String)> = answer["errors"]
                .as_array()
                .map(|a| {
                    a.iter().map(|e| (e["row"].as_u64().unwrap(), e["code"].as_str().unwrap().to_string())).collect()
                })
                .unwrap_or_default();
            e.sort();
            e
        };
        if rows.iter().any(|(_, r)| matches!(r, Row::Missing(_))) {
            assert_eq!(status, 422, "{answer}");
            let mut want = refused("instruction_not_found");
            want.extend(refused("instruction_withdrawn"));
            want.sort();
            assert_eq!(errors(&answer), want, "{answer}");
            self.count("answers refused: never got");
            return;
        }
        if rows.iter().any(|(_, r)| matches!(r, Row::Conflict)) {
            assert_eq!((status, answer["code"].as_str()), (409, Some("instruction_already_answered")), "{answer}");
            assert_eq!(errors(&answer), refused("instruction_already_answered"), "{answer}");
            self.count("answers refused: contradiction");
            return;
        }
        assert_eq!(status, 200, "{answer}");
        let mut report =
            json!({"received": rows.len(), "paid": 0, "failed": 0, "retrying": 0, "needs_action": 0, "repeated": 0});
        let mut bump = |k: &str| report[k] = json!(report[k].as_u64().unwrap() + 1);
        for (_, row) in rows {
            let (i, said) = match row {
                Row::New(i, said) => (i, said),
                _ => {
                    bump("repeated");
                    continue;
                }
            };
            let e = self.m.instrs[i].envelope.unwrap();
            let cancelled = self.m.claims[self.m.instrs[i].claim].cancel.is_some();
            let p = &mut self.m.instrs[i];
            p.answered_in.push(e);
            p.said.push(said.clone());
            p.reference = Some(said.reference.clone());
            match said.code {
                None => {
                    bump("paid");
                    p.state = Pay::Paid;
                    let (id, x) = (p.id.clone(), p.amount);
                    self.m.post("payment_sent", format!("payment:{id}"), "bank_clearing", "reimbursement_payable", x);
                    if cancelled {
                        self.m.owe_back(i);
                        self.counts.entry("paid after the claim was cancelled").and_modify(|n| *n += 1).or_insert(1);
                    }
                }
                Some(code) => {
                    bump("failed");
                    p.attempts += 1;
                    p.code = Some(code);
                    if cancelled {
                        self.m.withdraw(i);
                        self.counts.entry("failed after the claim was cancelled").and_modify(|n| *n += 1).or_insert(1);
                    } else if RETRYABLE.contains(&code) && p.attempts < MAX_ATTEMPTS {
                        bump("retrying");
                        p.state = Pay::Pending;
                        p.envelope = None;
                    } else {
                        bump("needs_action");
                        p.state = Pay::NeedsAction;
                    }
                }
            }
        }
        assert_eq!(answer, report);
        self.count("answers taken");
    }

    async fn op_reissue(&mut self) {
        let waiting: Vec<usize> =
            (0..self.m.instrs.len()).filter(|i| self.m.instrs[*i].state == Pay::NeedsAction).collect();
        let i = match self.rng.pick(&waiting) {
            Some(i) if self.rng.chance(85) => i,
            _ if self.m.instrs.is_empty() => return,
            _ => self.rng.below(self.m.instrs.len()),
        };
        let id = self.m.instrs[i].id.clone();
        let (status, answer) =
            self.post(&self.s.p.county, &format!("/api/v1/payment-instructions/{id}/reissue"), json!({})).await;
        if self.m.instrs[i].state != Pay::NeedsAction {
            assert_eq!((status, answer["code"].as_str()), (409, Some("payment_not_needing_action")), "{answer}");
            self.count("reissue refused");
            return;
        }
        assert_eq!(status, 200, "{answer}");
        let p = &mut self.m.instrs[i];
        p.state = Pay::Pending;
        p.envelope = None;
        p.attempts = 0;
        assert_eq!(
            (answer["state"].as_str(), answer["attempts"].as_i64(), answer["amount"].as_i64(), answer["code"].as_str()),
            (Some("pending"), Some(0), Some(p.amount), p.code),
            "{answer}"
        );
        self.count("reissued");
    }

    async fn op_recovery(&mut self) {
        let owed: Vec<usize> =
            (0..self.m.instrs.len()).filter(|i| self.m.instrs[*i].recovery == Some("owed")).collect();
        let i = match self.rng.pick(&owed) {
            Some(i) if self.rng.chance(80) => i,
            _ if self.m.instrs.is_empty() => return,
            _ => self.rng.below(self.m.instrs.len()),
        };
        let collected = self.rng.chance(70);
        let reference = self.reference("HS-");
        let outcome = if collected { "collected" } else { "written_off" };
        let id = self.m.instrs[i].id.clone();
        let (status, answer) = self
            .post(
                &self.s.p.county,
                &format!("/api/v1/payment-instructions/{id}/recovery"),
                json!({"outcome": outcome, "reference": reference}),
            )
            .await;
        match self.m.instrs[i].recovery {
            None => {
                assert_eq!((status, answer["code"].as_str()), (409, Some("recovery_not_owed")), "{answer}");
                self.count("recovery not owed");
            }
            Some("owed") => {
                assert_eq!(status, 200, "{answer}");
                let x = self.m.instrs[i].amount;
                assert_eq!(
                    (
                        answer["recovery"]["state"].as_str(),
                        answer["recovery"]["amount"].as_i64(),
                        answer["state"].as_str()
                    ),
                    (Some(outcome), Some(x), Some("paid")),
                    "{answer}"
                );
                self.m.instrs[i].recovery = Some(outcome);
                if collected {
                    self.m.post("recovery", format!("recovery:{id}"), "fund_pool", "recoveries_receivable", x);
                } else {
                    self.m.post("recovery", format!("write_off:{id}"), "paid_out", "recoveries_receivable", x);
                }
                self.count("recovery recorded");
            }
            Some(_) => {
                assert_eq!((status, answer["code"].as_str()), (409, Some("recovery_already_recorded")), "{answer}");
                self.count("recovery recorded again");
            }
        }
    }

    /// The county's list of payments waiting for a person is the model's.
    async fn assert_needing_action(&self) {
        let items = self.pages(&self.s.p.county, "/api/v1/payment-instructions?state=needs_action").await;
        let mut got: Vec<Value> = items
            .iter()
            .map(|v| {
                json!([v["instruction_id"], v["setl_id"], v["amount"], v["attempts"], v["code"], v["bank_reference"]])
            })
            .collect();
        let mut want: Vec<Value> = self
            .m
            .instrs
            .iter()
            .filter(|p| p.state == Pay::NeedsAction)
            .map(|p| {
                json!([
                    p.id,
                    self.m.claims[p.claim].setl_id,
                    p.amount,
                    p.attempts,
                    p.code.unwrap(),
                    p.reference.as_deref().unwrap()
                ])
            })
            .collect();
        got.sort_by_key(|v| v.to_string());
        want.sort_by_key(|v| v.to_string());
        assert_eq!(got, want);
    }

    async fn balances(&self) -> BTreeMap<String, i64> {
        let (status, fund) = self.get(&self.s.p.admin, &format!("/api/v1/funds/{COUNTY}?year={}", self.s.year)).await;
        assert_eq!(status, 200, "{fund}");
        fund["years"][0]["balances"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect()
    }

    /// The balances are the setup's plus what the model moved, which is also what the
    /// states of claims, payments and recoveries say.
    async fn assert_balances(&self) {
        let moved = self.m.moved();
        let by_state = self.m.moved_by_state();
        for (account, x) in &by_state {
            assert_eq!(moved.get(account).copied().unwrap_or(0), *x, "the model disagrees with itself on {account}");
        }
        let got = self.balances().await;
        for (account, before) in &self.setup_balances {
            let want = before + moved.get(account).copied().unwrap_or(0);
            assert_eq!(got[account], want, "{account}: {got:?}");
        }
        assert_eq!(got.values().sum::<i64>(), 0);
    }

    async fn ledger(&self) -> Vec<Value> {
        self.pages(&self.s.p.admin, &format!("/api/v1/funds/{COUNTY}/ledger?year={}", self.s.year)).await
    }

    fn ledger_check(&self) {
        let out = tokio::task::block_in_place(|| self.s.p.app.env.cli(&["ledger", "check"]));
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    async fn step(&mut self) {
        match self.rng.below(100) {
            0..=27 => self.op_new_claim().await,
            28..=35 => self.op_resend(false).await,
            36..=41 => self.op_resend(true).await,
            42..=44 => self.op_other_terms().await,
            45..=47 => self.op_reused_msgid().await,
            48..=57 => self.op_cancel().await,
            58..=62 => self.op_reverse().await,
            63..=66 => self.op_quote().await,
            67..=74 => self.op_pull().await,
            75 => self.op_reread().await,
            76..=89 => self.op_answer().await,
            90..=94 => self.op_reissue().await,
            95..=97 => self.op_recovery().await,
            _ => {
                self.assert_needing_action().await;
                self.count("needs-action list");
            }
        }
    }

    /// Everything, one by one, against the model.
    async fn assert_everything(&self) {
        self.ledger_check();
        self.assert_balances().await;
        self.assert_needing_action().await;

        // Every settlement and every cancel record.
        let admin = &self.s.p.admin;
        let paths = self.m.claims.iter().map(|c| format!("/api/v1/claims/{}", c.setl_id)).collect();
        for (c, (status, view)) in self.get_many(admin, paths).await.into_iter().enumerate() {
            assert_eq!(status, 200, "{view}");
            self.assert_view(c, &view);
        }
        let cancelled: Vec<usize> = (0..self.m.claims.len()).filter(|c| self.m.claims[*c].cancel.is_some()).collect();
        let paths = cancelled
            .iter()
            .map(|c| format!("/api/v1/claims/{}", self.m.claims[*c].cancel.as_ref().unwrap()))
            .collect();
        for (c, (status, view)) in cancelled.iter().zip(self.get_many(admin, paths).await) {
            let claim = &self.m.claims[*c];
            assert_eq!(status, 200, "{view}");
            assert_eq!(
                (view["cancels"].as_str(), view["hifp_pay"].as_i64(), view["state"].as_str()),
                (Some(claim.setl_id.as_str()), Some(-claim.hifp), Some("cancelled")),
                "{view}"
            );
            assert!(view.get("payment_instruction_id").is_none(), "{view}");
        }
        // Every msgid: the settlement it made, or none.
        for clinic in 0..CLINICS.len() {
            let settled: Vec<usize> = (0..self.m.claims.len()).filter(|c| self.m.claims[*c].clinic == clinic).collect();
            let paths = settled.iter().map(|c| format!("/api/v1/claims?msgid={}", self.m.claims[*c].msgid)).collect();
            for (c, (status, view)) in settled.iter().zip(self.get_many(&self.clinics[clinic], paths).await) {
                assert_eq!(
                    (status, view["setl_id"].as_str()),
                    (200, Some(self.m.claims[*c].setl_id.as_str())),
                    "{view}"
                );
            }
            let loose: Vec<String> = self
                .m
                .loose_msgids
                .iter()
                .filter(|(k, m)| *k == clinic && !matches!(self.m.fates.get(&(*k, m.clone())), Some(Fate::Settled(_))))
                .map(|(_, m)| format!("/api/v1/claims?msgid={m}"))
                .collect();
            for (status, view) in self.get_many(&self.clinics[clinic], loose).await {
                assert_eq!(status, 404, "{view}");
            }
        }
        // Every envelope, as the province reads it (no pull).
        let listed = self.pages(admin, "/api/v1/payment-envelopes").await;
        assert_eq!(listed.len(), self.m.envelopes.len());
        let paths = self.m.envelopes.iter().map(|e| format!("/api/v1/payment-envelopes/{}", e.id)).collect();
        for (e, (status, full)) in self.get_many(admin, paths).await.into_iter().enumerate() {
            assert_eq!(status, 200, "{full}");
            assert_eq!(full["first_pulled_at"].is_string(), self.m.envelopes[e].pulled.is_some(), "{full}");
            self.assert_envelope(e, &full);
        }
        // Every instruction paid at most once, and only one the bank had in hand.
        for p in &self.m.instrs {
            assert!(p.said.iter().filter(|s| s.paid).count() <= 1);
            assert_eq!(p.state == Pay::Paid, p.said.iter().any(|s| s.paid));
            assert!(p.envelope.is_some() || p.state != Pay::Paid);
        }
        // Every cap: what the claims not cancelled used.
        let paths = self.cards.iter().map(|c| format!("/api/v1/eligibility?card_no={c}")).collect();
        for (person, (status, view)) in self.get_many(&self.clinics[0], paths).await.into_iter().enumerate() {
            assert_eq!(status, 200, "{view}");
            for (care, name) in CARES.iter().enumerate() {
                let used: i64 = self
                    .m
                    .claims
                    .iter()
                    .filter(|c| c.person == person && c.care == care && c.cancel.is_none())
                    .map(|c| c.hifp)
                    .sum();
                assert_eq!(self.m.used[person][care], used);
                assert!(used <= CAPS[care]);
                assert_eq!(
                    view["caps"][name],
                    json!({"cap": CAPS[care], "used": used, "left": CAPS[care] - used}),
                    "{view}"
                );
            }
        }
        // The ledger: the setup's transactions, then exactly the model's, in one chain.
        let all = self.ledger().await;
        let (setup, rest) = all.split_at(self.setup_transactions.len());
        assert_eq!(setup, &self.setup_transactions[..]);
        for (n, tx) in all.iter().enumerate() {
            assert_eq!(tx["seq"].as_u64(), Some(n as u64 + 1), "{tx}");
            if n > 0 {
                assert_eq!(tx["prev_hash"], all[n - 1]["hash"], "{tx}");
            }
        }
        let mut got: BTreeMap<(String, String), Vec<(String, i64)>> = BTreeMap::new();
        for tx in rest {
            let key = (tx["kind"].as_str().unwrap().to_string(), tx["reference"].as_str().unwrap().to_string());
            let lines = tx["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| (l["account"].as_str().unwrap().to_string(), l["amount"].as_i64().unwrap()))
                .collect();
            assert!(got.insert(key.clone(), lines).is_none(), "posted twice: {key:?}");
        }
        let missing: Vec<_> = self.m.postings.iter().filter(|(k, v)| got.get(*k) != Some(v)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|(k, _)| !self.m.postings.contains_key(*k)).take(5).collect();
        assert!(missing.is_empty() && extra.is_empty(), "missing or wrong: {missing:?}; not in the model: {extra:?}");
        assert_eq!(got.len(), self.m.postings.len());
    }
}

async fn a_random_sequence_of_claims_and_payments_keeps_the_ledger_right(backend: Backend) {
    let operations: usize =
        std::env::var("HEALTHCARD_SOAK_OPERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let mut soak = Soak::new(backend).await;
    let started = Instant::now();
    for n in 1..=operations {
        soak.step().await;
        if n % 500 == 0 {
            soak.assert_balances().await;
        }
        if n % 2500 == 0 {
            soak.ledger_check();
        }
    }
    let ran = started.elapsed();
    soak.assert_everything().await;
    eprintln!(
        "soak ({backend:?}): {operations} operations in {:.1} s, checked in {:.1} s more; {} claims, {} payments, {} envelopes; {:?}",
        ran.as_secs_f64(),
        (started.elapsed() - ran).as_secs_f64(),
        soak.m.claims.len(),
        soak.m.instrs.len(),
        soak.m.envelopes.len(),
        soak.counts
    );
}
