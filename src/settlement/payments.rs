//! Reimbursements paid onto patients' cards (`/payment-envelopes`,
//! `/payment-instructions`).
//!
//! Each approved claim with `hifp_pay > 0` is one payment instruction onto the
//! person's card ([`super::claims`] makes it, loose: in no envelope yet). When the
//! county's bank asks for its pending envelopes, the loose instructions of its
//! counties are first sealed into envelopes of at most N, each with a header (count,
//! total); the bank's first read of an envelope freezes it. The bank answers each
//! instruction `paid` or `failed` with a code, all answers of a request or none, as
//! for premium debits ([`super::bank_answers`]): the same answer again is a no-op,
//! another answer for an answered instruction `409`. Every answer is kept per attempt,
//! so that a repeat of an earlier attempt's answer stays a repeat after the
//! instruction moved on.
//!
//! A failure with a retryable code goes back to loose pending, into a later envelope,
//! until `HEALTHCARD_PAYMENT_MAX_ATTEMPTS` tries are spent; then, or at once with a
//! final code, it waits for a person (`needs_action`), whom the county may re-issue
//! it to the holder's current card. An instruction is paid at most once.
//!
//! Cancelling a claim ([`claim_cancelled`]): an instruction the bank has not got
//! (loose, in an envelope never pulled, or waiting for a person) is withdrawn and the
//! amount goes back to the fund; one in a pulled envelope stays for the bank's
//! answer, which settles it (paid: owed back; failed: withdrawn); a paid one is owed
//! back at once, a recovery receivable. The issue asks for a recovery to be collected
//! with the person's next premium debit; for now the county records it explicitly,
//! collected or written off (`POST /payment-instructions/{id}/recovery`).
//!
//! Ledger: paid is `reimbursement_payable -> bank_clearing` (`payment_sent`,
//! `payment:{id}`); a failure posts nothing; cancelled before payment
//! `reimbursement_payable -> fund_pool` and after it `bank_clearing ->
//! recoveries_receivable` (`claim_cancelled`, `cancel:{setl_id}`); a recovery
//! `recoveries_receivable -> fund_pool` (`recovery:{id}`) or `-> paid_out` when
//! written off (`write_off:{id}`).

use std::collections::{HashMap, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::bank_answers::{self, Judgement, Refusals, Wording, may_see};
use super::debits::EnvelopeSize;
use super::ledger::{self, Posting};
use super::repo::banks as bank_repo;
use super::repo::claims::{ClaimRow, PaymentRow};
use super::repo::payments::{self as repo, AttemptRow, OWED, PaymentChange, PaymentEnvelopeRow, RecoveryRow};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::claim_state::{ClaimState, PaymentFailure, PaymentState, after_failure};
use crate::domain::ledger::{Account, Movement};
use crate::domain::{CardNo, EnvelopeId, Fen, PaymentId, PersonNo, SetlId, StateMachine};
use crate::http::csv_output::{neutralise, wants_csv};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError, extract};

/// How many times the bank is asked to pay one instruction before a person must act,
/// from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct MaxAttempts(pub i32);

/// Moves the instruction's amount from `from` to `to` in its county's ledger.
fn post(
    conn: &mut DbConnection,
    p: &PaymentRow,
    kind: Movement,
    reference: String,
    from: Account,
    to: Account,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let amount = Fen(p.amount);
    let negated = Fen::ZERO.checked_sub(amount).ok_or_else(|| ApiError::internal("amount out of range"))?;
    ledger::post(
        conn,
        &Posting {
            county_code: p.county_code.clone(),
            year: p.year,
            kind,
            reference,
            lines: vec![(to, amount), (from, negated)],
            at,
        },
    )?;
    Ok(())
}

/// The change that leaves everything as it was but what the caller sets.
fn unchanged(p: &PaymentRow) -> PaymentChange<'_> {
    PaymentChange {
        state: p.state,
        envelope_id: p.envelope_id.as_ref(),
        card_no: &p.card_no,
        attempts: p.attempts,
        failure_code: p.failure_code.as_deref(),
        bank_reference: p.bank_reference.as_deref(),
        answered_at: p.answered_at,
    }
}

