//! Payment envelopes to the bank, the bank's answers per attempt, and the money owed
//! back for claims cancelled after payment. The instructions themselves are
//! [`super::claims::payment_instructions`].

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::banks::bank_assignments;
use super::claims::{PaymentRow, claims, payment_instructions};
use super::holders::{PersonRow, persons};
use crate::db::{DbConnection, PageRequest};
use crate::domain::claim_state::{ClaimState, PaymentState};
use crate::domain::{CardNo, ClientId, EnvelopeId, PaymentId, SetlId};

diesel::table! {
    payment_envelopes (id) {
        id -> Text,
        county_code -> Text,
        bank -> Text,
        instruction_count -> Integer,
        total -> BigInt,
        created_at -> Timestamp,
        first_pulled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    payment_attempts (payment_id, seq) {
        payment_id -> Text,
        seq -> Integer,
        envelope_id -> Text,
        card_no -> Text,
        outcome -> Text,
        failure_code -> Nullable<Text>,
        bank_reference -> Text,
        answered_at -> Timestamp,
    }
}

diesel::table! {
    payment_recoveries (payment_id) {
        payment_id -> Text,
        setl_id -> Text,
        county_code -> Text,
        year -> Integer,
        amount -> BigInt,
        state -> Text,
        reference -> Nullable<Text>,
        created_at -> Timestamp,
        settled_by -> Nullable<Text>,
        settled_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(payment_instructions, payment_envelopes);
diesel::allow_tables_to_appear_in_same_query!(payment_instructions, persons);

/// A recovery's states: owed, then collected or written off.
pub const OWED: &str = "owed";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_envelopes)]
pub struct PaymentEnvelopeRow {
    pub id: EnvelopeId,
    pub county_code: String,
    pub bank: String,
    pub instruction_count: i32,
    pub total: i64,
    pub created_at: NaiveDateTime,
    pub first_pulled_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_attempts)]
pub struct AttemptRow {
    pub payment_id: PaymentId,
    pub seq: i32,
    pub envelope_id: EnvelopeId,
    pub card_no: CardNo,
    /// `paid` or `failed`.
    pub outcome: String,
    pub failure_code: Option<String>,
    pub bank_reference: String,
    pub answered_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_recoveries)]
pub struct RecoveryRow {
    pub payment_id: PaymentId,
    pub setl_id: SetlId,
    pub county_code: String,
    pub year: i32,
    pub amount: i64,
    pub state: String,
    pub reference: Option<String>,
    pub created_at: NaiveDateTime,
    pub settled_by: Option<ClientId>,
    pub settled_at: Option<NaiveDateTime>,
}

/// The counties assigned to one of `banks`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn counties_of(conn: &mut DbConnection, banks: &[String]) -> QueryResult<Vec<String>> {
    bank_assignments::table
        .filter(bank_assignments::bank.eq_any(banks.to_vec()))
        .order(bank_assignments::county_code.asc())
        .select(bank_assignments::county_code)
        .load(conn)
}

/// A county's pending instructions in no envelope, in id order.
#[tracing::instrument(level = "debug", skip_all)]
pub fn loose(conn: &mut DbConnection, county: &str) -> QueryResult<Vec<PaymentRow>> {
    payment_instructions::table
        .filter(payment_instructions::county_code.eq(county))
        .filter(payment_instructions::state.eq(PaymentState::Pending))
        .filter(payment_instructions::envelope_id.is_null())
        .order(payment_instructions::id.asc())
        .select(PaymentRow::as_select())
        .load(conn)
}

