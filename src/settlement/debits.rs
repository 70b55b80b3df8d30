//! Premium collection by batch debit (`/debit-runs`, `/debit-envelopes`,
//! `/debit-instructions/results`).
//!
//! A run asks the county's bank for the year's premium of every enrolled, unpaid
//! person whose card is activated, in envelopes of at most N instructions, each with a
//! header (count, total). The bank pulls an envelope, and from then on it never
//! changes; before that, an instruction whose card stops being usable is withdrawn
//! from it. The bank answers each instruction `collected` or `failed`: a collected
//! premium pays the enrollment and credits the county fund in the ledger. A person is
//! never asked twice for one year while an instruction is pending, nor again once it
//! was collected (a unique index says so, whatever runs overlap).

use std::collections::{HashMap, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::bank_answers::{self, Judgement, Refusals, Wording, may_see};
use super::enrollments::YEARS;
use super::ledger::{self, Posting};
use super::policies;
use super::repo::banks as bank_repo;
use super::repo::debits::{self as repo, EnvelopeRow, InstructionRow, RunRow};
use super::repo::enrollments as enrollment_repo;
use super::repo::holders as holder_repo;
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::debit::{DebitFailure, InstructionState};
use crate::domain::ledger::{Account, Movement};
use crate::domain::{
    CardNo, CountyCode, DebitRunId, EnvelopeId, Fen, InstructionId, PersonNo, StateMachine, china_time,
};
use crate::http::csv_output::{neutralise, wants_csv};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError, extract};

/// Most instructions in one envelope, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeSize(pub usize);

pub use super::bank_answers::{MAX_ANSWERS, MAX_RESULTS_BYTES};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    pub county: String,
    pub year: i64,
}

#[derive(Debug, Serialize)]
pub struct EnvelopeHeader {
    pub envelope_id: EnvelopeId,
    pub run_id: DebitRunId,
    pub county_code: String,
    pub year: i32,
    pub bank: String,
    pub count: i32,
    pub total: Fen,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_pulled_at: Option<DateTime<Utc>>,
}