fn changed_meanwhile() -> ApiError {
    ApiError::conflict("instruction_changed", "a payment instruction changed meanwhile; send the request again")
}

/// Withdraws `p` (never to reach the bank) and gives its amount back to the fund.
fn withdraw(conn: &mut DbConnection, p: &PaymentRow, at: NaiveDateTime) -> Result<(), ApiError> {
    PaymentState::transition(p.state, PaymentState::Withdrawn)
        .map_err(|e| ApiError::conflict(e.code(), e.to_string()))?;
    if repo::update(conn, p, &PaymentChange { state: PaymentState::Withdrawn, ..unchanged(p) })? != 1 {
        return Err(changed_meanwhile());
    }
    post(
        conn,
        p,
        Movement::ClaimCancelled,
        format!("cancel:{}", p.setl_id),
        Account::ReimbursementPayable,
        Account::FundPool,
        at,
    )
}

/// `p` was paid for a claim that is cancelled: the money is owed back.
fn owe_back(conn: &mut DbConnection, p: &PaymentRow, at: NaiveDateTime) -> Result<(), ApiError> {
    repo::insert_recovery(
        conn,
        &RecoveryRow {
            payment_id: p.id.clone(),
            setl_id: p.setl_id.clone(),
            county_code: p.county_code.clone(),
            year: p.year,
            amount: p.amount,
            state: OWED.to_string(),
            reference: None,
            created_at: at,
            settled_by: None,
            settled_at: None,
        },
    )?;
    post(
        conn,
        p,
        Movement::ClaimCancelled,
        format!("cancel:{}", p.setl_id),
        Account::BankClearing,
        Account::RecoveriesReceivable,
        at,
    )
}

