//! Claims from clinics in the national platform's terms: settlement (2207), the quote
//! before it (2206), the lookup after a timeout (5203), cancel (2208) and reversal by
//! message id (2601).
//!
//! A claim is keyed by (clinic, `ipt_otp_no`) and by (clinic, `msgid`): sent again it
//! answers the first answer, never a second payment. Claims of one person and year
//! take turns on the person's enrollment row, so the annual cap is never exceeded
//! whatever arrives at once. An approved claim with a reimbursement becomes one
//! payment instruction onto the person's card, and the amount moves in the ledger
//! from the fund pool to reimbursement payable.
//!
//! The fraud rules ([`super::fraud`]) are judged under the same lock: a claim one of
//! them fires for is `flagged`, its cap reserved as if approved but nothing paid or
//! posted, until the county decides ([`super::reviews`]): approved, it is paid
//! exactly as a claim approved at settlement ([`release_payment`]); rejected, its
//! cap is released.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fraud::{self, AmountMedians, KnownTimes, Subject};
use super::ledger::{self, Posting};
use super::policies::{PolicyCache, PolicyVersion};
use super::repo::claims::{self as repo, CANCEL, ClaimRow, PaymentRow, SETTLEMENT};
use super::repo::enrollments as enrollment_repo;
use super::repo::holders::{self as holder_repo, CardRow, PersonRow};
use super::repo::payments as payment_repo;
use super::repo::reviews::{self as review_repo, ReviewRow};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::claim::{Claim, ClaimDraft, Msgid, Reimbursement};
use crate::domain::claim_state::{ClaimState, PaymentState, ReviewState};
use crate::domain::fraud::Visit;
use crate::domain::ledger::{Account, Movement};
use crate::domain::{CardNo, CardState, ClientId, Fen, PaymentId, PersonNo, SetlId, StateMachine, china_time};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::{ApiError, FieldError, extract};

/// The time format of the platform: `yyyy-MM-dd HH:mm:ss`, China Standard Time.
const PLATFORM_TIME: &str = "%Y-%m-%d %H:%M:%S";

/// The settlement's answer: the platform's names, every term of the computation.
#[derive(Debug, Serialize)]
pub struct ClaimView {
    pub setl_id: SetlId,
    pub mdtrt_id: String,
    pub psn_no: PersonNo,
    /// The clinic's message id.
    pub medins_setl_id: String,
    pub ipt_otp_no: String,
    pub mdtrt_cert_no: CardNo,
    pub med_type: String,
    pub level: String,
    pub begntime: String,
    pub endtime: String,
    pub medfee_sumamt: Fen,
    pub fulamt_ownpay_amt: Fen,
    pub overlmt_selfpay: Fen,
    pub preselfpay_amt: Fen,
    pub inscp_scp_amt: Fen,
    pub state: ClaimState,
    /// The reason of a cancel (on its negated record) or of the county's rejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The fraud rules that stopped the claim for review, each with its evidence;
    /// absent for a claim no rule stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraud_flags: Option<serde_json::Value>,
    /// The outcome of the review, once there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewView>,
    pub policy_version: i32,
    #[serde(flatten)]
    pub terms: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_instruction_id: Option<PaymentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_state: Option<PaymentState>,
    /// For a cancelled settlement, the negated record that cancels it; for that
    /// record, the settlement it cancels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<SetlId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancels: Option<SetlId>,
    pub created_at: DateTime<Utc>,
}

/// How a review ended: decided by the county, or withdrawn by a cancel.
#[derive(Debug, Serialize)]
pub struct ReviewView {
    pub state: ReviewState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub decided_by: ClientId,
    pub decided_at: DateTime<Utc>,
}

fn platform_time(stored: NaiveDateTime) -> String {
    china_time::from_utc(stored).format(PLATFORM_TIME).to_string()
}

pub(super) fn view(conn: &mut DbConnection, row: ClaimRow) -> Result<ClaimView, ApiError> {
    let payment_state = match &row.payment_instruction_id {
        Some(id) => repo::payment(conn, id)?.map(|p| p.state),
        None => None,
    };
    let (cancelled_by, review) = if row.kind == SETTLEMENT {
        (repo::cancel_of(conn, &row.setl_id)?.map(|c| c.setl_id), review_repo::find(conn, &row.setl_id)?)
    } else {
        (None, None)
    };
    view_of(row, payment_state, cancelled_by, review.as_ref())
}