/// Seals `ids` (loose pending instructions) into a new envelope, leaving out any that
/// stopped being loose meanwhile; the envelope's header counts what went in. An
/// envelope that would be empty is not made. Returns the envelope if made.
#[tracing::instrument(level = "debug", skip_all)]
pub fn seal(
    conn: &mut DbConnection,
    envelope: &PaymentEnvelopeRow,
    ids: &[PaymentId],
) -> QueryResult<Option<PaymentEnvelopeRow>> {
    diesel::insert_into(payment_envelopes::table).values(envelope).execute(conn)?;
    for chunk in ids.chunks(5000) {
        diesel::update(
            payment_instructions::table
                .filter(payment_instructions::id.eq_any(chunk))
                .filter(payment_instructions::state.eq(PaymentState::Pending))
                .filter(payment_instructions::envelope_id.is_null()),
        )
        .set(payment_instructions::envelope_id.eq(Some(&envelope.id)))
        .execute(conn)?;
    }
    let amounts: Vec<i64> = payment_instructions::table
        .filter(payment_instructions::envelope_id.eq(&envelope.id))
        .select(payment_instructions::amount)
        .load(conn)?;
    let count = amounts.len();
    let total: i64 = amounts.iter().sum();
    if count == 0 {
        diesel::delete(payment_envelopes::table.find(&envelope.id)).execute(conn)?;
        return Ok(None);
    }
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    diesel::update(payment_envelopes::table.find(&envelope.id))
        .set((payment_envelopes::instruction_count.eq(count), payment_envelopes::total.eq(total)))
        .execute(conn)?;
    Ok(Some(PaymentEnvelopeRow { instruction_count: count, total, ..envelope.clone() }))
}