/// The claim of `payment` was cancelled, in the caller's (the cancel's) transaction:
/// a payment the bank has not got is withdrawn and its amount given back to the fund;
/// one in a pulled envelope waits for the bank's answer, which settles it; a paid one
/// is owed back.
pub fn claim_cancelled(
    conn: &mut DbConnection,
    claim: &ClaimRow,
    payment: &PaymentId,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let p = repo::lock_instruction(conn, payment)?.ok_or_else(|| {
        ApiError::internal(format!("claim {} names a payment instruction that is not there", claim.setl_id))
    })?;
    match p.state {
        PaymentState::Pending => {
            let withdrawable = match &p.envelope_id {
                None => true,
                Some(envelope) => repo::take_out_of_unpulled(conn, envelope, p.amount)?,
            };
            if withdrawable {
                withdraw(conn, &p, at)?;
            }
        }
        PaymentState::NeedsAction => withdraw(conn, &p, at)?,
        PaymentState::Paid => owe_back(conn, &p, at)?,
        PaymentState::Withdrawn => {}
    }
    tracing::info!(payment = %p.id, state = %p.state, "payment of a cancelled claim");
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct EnvelopeHeader {
    pub envelope_id: EnvelopeId,
    pub county_code: String,
    pub bank: String,
    pub count: i32,
    pub total: Fen,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_pulled_at: Option<DateTime<Utc>>,
}

impl From<PaymentEnvelopeRow> for EnvelopeHeader {
    fn from(e: PaymentEnvelopeRow) -> Self {
        EnvelopeHeader {
            envelope_id: e.id,
            county_code: e.county_code,
            bank: e.bank,
            count: e.instruction_count,
            total: Fen(e.total),
            created_at: e.created_at.and_utc(),
            first_pulled_at: e.first_pulled_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeQuery {
    pub state: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Seals the loose pending instructions of the counties of `banks` into envelopes of
/// at most `size`, each county under its bank row's lock (as a debit run takes it).
fn seal_loose(conn: &mut DbConnection, banks: &[String], size: usize) -> Result<usize, ApiError> {
    crate::db::plan_for_parameters(conn)?;
    let mut sealed = 0;
    for county in repo::counties_of(conn, banks)? {
        let Some(assignment) = bank_repo::lock_bank_of(conn, &county)? else { continue };
        if !banks.contains(&assignment.bank) {
            continue;
        }
        let loose = repo::loose(conn, &county)?;
        for chunk in loose.chunks(size.max(1)) {
            let envelope = PaymentEnvelopeRow {
                id: EnvelopeId::new(),
                county_code: county.clone(),
                bank: assignment.bank.clone(),
                instruction_count: 0,
                total: 0,
                created_at: now(),
                first_pulled_at: None,
            };
            let ids: Vec<PaymentId> = chunk.iter().map(|p| p.id.clone()).collect();
            if let Some(made) = repo::seal(conn, &envelope, &ids)? {
                sealed += 1;
                tracing::info!(envelope = %made.id, county = %county, count = made.instruction_count, "payment envelope sealed");
            }
        }
    }
    Ok(sealed)
}

/// `GET /payment-envelopes?state=pending`: a bank's envelopes (pending: never
/// pulled), after sealing what waits for one.
#[tracing::instrument(skip_all)]
pub async fn list_envelopes(
    caller: Caller,
    pool: web::Data<DbPool>,
    size: web::Data<EnvelopeSize>,
    query: web::Query<EnvelopeQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Bank, Role::ProvincialAdmin, Role::Auditor])?;
    let query = query.into_inner();
    let unpulled = bank_answers::unpulled_only(query.state.as_deref())?;
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let size = size.0;
    let rows = {
        let page = page.clone();
        if caller.role == Role::Bank {
            let banks = caller.scopes.clone();
            pool.write(move |conn| {
                seal_loose(conn, &banks, size)?;
                repo::envelopes(conn, Some(&banks), unpulled, &page).map_err(ApiError::from)
            })
            .await?
        } else {
            pool.read(move |conn| repo::envelopes(conn, None, unpulled, &page).map_err(ApiError::from)).await?
        }
    };
    let views: Vec<EnvelopeHeader> = rows.into_iter().map(EnvelopeHeader::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |e| e.envelope_id.to_string())))
}

#[derive(Debug, Serialize)]
pub struct PaymentLine {
    pub instruction_id: PaymentId,
    pub card_no: CardNo,
    pub amount: Fen,
    pub setl_id: SetlId,
}

#[derive(Debug, Serialize)]
pub struct EnvelopeView {
    #[serde(flatten)]
    pub header: EnvelopeHeader,
    pub instructions: Vec<PaymentLine>,
}

/// `GET /payment-envelopes/{id}`: the envelope with its instructions. The bank's first
/// read freezes it.
#[tracing::instrument(skip_all)]
pub async fn get_envelope(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Bank, Role::ProvincialAdmin, Role::Auditor])?;
    let id = EnvelopeId::from(path.into_inner());
    let view = pool
        .write(move |conn| {
            let Some(envelope) = repo::envelope(conn, &id)?.filter(|e| may_see(&caller, &e.bank)) else {
                return Err(ApiError::not_found("envelope"));
            };
            if caller.role == Role::Bank && envelope.first_pulled_at.is_none() {
                repo::mark_pulled(conn, &id, now())?;
            }
            // Read after the mark: a withdrawal that came first is in, none comes after.
            let envelope = repo::envelope(conn, &id)?.ok_or_else(|| ApiError::not_found("envelope"))?;
            let instructions = repo::envelope_lines(conn, &id)?
                .into_iter()
                .map(|l| PaymentLine {
                    instruction_id: l.id,
                    card_no: l.card_no,
                    amount: Fen(l.amount),
                    setl_id: l.setl_id,
                })
                .collect();
            Ok(EnvelopeView { header: EnvelopeHeader::from(envelope), instructions })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Paid,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Paid => "paid",
            Outcome::Failed => "failed",
        }
    }
}