/// The views of settlements with their reviews (a page of a review list), reading
/// their payments in one statement.
pub(super) fn views_of(conn: &mut DbConnection, rows: Vec<(ReviewRow, ClaimRow)>) -> Result<Vec<ClaimView>, ApiError> {
    let ids: Vec<PaymentId> = rows.iter().filter_map(|(_, c)| c.payment_instruction_id.clone()).collect();
    let states: std::collections::HashMap<PaymentId, PaymentState> =
        payment_repo::instructions(conn, &ids)?.into_iter().map(|p| (p.id, p.state)).collect();
    rows.into_iter()
        .map(|(review, claim)| {
            let payment_state = claim.payment_instruction_id.as_ref().and_then(|id| states.get(id).copied());
            let cancelled_by = if claim.state == ClaimState::Cancelled {
                repo::cancel_of(conn, &claim.setl_id)?.map(|c| c.setl_id)
            } else {
                None
            };
            view_of(claim, payment_state, cancelled_by, Some(&review))
        })
        .collect()
}

/// The view of a claim whose payment state, cancel and review are known.
fn view_of(
    row: ClaimRow,
    payment_state: Option<PaymentState>,
    cancelled_by: Option<SetlId>,
    review: Option<&ReviewRow>,
) -> Result<ClaimView, ApiError> {
    let terms = match serde_json::from_str::<serde_json::Value>(&row.terms).map_err(ApiError::internal)? {
        serde_json::Value::Object(map) => map,
        _ => return Err(ApiError::internal("stored claim terms are not an object")),
    };
    let fraud_flags = match review {
        Some(r) => Some(serde_json::from_str::<serde_json::Value>(&r.flags).map_err(ApiError::internal)?),
        None => None,
    };
    let review = review.and_then(|r| match (&r.decided_by, r.decided_at) {
        (Some(by), Some(at)) if r.state != ReviewState::Pending => Some(ReviewView {
            state: r.state,
            reason: r.reason.clone(),
            decided_by: by.clone(),
            decided_at: at.and_utc(),
        }),
        _ => None,
    });
    Ok(ClaimView {
        setl_id: row.setl_id,
        mdtrt_id: row.mdtrt_id,
        psn_no: row.person_no,
        medins_setl_id: row.msgid,
        ipt_otp_no: row.ipt_otp_no,
        mdtrt_cert_no: row.card_no,
        med_type: row.med_type,
        level: row.level,
        begntime: platform_time(row.admitted_at),
        endtime: platform_time(row.discharged_at),
        medfee_sumamt: Fen(row.medfee_sumamt),
        fulamt_ownpay_amt: Fen(row.fulamt_ownpay_amt),
        overlmt_selfpay: Fen(row.overlmt_selfpay),
        preselfpay_amt: Fen(row.preselfpay_amt),
        inscp_scp_amt: Fen(row.inscp_scp_amt),
        state: row.state,
        reason: row.reason,
        fraud_flags,
        review,
        policy_version: row.policy_version,
        terms,
        payment_instruction_id: row.payment_instruction_id,
        payment_state,
        cancelled_by,
        cancels: row.cancels,
        created_at: row.created_at.and_utc(),
    })
}

/// The clinic a claim is sent for: the institution of its msgid, if it is one of the
/// caller's; else the caller's first (so that the msgid is refused as another's).
fn institution_of(caller: &Caller, draft: &ClaimDraft) -> String {
    let from_msgid: Option<String> = draft.msgid.as_deref().and_then(|m| m.get(..12)).map(str::to_string);
    match from_msgid {
        Some(code) if caller.scopes.contains(&code) => code,
        _ => caller.scopes.first().cloned().unwrap_or_default(),
    }
}