impl From<EnvelopeRow> for EnvelopeHeader {
    fn from(e: EnvelopeRow) -> Self {
        EnvelopeHeader {
            envelope_id: e.id,
            run_id: e.run_id,
            county_code: e.county_code,
            year: e.year,
            bank: e.bank,
            count: e.instruction_count,
            total: Fen(e.total),
            created_at: e.created_at.and_utc(),
            first_pulled_at: e.first_pulled_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub id: DebitRunId,
    pub county_code: String,
    pub year: i32,
    pub premium: Fen,
    pub policy_version: i32,
    pub instruction_count: i32,
    pub total: Fen,
    pub created_at: DateTime<Utc>,
    pub envelopes: Vec<EnvelopeHeader>,
    /// How many instructions are in each state now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub states: Option<HashMap<InstructionState, i64>>,
}

fn run_view(run: RunRow, envelopes: Vec<EnvelopeRow>, states: Option<HashMap<InstructionState, i64>>) -> RunView {
    RunView {
        id: run.id,
        county_code: run.county_code,
        year: run.year,
        premium: Fen(run.premium),
        policy_version: run.policy_version,
        instruction_count: run.instruction_count,
        total: Fen(run.total),
        created_at: run.created_at.and_utc(),
        envelopes: envelopes.into_iter().map(EnvelopeHeader::from).collect(),
        states,
    }
}

/// `POST /debit-runs {county, year}`.
#[tracing::instrument(skip_all)]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    size: web::Data<EnvelopeSize>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let body: RunBody = extract::parse_json(&req, &body)?;
    let mut errors = Vec::new();
    let county = CountyCode::parse(&body.county)
        .map_err(|e| errors.push(FieldError::new("county", e.code(), "not a six-digit county-level code")))
        .ok();
    let year = i32::try_from(body.year).ok().filter(|y| YEARS.contains(&i64::from(*y)));
    if year.is_none() {
        errors.push(FieldError::new(
            "year",
            "year_invalid",
            format!("a year from {} to {}", YEARS.start(), YEARS.end()),
        ));
    }
    let (Some(county), Some(year)) = (county, year) else {
        return Err(ApiError::validation(errors));
    };
    let size = size.0;
    idempotency::run(&pool, key, StatusCode::CREATED, move |conn| {
        let view = create_run(conn, &caller, county.as_str(), year, size)?;
        tracing::info!(run_id = %view.id, county = %view.county_code, year, instructions = view.instruction_count, "debit run created");
        Ok(view)
    })
    .await
}

fn create_run(
    conn: &mut DbConnection,
    caller: &Caller,
    county: &str,
    year: i32,
    size: usize,
) -> Result<RunView, ApiError> {
    crate::db::plan_for_parameters(conn)?;
    // The county's bank row is the run's lock: two runs of one county take turns, and
    // the second sees the first one's pending instructions.
    let bank = bank_repo::lock_bank_of(conn, county)?
        .ok_or_else(|| ApiError::unprocessable("no_bank_assigned", format!("county {county} has no bank assigned")))?;
    let on = china_time::today();
    let policy = policies::in_force(conn, county, year, on)?
        .ok_or_else(|| ApiError::unprocessable("no_policy", format!("county {county} has no policy for {year}")))?;
    let premium = policy.policy.premium_per_person();
    let pending: HashSet<PersonNo> = repo::pending_persons(conn, county, year)?.into_iter().collect();
    let unpaid: Vec<PersonNo> =
        enrollment_repo::unpaid(conn, county, year)?.into_iter().filter(|p| !pending.contains(p)).collect();
    let mut cards: Vec<(PersonNo, CardNo)> =
        holder_repo::activated_cards(conn, &unpaid)?.into_iter().map(|c| (c.person_no, c.card_no)).collect();
    cards.sort();
    if cards.is_empty() {
        return Err(ApiError::unprocessable(
            "nothing_to_debit",
            format!("county {county} has no enrolled, unpaid person with an activated card for {year}"),
        ));
    }
    let at = now();
    let run_id = DebitRunId::new();
    let mut envelopes = Vec::new();
    let mut instructions = Vec::with_capacity(cards.len());
    for chunk in cards.chunks(size.max(1)) {
        let envelope_id = EnvelopeId::new();
        let total = checked_total(premium, chunk.len())?;
        envelopes.push(EnvelopeRow {
            id: envelope_id.clone(),
            run_id: run_id.clone(),
            county_code: county.to_string(),
            year,
            bank: bank.bank.clone(),
            instruction_count: i32::try_from(chunk.len()).map_err(ApiError::internal)?,
            total: total.get(),
            created_at: at,
            first_pulled_at: None,
        });
        for (person_no, card_no) in chunk {
            instructions.push(InstructionRow {
                id: InstructionId::new(),
                run_id: run_id.clone(),
                envelope_id: envelope_id.clone(),
                county_code: county.to_string(),
                year,
                person_no: person_no.clone(),
                card_no: card_no.clone(),
                amount: premium.get(),
                state: InstructionState::Pending,
                failure_code: None,
                bank_reference: None,
                answered_at: None,
                created_at: at,
            });
        }
    }
    let run = RunRow {
        id: run_id,
        county_code: county.to_string(),
        year,
        premium: premium.get(),
        policy_version: policy.version,
        instruction_count: i32::try_from(instructions.len()).map_err(ApiError::internal)?,
        total: checked_total(premium, instructions.len())?.get(),
        envelope_count: i32::try_from(envelopes.len()).map_err(ApiError::internal)?,
        created_by: caller.client_id.clone(),
        created_at: at,
    };
    repo::insert_run(conn, &run, &envelopes, &instructions)?;
    Ok(run_view(run, envelopes, None))
}

fn checked_total(premium: Fen, count: usize) -> Result<Fen, ApiError> {
    i64::try_from(count)
        .ok()
        .and_then(|n| premium.get().checked_mul(n))
        .map(Fen)
        .ok_or_else(|| ApiError::unprocessable("amount_overflow", "the run's total does not fit in an amount"))
}

/// Takes `card_no`'s pending instructions out of envelopes the bank has not pulled,
/// in the caller's transaction (the card was reported lost, replaced or cancelled).
pub fn withdraw_card(conn: &mut DbConnection, card_no: &CardNo) -> Result<usize, ApiError> {
    let at = now();
    let mut withdrawn = 0;
    for instruction in repo::pending_of_card(conn, card_no)? {
        if repo::withdraw(conn, &instruction, at)? {
            withdrawn += 1;
        }
    }
    Ok(withdrawn)
}

/// `GET /debit-runs/{id}`: the run's header, its envelopes and where its instructions
/// stand.
#[tracing::instrument(skip_all)]
pub async fn get_run(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin, Role::Auditor, Role::CountyOffice])?;
    let id = DebitRunId::from(path.into_inner());
    let view = pool
        .read(move |conn| {
            let Some(run) = repo::run(conn, &id)?.filter(|r| caller.may_see_county(&r.county_code)) else {
                return Err(ApiError::not_found("debit run"));
            };
            let envelopes = repo::envelopes_of_run(conn, &run.id)?;
            let states = repo::run_states(conn, &run.id)?.into_iter().collect();
            Ok(run_view(run, envelopes, Some(states)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeQuery {
    pub state: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /debit-envelopes?state=pending`: a bank's envelopes (pending: never pulled).
#[tracing::instrument(skip_all)]
pub async fn list_envelopes(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<EnvelopeQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Bank, Role::ProvincialAdmin, Role::Auditor])?;
    let query = query.into_inner();
    let unpulled = bank_answers::unpulled_only(query.state.as_deref())?;
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let banks = (caller.role == Role::Bank).then(|| caller.scopes.clone());
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::envelopes(conn, banks.as_deref(), unpulled, &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<EnvelopeHeader> = rows.into_iter().map(EnvelopeHeader::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |e| e.envelope_id.to_string())))
}

#[derive(Debug, Serialize)]
pub struct DebitLine {
    pub instruction_id: InstructionId,
    pub card_no: CardNo,
    pub amount: Fen,
    pub state: InstructionState,
}

#[derive(Debug, Serialize)]
pub struct EnvelopeView {
    #[serde(flatten)]
    pub header: EnvelopeHeader,
    pub instructions: Vec<DebitLine>,
}

/// `GET /debit-envelopes/{id}`: the envelope with its instructions. The bank's first
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
            let instructions = repo::envelope_instructions(conn, &id)?
                .into_iter()
                .map(|i| DebitLine { instruction_id: i.id, card_no: i.card_no, amount: Fen(i.amount), state: i.state })
                .collect();
            Ok(EnvelopeView { header: EnvelopeHeader::from(envelope), instructions })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Collected,
    Failed,
}

impl bank_answers::Outcome for Outcome {
    fn succeeded(self) -> bool {
        self == Outcome::Collected
    }
}

pub type ResultsBody = bank_answers::ResultsBody<Outcome>;

#[derive(Debug, Serialize)]
pub struct ResultsReport {
    pub received: usize,
    pub collected: usize,
    pub failed: usize,
    /// The same answer as before: nothing changed.
    pub repeated: usize,
}

/// One answer, read.
struct Answer {
    row: u64,
    id: InstructionId,
    state: InstructionState,
    failure: Option<DebitFailure>,
    reference: String,
}

const WORDING: Wording = Wording {
    succeeded: "a collected debit",
    failed: "a failed debit",
    codes: "insufficient_funds, account_closed, account_frozen, card_lost, card_not_found or other",
};

fn read_answers(body: ResultsBody) -> Result<Vec<Answer>, ApiError> {
    let answers = bank_answers::read_answers::<Outcome, DebitFailure>(body, &WORDING)?;
    Ok(answers
        .into_iter()
        .map(|a| Answer {
            row: a.row,
            id: InstructionId::from(a.instruction_id),
            state: match a.outcome {
                Outcome::Collected => InstructionState::Collected,
                Outcome::Failed => InstructionState::Failed,
            },
            failure: a.failure,
            reference: a.reference,
        })
        .collect())
}

/// `POST /debit-instructions/results`: the bank's answers, all or nothing. The same
/// answer again is a no-op; a different answer for an answered instruction is 409; an
/// unknown or withdrawn instruction is an error for its row.
#[tracing::instrument(skip_all)]
pub async fn results(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Bank])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let body: ResultsBody = extract::parse_json(&req, &body)?;
    let answers = read_answers(body)?;
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let report = record_answers(conn, &caller, answers)?;
        tracing::info!(
            collected = report.collected,
            failed = report.failed,
            repeated = report.repeated,
            "debit answers"
        );
        Ok(report)
    })
    .await
}

fn record_answers(conn: &mut DbConnection, caller: &Caller, answers: Vec<Answer>) -> Result<ResultsReport, ApiError> {
    crate::db::plan_for_parameters(conn)?;
    let ids: Vec<InstructionId> = answers.iter().map(|a| a.id.clone()).collect();
    let known: HashMap<InstructionId, InstructionRow> = repo::instructions_with_bank(conn, &ids)?
        .into_iter()
        .filter(|(_, bank)| caller.scopes.iter().any(|s| s == bank))
        .map(|(i, _)| (i.id.clone(), i))
        .collect();
    let mut refusals = Refusals::default();
    // What this request decides per instruction, so that a repeat within it is judged
    // like a repeat across requests.
    let mut decided: HashMap<InstructionId, (InstructionState, Option<DebitFailure>, String)> = HashMap::new();
    let mut changes = Vec::new();
    let mut repeated = 0;
    for a in answers {
        let Some(instruction) = known.get(&a.id) else {
            refusals.not_found(a.row);
            continue;
        };
        let answer = (a.state, a.failure, a.reference.clone());
        let before = decided.get(&a.id).cloned().or_else(|| match instruction.state {
            InstructionState::Pending | InstructionState::Withdrawn => None,
            state => Some((
                state,
                instruction
                    .failure_code
                    .as_deref()
                    .and_then(|c| serde_json::from_value(serde_json::Value::String(c.into())).ok()),
                instruction.bank_reference.clone().unwrap_or_default(),
            )),
        });
        let answered_as = before.as_ref().map(|(state, _, _)| *state).unwrap_or(InstructionState::Pending);
        match bank_answers::judge(a.row, &answer, before.as_slice(), answered_as) {
            Judgement::Repeat => repeated += 1,
            Judgement::Conflict(e) => refusals.conflicts.push(e),
            Judgement::New if instruction.state == InstructionState::Withdrawn => {
                refusals.withdrawn(a.row, "the instruction was withdrawn before its envelope was pulled")
            }
            Judgement::New => {
                InstructionState::Pending.transition(a.state).map_err(ApiError::internal)?;
                decided.insert(a.id.clone(), answer);
                changes.push((instruction.clone(), a));
            }
        }
    }
    refusals.finish()?;
    let at = now();
    let (mut collected, mut failed) = (0, 0);
    // Per county and year: the enrollments paid, and the amount the fund received.
    let mut paid: HashMap<(String, i32), Collected> = HashMap::new();
    // Every change in one set-based statement (per 1,000): all of them or, when one
    // instruction is no longer pending, none (the transaction rolls back).
    let rows: Vec<repo::AnswerRow<'_>> = changes
        .iter()
        .map(|(_, a)| repo::AnswerRow {
            id: &a.id,
            state: a.state,
            failure_code: a.failure.map(DebitFailure::as_str),
            bank_reference: &a.reference,
        })
        .collect();
    if repo::answer_many(conn, &rows, at)? != rows.len() {
        return Err(ApiError::conflict(
            "instruction_changed",
            "an instruction changed meanwhile; send the answers again",
        ));
    }
    drop(rows);
    for (instruction, a) in changes {
        if a.state == InstructionState::Collected {
            collected += 1;
            let entry = paid.entry((instruction.county_code.clone(), instruction.year)).or_default();
            entry.1 = entry
                .1
                .checked_add(instruction.amount)
                .ok_or_else(|| ApiError::unprocessable("amount_overflow", "the collected total does not fit"))?;
            entry.0.push((instruction.person_no, Fen(instruction.amount), instruction.id));
        } else {
            failed += 1;
        }
    }
    for ((county, year), (persons, total)) in paid {
        enrollment_repo::mark_paid(conn, year, &persons, at)?;
        post_premiums(conn, &county, year, Fen(total), at)?;
    }
    Ok(ResultsReport { received: ids.len(), collected, failed, repeated })
}

/// What one request collected for one county and year: the enrollments paid and the
/// total.
type Collected = (Vec<(PersonNo, Fen, InstructionId)>, i64);

/// Credits the county fund with premiums collected now.
fn post_premiums(
    conn: &mut DbConnection,
    county: &str,
    year: i32,
    total: Fen,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let negated = Fen(0)
        .checked_sub(total)
        .ok_or_else(|| ApiError::unprocessable("amount_overflow", "the collected total does not fit"))?;
    ledger::post(
        conn,
        &Posting {
            county_code: county.to_string(),
            year,
            kind: Movement::PremiumCollected,
            reference: format!("premiums:{}", uuid::Uuid::now_v7()),
            lines: vec![(Account::FundPool, total), (Account::PremiumIncome, negated)],
            at,
        },
    )?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct FailureView {
    pub instruction_id: InstructionId,
    pub psn_no: PersonNo,
    pub card_no: CardNo,
    /// 王*明.
    pub name: String,
    pub village: String,
    pub amount: Fen,
    pub code: String,
    pub bank_reference: String,
    pub answered_at: Option<DateTime<Utc>>,
}

/// `GET /debit-runs/{id}/failures`: the run's failed debits for follow-up (JSON, or
/// CSV with `Accept: text/csv`).
#[tracing::instrument(skip_all)]
pub async fn failures(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    query: web::Query<FailureQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin, Role::Auditor, Role::CountyOffice])?;
    let id = DebitRunId::from(path.into_inner());
    let query = query.into_inner();
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| {
                if repo::run(conn, &id)?.filter(|r| caller.may_see_county(&r.county_code)).is_none() {
                    return Err(ApiError::not_found("debit run"));
                }
                Ok(repo::failures(conn, &id, &page)?)
            }
        })
        .await?;
    let views: Vec<FailureView> = rows
        .into_iter()
        .map(|(i, p)| FailureView {
            instruction_id: i.id,
            psn_no: i.person_no,
            card_no: i.card_no,
            name: p.name_masked,
            village: p.village,
            amount: Fen(i.amount),
            code: i.failure_code.unwrap_or_default(),
            bank_reference: i.bank_reference.unwrap_or_default(),
            answered_at: i.answered_at.map(|t| t.and_utc()),
        })
        .collect();
    let page = Page::from_rows(views, &page, |f| f.instruction_id.to_string());
    if !wants_csv(&req) {
        return Ok(HttpResponse::Ok().json(page));
    }
    let header =
        ["instruction_id", "psn_no", "card_no", "name", "village", "amount", "code", "bank_reference", "answered_at"];
    let records = page.items.iter().map(|f| {
        vec![
            f.instruction_id.to_string(),
            f.psn_no.to_string(),
            f.card_no.to_string(),
            neutralise(&f.name),
            neutralise(&f.village),
            f.amount.get().to_string(),
            f.code.clone(),
            neutralise(&f.bank_reference),
            f.answered_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ]
    });
    bank_answers::csv_page(&header, records, page.next_cursor.as_deref())
}