impl bank_answers::Outcome for Outcome {
    fn succeeded(self) -> bool {
        self == Outcome::Paid
    }
}

const WORDING: Wording = Wording {
    succeeded: "a paid instruction",
    failed: "a failed instruction",
    codes: "bank_unavailable, timeout (retried), account_closed, account_frozen, card_lost or card_not_found",
};

type Answer = bank_answers::Answer<Outcome, PaymentFailure>;

/// What identifies one answer: outcome, code, reference.
type Said = (Outcome, Option<PaymentFailure>, String);

fn said_of(a: &AttemptRow) -> Said {
    let outcome = if a.outcome == "paid" { Outcome::Paid } else { Outcome::Failed };
    (outcome, a.failure_code.as_deref().and_then(PaymentFailure::parse), a.bank_reference.clone())
}

#[derive(Debug, Serialize)]
pub struct ResultsReport {
    pub received: usize,
    pub paid: usize,
    pub failed: usize,
    /// Of the failed: back to pending, for a later envelope.
    pub retrying: usize,
    /// Of the failed: waiting for a person.
    pub needs_action: usize,
    /// The same answer as before: nothing changed.
    pub repeated: usize,
}

/// `POST /payment-instructions/results`: the bank's answers, all or nothing (see the
/// module docs).
#[tracing::instrument(skip_all)]
pub async fn results(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    max: web::Data<MaxAttempts>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Bank])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let body: bank_answers::ResultsBody<Outcome> = extract::parse_json(&req, &body)?;
    let answers = bank_answers::read_answers::<Outcome, PaymentFailure>(body, &WORDING)?;
    let max = max.0.max(1);
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let report = record_answers(conn, &caller, answers, max)?;
        tracing::info!(
            paid = report.paid,
            failed = report.failed,
            needs_action = report.needs_action,
            repeated = report.repeated,
            "payment answers"
        );
        Ok(report)
    })
    .await
}