fn read_claim(req: &HttpRequest, caller: &Caller, body: &[u8]) -> Result<(Claim, String), ApiError> {
    let draft: ClaimDraft = extract::parse_json(req, body)?;
    let institution = institution_of(caller, &draft);
    let claim = Claim::parse(draft, &institution, Utc::now()).map_err(|errors| {
        ApiError::validation(
            errors
                .into_iter()
                .map(|e| FieldError { row: None, field: e.field, code: e.code.code().to_string(), message: e.message })
                .collect(),
        )
    })?;
    Ok((claim, institution))
}

/// What identifies "the same claim": every field the clinic sent but the message id
/// (a clinic may send the same claim again in a new message), in one text.
fn request_hash(claim: &Claim) -> String {
    let text = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        claim.ipt_otp_no(),
        claim.card_no().as_str(),
        claim.med_type().code(),
        claim.level().as_str(),
        claim.admitted_at(),
        claim.discharged_at(),
        claim.medfee_sumamt().get(),
        claim.fulamt_ownpay_amt().get(),
        claim.overlmt_selfpay().get(),
        claim.preselfpay_amt().get(),
        claim.inscp_scp_amt().get(),
        claim.confidential(),
    );
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn refused(field: &str, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError::new(field, code, message)])
}

/// Everything a claim is computed from: the card and its holder, and the policy
/// version in force at the admission date.
struct Basis {
    card: CardRow,
    person: PersonRow,
    policy: PolicyVersion,
    /// When the card was reported lost, if it was lost at the admission and has been
    /// found since (the rules judge that claim).
    lost_at_admission: Option<NaiveDateTime>,
}

fn basis(conn: &mut DbConnection, policies: &PolicyCache, claim: &Claim) -> Result<Basis, ApiError> {
    let card_no = CardNo::from(claim.card_no());
    let year = claim.year();
    let Some((card, person, enrollment)) = enrollment_repo::card_holder_enrollment(conn, &card_no, year)? else {
        return Err(refused("mdtrt_cert_no", "card_unknown", "no card by this number is known to the scheme"));
    };
    let admitted = china_time::to_utc(claim.admitted_at());
    // The card row is its newest change: when that came at or before the admission it
    // is the state then, and the card's history need not be read.
    let state_then = if card.state_changed_at <= admitted {
        Some((card.state, card.state_changed_at))
    } else {
        holder_repo::state_at(conn, &card_no, admitted)?
    };
    // A card that was not usable at the admission but is now (activated or found
    // since) is no reason to refuse: the fraud rules stop such a claim for review.
    let usable_now = card.state == CardState::Activated;
    let mut lost_at_admission = None;
    match state_then.map(|(state, _)| state) {
        Some(CardState::Activated) => {}
        Some(CardState::ReportedLost) if usable_now => lost_at_admission = state_then.map(|(_, since)| since),
        Some(CardState::ReportedLost) => {
            return Err(refused("mdtrt_cert_no", "card_lost", "the card was reported lost at the admission"));
        }
        Some(CardState::Replaced) => {
            return Err(refused("mdtrt_cert_no", "card_replaced", "the card had been replaced by the admission"));
        }
        Some(CardState::Cancelled) => {
            return Err(refused("mdtrt_cert_no", "card_cancelled", "the card had been cancelled by the admission"));
        }
        _ if usable_now => {}
        _ => return Err(refused("mdtrt_cert_no", "card_not_activated", "the card was not activated at the admission")),
    }
    match enrollment {
        None => return Err(refused("begntime", "not_enrolled", format!("the holder is not enrolled for {year}"))),
        Some(e) if e.paid_at.is_none() => {
            return Err(refused("begntime", "premium_unpaid", format!("the holder's premium for {year} is unpaid")));
        }
        Some(_) => {}
    }
    let policy = policies
        .in_force_current(conn, &person.county_code, year, claim.admission_date())?
        .ok_or_else(|| refused("begntime", "no_policy", format!("the county has no policy for {year}")))?;
    Ok(Basis { card, person, policy, lost_at_admission })
}