/// The envelopes of `banks` (all without), in id order; with `unpulled`, only those
/// never pulled.
#[tracing::instrument(level = "debug", skip_all)]
pub fn envelopes(
    conn: &mut DbConnection,
    banks: Option<&[String]>,
    unpulled: bool,
    page: &PageRequest,
) -> QueryResult<Vec<PaymentEnvelopeRow>> {
    let mut query = payment_envelopes::table.select(PaymentEnvelopeRow::as_select()).into_boxed();
    if let Some(banks) = banks {
        query = query.filter(payment_envelopes::bank.eq_any(banks.to_vec()));
    }
    if unpulled {
        query = query.filter(payment_envelopes::first_pulled_at.is_null());
    }
    crate::db::keyset(query, payment_envelopes::id, page).load(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn envelope(conn: &mut DbConnection, id: &EnvelopeId) -> QueryResult<Option<PaymentEnvelopeRow>> {
    payment_envelopes::table.find(id).select(PaymentEnvelopeRow::as_select()).first(conn).optional()
}

/// Envelopes by id.
#[tracing::instrument(level = "debug", skip_all)]
pub fn envelopes_by_id(conn: &mut DbConnection, ids: &[EnvelopeId]) -> QueryResult<Vec<PaymentEnvelopeRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        out.extend(
            payment_envelopes::table
                .filter(payment_envelopes::id.eq_any(chunk))
                .select(PaymentEnvelopeRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// Marks the envelope pulled, once; from then on it never changes.
#[tracing::instrument(level = "debug", skip_all)]
pub fn mark_pulled(conn: &mut DbConnection, id: &EnvelopeId, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(payment_envelopes::table.find(id).filter(payment_envelopes::first_pulled_at.is_null()))
        .set(payment_envelopes::first_pulled_at.eq(Some(at)))
        .execute(conn)
}

/// One line of an envelope as the bank got it.
#[derive(Debug, Clone)]
pub struct EnvelopeLine {
    pub id: PaymentId,
    pub setl_id: SetlId,
    pub card_no: CardNo,
    pub amount: i64,
}

/// The instructions in an envelope as it was sealed and pulled: those still in it,
/// and those answered in it that moved on since (retried, or re-issued), with the card
/// they were sent to; in id order. Withdrawn ones left it before the pull.
#[tracing::instrument(level = "debug", skip_all)]
pub fn envelope_lines(conn: &mut DbConnection, id: &EnvelopeId) -> QueryResult<Vec<EnvelopeLine>> {
    let rows: Vec<PaymentRow> = payment_instructions::table
        .filter(payment_instructions::envelope_id.eq(id))
        .filter(payment_instructions::state.ne(PaymentState::Withdrawn))
        .select(PaymentRow::as_select())
        .load(conn)?;
    let mut lines: Vec<EnvelopeLine> = rows
        .into_iter()
        .map(|p| EnvelopeLine { id: p.id, setl_id: p.setl_id, card_no: p.card_no, amount: p.amount })
        .collect();
    let answered: Vec<(PaymentId, CardNo)> = payment_attempts::table
        .filter(payment_attempts::envelope_id.eq(id))
        .select((payment_attempts::payment_id, payment_attempts::card_no))
        .load(conn)?;
    let moved: Vec<(PaymentId, CardNo)> =
        answered.into_iter().filter(|(p, _)| lines.iter().all(|l| &l.id != p)).collect();
    if !moved.is_empty() {
        let ids: Vec<PaymentId> = moved.iter().map(|(p, _)| p.clone()).collect();
        for p in instructions(conn, &ids)? {
            if let Some((_, card)) = moved.iter().find(|(m, _)| *m == p.id) {
                lines.push(EnvelopeLine { id: p.id, setl_id: p.setl_id, card_no: card.clone(), amount: p.amount });
            }
        }
    }
    lines.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    Ok(lines)
}

/// Instructions by id.
#[tracing::instrument(level = "debug", skip_all)]
pub fn instructions(conn: &mut DbConnection, ids: &[PaymentId]) -> QueryResult<Vec<PaymentRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        out.extend(
            payment_instructions::table
                .filter(payment_instructions::id.eq_any(chunk))
                .select(PaymentRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The instruction, locked until the transaction ends.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_instruction(conn: &mut DbConnection, id: &PaymentId) -> QueryResult<Option<PaymentRow>> {
    Ok(crate::db::lock(
        conn,
        payment_instructions::table.filter(payment_instructions::id.eq(id)).select(payment_instructions::all_columns),
    )?
    .pop())
}

/// The answers recorded for `ids`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn attempts(conn: &mut DbConnection, ids: &[PaymentId]) -> QueryResult<Vec<AttemptRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(5000) {
        out.extend(
            payment_attempts::table
                .filter(payment_attempts::payment_id.eq_any(chunk))
                .order((payment_attempts::payment_id.asc(), payment_attempts::seq.asc()))
                .select(AttemptRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_attempt(conn: &mut DbConnection, row: &AttemptRow) -> QueryResult<usize> {
    diesel::insert_into(payment_attempts::table).values(row).execute(conn)
}

/// The states of the claims by setl id.
#[tracing::instrument(level = "debug", skip_all)]
pub fn claim_states(conn: &mut DbConnection, ids: &[SetlId]) -> QueryResult<Vec<(SetlId, ClaimState)>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        out.extend(
            claims::table.filter(claims::setl_id.eq_any(chunk)).select((claims::setl_id, claims::state)).load(conn)?,
        );
    }
    Ok(out)
}

/// What an answer or an action changes in an instruction.
#[derive(Debug, Clone)]
pub struct PaymentChange<'a> {
    pub state: PaymentState,
    pub envelope_id: Option<&'a EnvelopeId>,
    pub card_no: &'a CardNo,
    pub attempts: i32,
    pub failure_code: Option<&'a str>,
    pub bank_reference: Option<&'a str>,
    pub answered_at: Option<NaiveDateTime>,
}

/// Changes `before` as `change` says, if it is still as it was read (state, envelope
/// and attempts); 0 when it changed meanwhile.
#[tracing::instrument(level = "debug", skip_all)]
pub fn update(conn: &mut DbConnection, before: &PaymentRow, change: &PaymentChange<'_>) -> QueryResult<usize> {
    let target = payment_instructions::table
        .find(&before.id)
        .filter(payment_instructions::state.eq(before.state))
        .filter(payment_instructions::attempts.eq(before.attempts));
    let set = (
        payment_instructions::state.eq(change.state),
        payment_instructions::envelope_id.eq(change.envelope_id),
        payment_instructions::card_no.eq(change.card_no),
        payment_instructions::attempts.eq(change.attempts),
        payment_instructions::failure_code.eq(change.failure_code),
        payment_instructions::bank_reference.eq(change.bank_reference),
        payment_instructions::answered_at.eq(change.answered_at),
    );
    match &before.envelope_id {
        Some(e) => diesel::update(target.filter(payment_instructions::envelope_id.eq(e))).set(set).execute(conn),
        None => diesel::update(target.filter(payment_instructions::envelope_id.is_null())).set(set).execute(conn),
    }
}

/// Takes one instruction out of its envelope's header if the envelope was never
/// pulled; whether it was. Comes before the instruction's own update: it waits for a
/// pull in progress, and after a pull it matches nothing.
#[tracing::instrument(level = "debug", skip_all)]
pub fn take_out_of_unpulled(conn: &mut DbConnection, envelope: &EnvelopeId, amount: i64) -> QueryResult<bool> {
    let n =
        diesel::update(payment_envelopes::table.find(envelope).filter(payment_envelopes::first_pulled_at.is_null()))
            .set((
                payment_envelopes::instruction_count.eq(payment_envelopes::instruction_count - 1),
                payment_envelopes::total.eq(payment_envelopes::total - amount),
            ))
            .execute(conn)?;
    Ok(n == 1)
}

/// A page of a county's (or every county's) instructions that need a person, with
/// their holders.
#[tracing::instrument(level = "debug", skip_all)]
pub fn needing_action(
    conn: &mut DbConnection,
    counties: Option<&[String]>,
    page: &PageRequest,
) -> QueryResult<Vec<(PaymentRow, SetlId, PersonRow)>> {
    let mut query = payment_instructions::table
        .inner_join(persons::table.on(persons::person_no.eq(payment_instructions::person_no)))
        .filter(payment_instructions::state.eq(PaymentState::NeedsAction))
        .select((PaymentRow::as_select(), payment_instructions::setl_id, PersonRow::as_select()))
        .into_boxed();
    if let Some(counties) = counties {
        query = query.filter(payment_instructions::county_code.eq_any(counties.to_vec()));
    }
    if let Some(after) = &page.after {
        query = query.filter(payment_instructions::id.gt(after.clone()));
    }
    query.order(payment_instructions::id.asc()).limit(page.limit.saturating_add(1)).load(conn)
}

/// The holder's current card.
#[tracing::instrument(level = "debug", skip_all)]
pub fn current_card(conn: &mut DbConnection, person: &crate::domain::PersonNo) -> QueryResult<Option<CardNo>> {
    persons::table.find(person).select(persons::card_no).first(conn).optional()
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_recovery(conn: &mut DbConnection, row: &RecoveryRow) -> QueryResult<usize> {
    diesel::insert_into(payment_recoveries::table).values(row).execute(conn)
}

/// The recovery of a payment, locked until the transaction ends.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_recovery(conn: &mut DbConnection, payment: &PaymentId) -> QueryResult<Option<RecoveryRow>> {
    Ok(crate::db::lock(
        conn,
        payment_recoveries::table
            .filter(payment_recoveries::payment_id.eq(payment))
            .select(payment_recoveries::all_columns),
    )?
    .pop())
}

/// Settles an owed recovery; 0 when it was not owed.
#[tracing::instrument(level = "debug", skip_all)]
pub fn settle_recovery(
    conn: &mut DbConnection,
    payment: &PaymentId,
    state: &str,
    reference: &str,
    by: &ClientId,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(payment_recoveries::table.find(payment).filter(payment_recoveries::state.eq(OWED)))
        .set((
            payment_recoveries::state.eq(state),
            payment_recoveries::reference.eq(Some(reference)),
            payment_recoveries::settled_by.eq(Some(by)),
            payment_recoveries::settled_at.eq(Some(at)),
        ))
        .execute(conn)
}