fn record_answers(
    conn: &mut DbConnection,
    caller: &Caller,
    answers: Vec<Answer>,
    max_attempts: i32,
) -> Result<ResultsReport, ApiError> {
    crate::db::plan_for_parameters(conn)?;
    let received = answers.len();
    let ids: Vec<PaymentId> =
        answers.iter().map(|a| PaymentId::from(a.instruction_id.clone())).collect::<HashSet<_>>().into_iter().collect();
    let known: HashMap<PaymentId, PaymentRow> =
        repo::instructions(conn, &ids)?.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mut attempts: HashMap<PaymentId, Vec<AttemptRow>> = HashMap::new();
    for a in repo::attempts(conn, &ids)? {
        attempts.entry(a.payment_id.clone()).or_default().push(a);
    }
    let envelope_ids: Vec<EnvelopeId> = known
        .values()
        .filter_map(|p| p.envelope_id.clone())
        .chain(attempts.values().flatten().map(|a| a.envelope_id.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let envelopes: HashMap<EnvelopeId, PaymentEnvelopeRow> =
        repo::envelopes_by_id(conn, &envelope_ids)?.into_iter().map(|e| (e.id.clone(), e)).collect();
    let ours = |e: &EnvelopeId| envelopes.get(e).is_some_and(|e| caller.scopes.contains(&e.bank));

    let mut refusals = Refusals::default();
    let mut decided: HashMap<PaymentId, Said> = HashMap::new();
    let mut changes: Vec<(PaymentRow, EnvelopeId, Answer)> = Vec::new();
    let mut repeated = 0;
    for a in answers {
        let id = PaymentId::from(a.instruction_id.clone());
        let earlier = attempts.get(&id).map(Vec::as_slice).unwrap_or_default();
        let Some(p) = known
            .get(&id)
            .filter(|p| p.envelope_id.as_ref().is_some_and(&ours) || earlier.iter().any(|t| ours(&t.envelope_id)))
        else {
            refusals.not_found(a.row);
            continue;
        };
        let said: Said = (a.outcome, a.failure, a.reference.clone());
        let mut before: Vec<Said> = earlier.iter().map(said_of).collect();
        let answered_now = decided.get(&id).cloned();
        // The attempt the bank has in hand: pending in a pulled envelope of its own,
        // not answered in that envelope yet.
        let open = match (&p.envelope_id, p.state) {
            (Some(e), PaymentState::Pending) if answered_now.is_none() => {
                envelopes.get(e).is_some_and(|e| e.first_pulled_at.is_some() && caller.scopes.contains(&e.bank))
                    && earlier.iter().all(|t| &t.envelope_id != e)
            }
            _ => false,
        };
        let last = answered_now.as_ref().or(before.last()).map_or("pending", |s| s.0.as_str());
        before.extend(answered_now);
        let judgement = if open {
            if before.contains(&said) { Judgement::Repeat } else { Judgement::New }
        } else {
            bank_answers::judge(a.row, &said, &before, last)
        };
        match judgement {
            Judgement::Repeat => repeated += 1,
            Judgement::Conflict(e) => refusals.conflicts.push(e),
            Judgement::New if open => {
                let Some(envelope) = p.envelope_id.clone() else { continue };
                decided.insert(id, said);
                changes.push((p.clone(), envelope, a));
            }
            Judgement::New if p.state == PaymentState::Withdrawn => {
                refusals.withdrawn(a.row, "the instruction was withdrawn before it reached you")
            }
            Judgement::New => refusals.not_found(a.row),
        }
    }
    refusals.finish()?;

    let setl_ids: Vec<SetlId> = changes.iter().map(|(p, _, _)| p.setl_id.clone()).collect();
    let cancelled: HashSet<SetlId> = repo::claim_states(conn, &setl_ids)?
        .into_iter()
        .filter(|(_, state)| *state == ClaimState::Cancelled)
        .map(|(id, _)| id)
        .collect();
    let at = now();
    let mut report = ResultsReport { received, paid: 0, failed: 0, retrying: 0, needs_action: 0, repeated };
    for (p, envelope, a) in changes {
        let seq = attempts.get(&p.id).map_or(0, Vec::len) + 1;
        let code = a.failure.map(PaymentFailure::as_str);
        let is_cancelled = cancelled.contains(&p.setl_id);
        let tries = p.attempts.saturating_add(1);
        let (state, envelope_now, tries) = match a.failure {
            None => (PaymentState::Paid, Some(&envelope), p.attempts),
            Some(_) if is_cancelled => (PaymentState::Withdrawn, Some(&envelope), tries),
            Some(f) => match after_failure(f, tries, max_attempts) {
                PaymentState::Pending => (PaymentState::Pending, None, tries),
                other => (other, Some(&envelope), tries),
            },
        };
        let change = PaymentChange {
            state,
            envelope_id: envelope_now,
            card_no: &p.card_no,
            attempts: tries,
            failure_code: code.or(p.failure_code.as_deref()),
            bank_reference: Some(&a.reference),
            answered_at: Some(at),
        };
        if repo::update(conn, &p, &change)? != 1 {
            return Err(changed_meanwhile());
        }
        repo::insert_attempt(
            conn,
            &AttemptRow {
                payment_id: p.id.clone(),
                seq: i32::try_from(seq).map_err(ApiError::internal)?,
                envelope_id: envelope.clone(),
                card_no: p.card_no.clone(),
                outcome: a.outcome.as_str().to_string(),
                failure_code: code.map(str::to_string),
                bank_reference: a.reference.clone(),
                answered_at: at,
            },
        )?;
        match state {
            PaymentState::Paid => {
                report.paid += 1;
                post(
                    conn,
                    &p,
                    Movement::PaymentSent,
                    format!("payment:{}", p.id),
                    Account::ReimbursementPayable,
                    Account::BankClearing,
                    at,
                )?;
                if is_cancelled {
                    owe_back(conn, &p, at)?;
                }
            }
            PaymentState::Withdrawn => {
                report.failed += 1;
                post(
                    conn,
                    &p,
                    Movement::ClaimCancelled,
                    format!("cancel:{}", p.setl_id),
                    Account::ReimbursementPayable,
                    Account::FundPool,
                    at,
                )?;
            }
            PaymentState::Pending => {
                report.failed += 1;
                report.retrying += 1;
            }
            PaymentState::NeedsAction => {
                report.failed += 1;
                report.needs_action += 1;
            }
        }
    }
    Ok(report)
}

/// A payment instruction as the county sees it.
#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub instruction_id: PaymentId,
    pub setl_id: SetlId,
    pub county_code: String,
    pub psn_no: PersonNo,
    pub card_no: CardNo,
    pub amount: Fen,
    pub state: PaymentState,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryView>,
}

#[derive(Debug, Serialize)]
pub struct RecoveryView {
    /// `owed`, `collected` or `written_off`.
    pub state: String,
    pub amount: Fen,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<DateTime<Utc>>,
}

fn payment_view(p: PaymentRow, recovery: Option<RecoveryRow>) -> PaymentView {
    PaymentView {
        instruction_id: p.id,
        setl_id: p.setl_id,
        county_code: p.county_code,
        psn_no: p.person_no,
        card_no: p.card_no,
        amount: Fen(p.amount),
        state: p.state,
        attempts: p.attempts,
        code: p.failure_code,
        bank_reference: p.bank_reference,
        recovery: recovery.map(|r| RecoveryView {
            state: r.state,
            amount: Fen(r.amount),
            reference: r.reference,
            settled_at: r.settled_at.map(|t| t.and_utc()),
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstructionQuery {
    pub state: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct ActionView {
    pub instruction_id: PaymentId,
    pub setl_id: SetlId,
    pub psn_no: PersonNo,
    pub card_no: CardNo,
    /// 王*明.
    pub name: String,
    pub village: String,
    pub amount: Fen,
    pub attempts: i32,
    pub code: String,
    pub bank_reference: String,
    pub answered_at: Option<DateTime<Utc>>,
}

/// `GET /payment-instructions?state=needs_action`: the payments a person must act on,
/// of the county office's counties (all for the province's roles); JSON, or CSV with
/// `Accept: text/csv`.
#[tracing::instrument(skip_all)]
pub async fn needing_action(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<InstructionQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice, Role::ProvincialAdmin, Role::Auditor])?;
    let query = query.into_inner();
    if query.state.as_deref() != Some("needs_action") {
        return Err(ApiError::validation(vec![FieldError::new(
            "state",
            "state_invalid",
            "state is needs_action (payments waiting for a person)",
        )]));
    }
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let counties = (caller.role == Role::CountyOffice).then(|| caller.scopes.clone());
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::needing_action(conn, counties.as_deref(), &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<ActionView> = rows
        .into_iter()
        .map(|(p, setl_id, person)| ActionView {
            instruction_id: p.id,
            setl_id,
            psn_no: p.person_no,
            card_no: p.card_no,
            name: person.name_masked,
            village: person.village,
            amount: Fen(p.amount),
            attempts: p.attempts,
            code: p.failure_code.unwrap_or_default(),
            bank_reference: p.bank_reference.unwrap_or_default(),
            answered_at: p.answered_at.map(|t| t.and_utc()),
        })
        .collect();
    let page = Page::from_rows(views, &page, |v| v.instruction_id.to_string());
    if !wants_csv(&req) {
        return Ok(HttpResponse::Ok().json(page));
    }
    let header = [
        "instruction_id",
        "setl_id",
        "psn_no",
        "card_no",
        "name",
        "village",
        "amount",
        "attempts",
        "code",
        "bank_reference",
        "answered_at",
    ];
    let records = page.items.iter().map(|v| {
        vec![
            v.instruction_id.to_string(),
            v.setl_id.to_string(),
            v.psn_no.to_string(),
            v.card_no.to_string(),
            neutralise(&v.name),
            neutralise(&v.village),
            v.amount.get().to_string(),
            v.attempts.to_string(),
            v.code.clone(),
            neutralise(&v.bank_reference),
            v.answered_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ]
    });
    bank_answers::csv_page(&header, records, page.next_cursor.as_deref())
}

/// The instruction `id` of one of the county office's counties, locked.
fn county_instruction(conn: &mut DbConnection, caller: &Caller, id: &PaymentId) -> Result<PaymentRow, ApiError> {
    repo::lock_instruction(conn, id)?
        .filter(|p| caller.may_see_county(&p.county_code))
        .ok_or_else(|| ApiError::not_found("payment instruction"))
}

/// `POST /payment-instructions/{id}/reissue`: a payment waiting for a person goes to
/// the holder's current card, back to pending for the next envelope, its attempts
/// counted anew.
#[tracing::instrument(skip_all)]
pub async fn reissue(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let id = PaymentId::from(path.into_inner());
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let p = county_instruction(conn, &caller, &id)?;
        if p.state != PaymentState::NeedsAction {
            return Err(ApiError::conflict(
                "payment_not_needing_action",
                format!("the instruction is {}; only one that needs action is re-issued", p.state),
            ));
        }
        let card = repo::current_card(conn, &p.person_no)?.unwrap_or_else(|| p.card_no.clone());
        let change = PaymentChange {
            state: PaymentState::Pending,
            envelope_id: None,
            card_no: &card,
            attempts: 0,
            ..unchanged(&p)
        };
        if repo::update(conn, &p, &change)? != 1 {
            return Err(changed_meanwhile());
        }
        tracing::info!(payment = %p.id, card = %card, "payment re-issued");
        let p = repo::lock_instruction(conn, &id)?.ok_or_else(|| ApiError::not_found("payment instruction"))?;
        Ok(payment_view(p, None))
    })
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryOutcome {
    Collected,
    WrittenOff,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryBody {
    pub outcome: RecoveryOutcome,
    pub reference: String,
}

/// `POST /payment-instructions/{id}/recovery {outcome, reference}`: the money owed back
/// for a paid payment whose claim was cancelled is collected (back into the fund) or
/// written off (the fund's loss); once.
#[tracing::instrument(skip_all)]
pub async fn recovery(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let body: RecoveryBody = extract::parse_json(&req, &body)?;
    let reference = body.reference.trim().to_string();
    if reference.is_empty() || reference.chars().count() > 64 || reference.chars().any(char::is_control) {
        return Err(ApiError::validation(vec![FieldError::new(
            "reference",
            "reference_invalid",
            "1 to 64 characters, none a control character",
        )]));
    }
    let id = PaymentId::from(path.into_inner());
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let p = county_instruction(conn, &caller, &id)?;
        let Some(owed) = repo::lock_recovery(conn, &id)? else {
            return Err(ApiError::conflict(
                "recovery_not_owed",
                "nothing is owed back for this instruction: it is not a paid payment of a cancelled claim",
            ));
        };
        if owed.state != OWED {
            return Err(ApiError::conflict(
                "recovery_already_recorded",
                format!("the recovery was recorded {} before", owed.state),
            ));
        }
        let at = now();
        let (state, to, reference_kind) = match body.outcome {
            RecoveryOutcome::Collected => ("collected", Account::FundPool, "recovery"),
            RecoveryOutcome::WrittenOff => ("written_off", Account::PaidOut, "write_off"),
        };
        if repo::settle_recovery(conn, &id, state, &reference, &caller.client_id, at)? != 1 {
            return Err(changed_meanwhile());
        }
        let amount = PaymentRow { amount: owed.amount, ..p.clone() };
        post(
            conn,
            &amount,
            Movement::Recovery,
            format!("{reference_kind}:{}", p.id),
            Account::RecoveriesReceivable,
            to,
            at,
        )?;
        tracing::info!(payment = %p.id, state, "recovery recorded");
        let recovery = repo::lock_recovery(conn, &id)?;
        Ok(payment_view(p, recovery))
    })
    .await
}