/// The computation with what the person used before.
fn reimbursement(conn: &mut DbConnection, claim: &Claim, basis: &Basis) -> Result<Reimbursement, ApiError> {
    let care = claim.med_type().care();
    let used = enrollment_repo::cap_used(conn, &basis.person.person_no, claim.year())?;
    let used_before = Fen(used.iter().find(|(c, _)| c == care.as_str()).map_or(0, |(_, u)| *u));
    let terms = basis.policy.policy.terms(claim.med_type(), claim.level());
    Ok(claim.reimbursement(terms, used_before))
}

#[derive(Debug, Serialize)]
pub struct QuoteView {
    pub psn_no: PersonNo,
    pub mdtrt_cert_no: CardNo,
    pub policy_version: i32,
    #[serde(flatten)]
    pub terms: Reimbursement,
}

/// `POST /claims/quote` (2206): the same computation as a settlement; nothing stored,
/// no cap used.
#[tracing::instrument(skip_all)]
pub async fn quote(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    policies: web::Data<PolicyCache>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic])?;
    let (claim, _) = read_claim(&req, &caller, &body)?;
    let policies = policies.into_inner();
    let view = pool
        .read(move |conn| {
            let basis = basis(conn, &policies, &claim)?;
            let terms = reimbursement(conn, &claim, &basis)?;
            Ok::<_, ApiError>(QuoteView {
                psn_no: basis.person.person_no,
                mdtrt_cert_no: basis.card.card_no,
                policy_version: basis.policy.version,
                terms,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /claims` (2207). The first answer and every repeat of it are `200`.
#[tracing::instrument(skip_all)]
pub async fn settle(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    policies: web::Data<PolicyCache>,
    medians: web::Data<AmountMedians>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let (claim, clinic) = read_claim(&req, &caller, &body)?;
    let policies = policies.into_inner();
    let medians = medians.into_inner();
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let hash = request_hash(&claim);
        if let Some((first, by_key)) = earlier(conn, &clinic, &claim, &hash)? {
            if by_key {
                // Sent again in a new message: that msgid now names the claim too.
                repo::add_msgid(conn, &clinic, claim.msgid().as_str(), &first.setl_id, now())?;
            }
            return view(conn, first);
        }
        let (row, review) = settle_new(conn, &policies, &medians, &caller, &clinic, &claim, hash)?;
        tracing::info!(setl_id = %row.setl_id, hifp_pay = row.hifp_pay, state = %row.state, "claim settled");
        let payment_state = row.payment_instruction_id.as_ref().map(|_| PaymentState::Pending);
        view_of(row, payment_state, None, review.as_ref())
    })
    .await
}

/// The first answer to this claim, when it was sent before (by msgid, or by key with
/// the same body, then `true`); a conflict when its key or msgid was used for
/// something else.
fn earlier(
    conn: &mut DbConnection,
    clinic: &str,
    claim: &Claim,
    hash: &str,
) -> Result<Option<(ClaimRow, bool)>, ApiError> {
    if !repo::seen_before(conn, clinic, claim.msgid().as_str(), claim.ipt_otp_no())? {
        return Ok(None);
    }
    if let Some(first) = repo::by_msgid(conn, clinic, claim.msgid().as_str())? {
        if first.request_hash == hash {
            return Ok(Some((first, false)));
        }
        return Err(ApiError::conflict(
            "msgid_reused",
            format!("this msgid was sent before with another body, settled as {}", first.setl_id),
        ));
    }
    if repo::is_dead(conn, clinic, claim.msgid().as_str())? {
        return Err(ApiError::conflict(
            "msgid_reversed",
            "this msgid was reversed before it arrived; it is never settled",
        ));
    }
    if let Some(first) = repo::by_key(conn, clinic, claim.ipt_otp_no())? {
        if first.request_hash == hash {
            return Ok(Some((first, true)));
        }
        return Err(ApiError::conflict(
            "claim_exists",
            format!("this ipt_otp_no is settled as {} with other terms; cancel that settlement first", first.setl_id),
        ));
    }
    Ok(None)
}

/// A new claim, approved or (when a fraud rule fires) flagged with its review; the
/// cap is used either way.
fn settle_new(
    conn: &mut DbConnection,
    policies: &PolicyCache,
    medians: &AmountMedians,
    caller: &Caller,
    clinic: &str,
    claim: &Claim,
    hash: String,
) -> Result<(ClaimRow, Option<ReviewRow>), ApiError> {
    let basis = basis(conn, policies, claim)?;
    let year = claim.year();
    // The person's year is the lock every claim of it takes before reading the cap
    // and the person's other claims.
    let enrollment = enrollment_repo::lock_enrollment(conn, &basis.person.person_no, year)?
        .ok_or_else(|| refused("begntime", "not_enrolled", format!("the holder is not enrolled for {year}")))?;
    let terms = reimbursement(conn, claim, &basis)?;
    let care = claim.med_type().care();
    let at = now();
    let subject = Subject {
        person: &basis.person.person_no,
        visit: Visit {
            clinic: clinic.to_string(),
            ipt_otp_no: claim.ipt_otp_no().to_string(),
            med_type: claim.med_type(),
            admitted_at: china_time::to_utc(claim.admitted_at()),
            discharged_at: china_time::to_utc(claim.discharged_at()),
        },
        level: claim.level().as_str(),
        medfee_sumamt: claim.medfee_sumamt(),
    };
    let known = KnownTimes {
        premium_paid_at: enrollment.paid_at,
        card_activated_at: basis.card.first_activated_at,
        card_lost_at: basis.lost_at_admission,
    };
    let thresholds = basis.policy.policy.fraud_thresholds();
    let flags = fraud::judge(conn, medians, &subject, known, &thresholds, at)?;
    let state = if flags.is_empty() { ClaimState::Approved } else { ClaimState::Flagged };
    let setl_id = SetlId::new();
    let hifp_pay = terms.hifp_pay;
    if hifp_pay.get() > 0 {
        // Flagged or not: a claim under review holds its share of the cap, so that
        // the claims after it can never exceed the cap whatever the decision.
        enrollment_repo::add_cap_use(conn, &basis.person.person_no, year, care.as_str(), hifp_pay)?;
    }
    let payment_id = (state == ClaimState::Approved && hifp_pay.get() > 0).then(PaymentId::new);
    let row = ClaimRow {
        setl_id: setl_id.clone(),
        mdtrt_id: uuid::Uuid::now_v7().simple().to_string(),
        kind: SETTLEMENT.to_string(),
        cancels: None,
        clinic: clinic.to_string(),
        msgid: claim.msgid().as_str().to_string(),
        ipt_otp_no: claim.ipt_otp_no().to_string(),
        request_hash: hash,
        person_no: basis.person.person_no.clone(),
        card_no: basis.card.card_no.clone(),
        county_code: basis.person.county_code.clone(),
        village: basis.person.village.clone(),
        year,
        med_type: claim.med_type().code().to_string(),
        care: care.as_str().to_string(),
        level: claim.level().as_str().to_string(),
        admitted_at: china_time::to_utc(claim.admitted_at()),
        discharged_at: china_time::to_utc(claim.discharged_at()),
        confidential: claim.confidential(),
        medfee_sumamt: claim.medfee_sumamt().get(),
        fulamt_ownpay_amt: claim.fulamt_ownpay_amt().get(),
        overlmt_selfpay: claim.overlmt_selfpay().get(),
        preselfpay_amt: claim.preselfpay_amt().get(),
        inscp_scp_amt: claim.inscp_scp_amt().get(),
        policy_version: basis.policy.version,
        terms: serde_json::to_string(&terms).map_err(ApiError::internal)?,
        hifp_pay: hifp_pay.get(),
        state,
        reason: None,
        payment_instruction_id: payment_id,
        created_by: caller.client_id.clone(),
        created_at: at,
    };
    repo::insert(conn, &row)?;
    if flags.is_empty() {
        release_payment(conn, &row, at)?;
        return Ok((row, None));
    }
    let review = ReviewRow {
        setl_id,
        county_code: row.county_code.clone(),
        state: ReviewState::Pending,
        flags: serde_json::to_string(&flags).map_err(ApiError::internal)?,
        flagged_at: at,
        reason: None,
        decided_by: None,
        decided_at: None,
    };
    review_repo::insert(conn, &review)?;
    Ok((row, Some(review)))
}

/// Pays an approved claim: its payment instruction onto the card and the amount from
/// the fund pool to reimbursement payable. The one path of every approval, at
/// settlement and on review alike; a claim without a payment instruction (nothing to
/// pay) posts nothing. The claim's `setl_id` is the posting's reference: a claim
/// becomes approved once (its state moves under its person's lock), and a flagged
/// one posted nothing before, so no earlier posting of it exists.
pub(super) fn release_payment(conn: &mut DbConnection, row: &ClaimRow, at: NaiveDateTime) -> Result<(), ApiError> {
    let Some(id) = &row.payment_instruction_id else {
        return Ok(());
    };
    repo::insert_payment(
        conn,
        &PaymentRow {
            id: id.clone(),
            setl_id: row.setl_id.clone(),
            county_code: row.county_code.clone(),
            year: row.year,
            person_no: row.person_no.clone(),
            card_no: row.card_no.clone(),
            amount: row.hifp_pay,
            state: PaymentState::Pending,
            envelope_id: None,
            attempts: 0,
            failure_code: None,
            bank_reference: None,
            answered_at: None,
            created_at: at,
        },
    )?;
    post(
        conn,
        row,
        Movement::ClaimApproved,
        row.setl_id.as_str(),
        Account::FundPool,
        Account::ReimbursementPayable,
        Fen(row.hifp_pay),
        at,
    )
}

/// What the county decided on a flagged claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    /// The review's state after the decision.
    pub fn outcome(self) -> ReviewState {
        match self {
            Decision::Approve => ReviewState::Approved,
            Decision::Reject => ReviewState::Rejected,
        }
    }
}

/// Applies the county's decision to the flagged `claim`, read under its person's lock
/// (the caller took it): approved, it is paid exactly as a claim approved at
/// settlement; rejected, its reserved cap is released and the reason kept on it for
/// the clinic. Returns the claim as it is now.
pub(super) fn decide_flagged(
    conn: &mut DbConnection,
    claim: ClaimRow,
    decision: Decision,
    reason: &str,
    at: NaiveDateTime,
) -> Result<ClaimRow, ApiError> {
    let step = claim
        .state
        .transition(decision.outcome().claim_state())
        .map_err(|e| ApiError::conflict("claim_not_flagged", e.to_string()))?;
    let decided = match decision {
        Decision::Approve => {
            ClaimRow { state: step.to(), payment_instruction_id: (claim.hifp_pay > 0).then(PaymentId::new), ..claim }
        }
        Decision::Reject => ClaimRow { state: step.to(), reason: Some(reason.to_string()), ..claim },
    };
    let moved = repo::set_reviewed(
        conn,
        &decided.setl_id,
        step,
        decided.payment_instruction_id.as_ref(),
        decided.reason.as_deref(),
    )?;
    if moved != 1 {
        return Err(ApiError::conflict("claim_changed", "the claim changed meanwhile; read it again"));
    }
    match decision {
        Decision::Approve => release_payment(conn, &decided, at)?,
        Decision::Reject if decided.hifp_pay > 0 => {
            enrollment_repo::add_cap_use(conn, &decided.person_no, decided.year, &decided.care, Fen(-decided.hifp_pay))?
        }
        Decision::Reject => {}
    }
    Ok(decided)
}

/// Moves `amount` of the claim's county and year from `from` to `to` in the ledger,
/// for a claim settled in this transaction (its reference is new).
#[allow(clippy::too_many_arguments)]
fn post(
    conn: &mut DbConnection,
    claim: &ClaimRow,
    kind: Movement,
    reference: &str,
    from: Account,
    to: Account,
    amount: Fen,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let negated = Fen::ZERO.checked_sub(amount).ok_or_else(|| ApiError::internal("amount out of range"))?;
    ledger::post_fresh(
        conn,
        &Posting {
            county_code: claim.county_code.clone(),
            year: claim.year,
            kind,
            reference: reference.to_string(),
            lines: vec![(to, amount), (from, negated)],
            at,
        },
    )?;
    Ok(())
}

/// Whether `caller` may see `claim`: the clinic that settled it, the county office of
/// its county, the province's roles.
fn may_see(caller: &Caller, claim: &ClaimRow) -> bool {
    match caller.role {
        Role::Clinic => caller.scopes.contains(&claim.clinic),
        _ => caller.may_see_county(&claim.county_code),
    }
}

/// `GET /claims/{setl_id}` (5203).
#[tracing::instrument(skip_all)]
pub async fn get(caller: Caller, pool: web::Data<DbPool>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic, Role::CountyOffice, Role::ProvincialAdmin, Role::Auditor])?;
    let setl_id = SetlId::from(path.into_inner());
    let view = pool
        .read(move |conn| match repo::find(conn, &setl_id)?.filter(|c| may_see(&caller, c)) {
            Some(row) => view(conn, row),
            None => Err(ApiError::not_found("claim")),
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsgidQuery {
    pub msgid: String,
}

/// `GET /claims?msgid=` (5203 by the clinic's message id, after a timeout): the
/// settlement of that message, or 404 when it never arrived.
#[tracing::instrument(skip_all)]
pub async fn by_msgid(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<MsgidQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic])?;
    let msgid = query.into_inner().msgid;
    let clinic = msgid.get(..12).map(str::to_string).filter(|c| caller.scopes.contains(c));
    let Some(clinic) = clinic else {
        return Err(ApiError::not_found("claim"));
    };
    let view = pool
        .read(move |conn| match repo::by_msgid(conn, &clinic, &msgid)? {
            Some(row) => view(conn, row),
            None => Err(ApiError::not_found("claim")),
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: Option<String>,
}

/// `POST /claims/{setl_id}/cancel` (2208), by the clinic that settled the claim or
/// the person's county office: a negated record linked to the settlement (which is
/// never edited but for its state), the cap given back, the money taken back in the
/// ledger (or, once paid, owed back).
#[tracing::instrument(skip_all)]
pub async fn cancel(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic, Role::CountyOffice])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let body: CancelBody = if body.is_empty() { CancelBody::default() } else { extract::parse_json(&req, &body)? };
    let reason = body.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(refused("reason", "reason_too_long", "at most 200 characters"));
    }
    let setl_id = SetlId::from(path.into_inner());
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let claim = repo::find(conn, &setl_id)?
            .filter(|c| c.kind == SETTLEMENT && may_see(&caller, c))
            .ok_or_else(|| ApiError::not_found("claim"))?;
        let negated = cancel_claim(conn, &caller, claim, reason)?;
        view(conn, negated)
    })
    .await
}

/// Cancels `claim` in the caller's transaction and returns the negated record.
fn cancel_claim(
    conn: &mut DbConnection,
    caller: &Caller,
    claim: ClaimRow,
    reason: Option<String>,
) -> Result<ClaimRow, ApiError> {
    // The person's year first, as every claim of it does: the cap given back is seen
    // by the next claim, never half.
    enrollment_repo::lock_enrollment(conn, &claim.person_no, claim.year)?;
    let claim = repo::find(conn, &claim.setl_id)?.ok_or_else(|| ApiError::not_found("claim"))?;
    if claim.state == ClaimState::Cancelled {
        let by = repo::cancel_of(conn, &claim.setl_id)?.map(|c| c.setl_id.to_string()).unwrap_or_default();
        return Err(ApiError::conflict("claim_already_cancelled", format!("the claim was cancelled before, by {by}")));
    }
    let step =
        claim.state.transition(ClaimState::Cancelled).map_err(|e| ApiError::conflict(e.code(), e.to_string()))?;
    if repo::set_state(conn, &claim.setl_id, step.from(), step.to())? != 1 {
        return Err(ApiError::conflict("claim_changed", "the claim changed meanwhile; read it again"));
    }
    let at = now();
    let amount = Fen(claim.hifp_pay);
    if amount.get() > 0 && matches!(claim.state, ClaimState::Approved | ClaimState::Flagged) {
        enrollment_repo::add_cap_use(conn, &claim.person_no, claim.year, &claim.care, Fen(-amount.get()))?;
    }
    if claim.state == ClaimState::Flagged {
        // Cancelled before the county decided: nothing was posted, and there is
        // nothing left to review.
        let withdrawn =
            ReviewState::Pending.transition(ReviewState::Withdrawn).map_err(|e| ApiError::internal(e.to_string()))?;
        review_repo::decide(conn, &claim.setl_id, withdrawn, reason.as_deref(), &caller.client_id, at)?;
    }
    let negated = ClaimRow {
        setl_id: SetlId::new(),
        mdtrt_id: claim.mdtrt_id.clone(),
        kind: CANCEL.to_string(),
        cancels: Some(claim.setl_id.clone()),
        msgid: format!("cancel:{}", claim.setl_id),
        request_hash: String::new(),
        medfee_sumamt: -claim.medfee_sumamt,
        fulamt_ownpay_amt: -claim.fulamt_ownpay_amt,
        overlmt_selfpay: -claim.overlmt_selfpay,
        preselfpay_amt: -claim.preselfpay_amt,
        inscp_scp_amt: -claim.inscp_scp_amt,
        terms: negate_terms(&claim.terms)?,
        hifp_pay: -claim.hifp_pay,
        state: ClaimState::Cancelled,
        reason,
        payment_instruction_id: None,
        created_by: caller.client_id.clone(),
        created_at: at,
        ..claim.clone()
    };
    repo::insert(conn, &negated)?;
    if let Some(payment) = &claim.payment_instruction_id {
        super::payments::claim_cancelled(conn, &claim, payment, at)?;
    }
    tracing::info!(setl_id = %claim.setl_id, cancel = %negated.setl_id, "claim cancelled");
    Ok(negated)
}

/// The terms of a negated record: every amount negated, ratios and versions as they were.
fn negate_terms(terms: &str) -> Result<String, ApiError> {
    let mut value: serde_json::Value = serde_json::from_str(terms).map_err(ApiError::internal)?;
    if let serde_json::Value::Object(map) = &mut value {
        for (name, v) in map.iter_mut() {
            if name == "ratio" {
                continue;
            }
            if let Some(n) = v.as_i64() {
                *v = serde_json::Value::from(-n);
            }
        }
    }
    serde_json::to_string(&value).map_err(ApiError::internal)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReversalBody {
    pub omsgid: String,
}

#[derive(Debug, Serialize)]
pub struct ReversalView {
    pub omsgid: String,
    /// `cancelled` (it was settled, and is cancelled now), `already_cancelled`, or
    /// `never_arrived` (it is marked dead: a late arrival is refused).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setl_id: Option<SetlId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<SetlId>,
}

/// `POST /claims/reversals {omsgid}` (2601): the clinic does not know what became of a
/// message. Settled: cancelled. Never arrived: dead, so that it is never paid.
#[tracing::instrument(skip_all)]
pub async fn reverse(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let body: ReversalBody = extract::parse_json(&req, &body)?;
    let Some(omsgid) = Msgid::parse(&body.omsgid) else {
        return Err(refused("omsgid", "msgid_invalid", "a msgid is 30 characters: institution, time, sequence"));
    };
    let clinic = omsgid.institution().to_string();
    let omsgid = omsgid.as_str().to_string();
    if !caller.scopes.contains(&clinic) {
        return Err(refused("omsgid", "msgid_of_another_institution", "the msgid is not of your institution"));
    }
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let Some(claim) = repo::by_msgid(conn, &clinic, &omsgid)? else {
            repo::mark_dead(conn, &clinic, &omsgid, &caller.client_id, now())?;
            return Ok(ReversalView { omsgid, outcome: "never_arrived", setl_id: None, cancelled_by: None });
        };
        if claim.state == ClaimState::Cancelled {
            let by = repo::cancel_of(conn, &claim.setl_id)?.map(|c| c.setl_id);
            return Ok(ReversalView {
                omsgid,
                outcome: "already_cancelled",
                setl_id: Some(claim.setl_id),
                cancelled_by: by,
            });
        }
        let setl_id = claim.setl_id.clone();
        let negated = cancel_claim(conn, &caller, claim, Some("reversed by the clinic (2601)".into()))?;
        Ok(ReversalView { omsgid, outcome: "cancelled", setl_id: Some(setl_id), cancelled_by: Some(negated.setl_id) })
    })
    .await
}
