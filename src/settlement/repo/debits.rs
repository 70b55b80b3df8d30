//! Debit runs, their envelopes and instructions.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::holders::persons;
use crate::db::bulk::ROWS_PER_UPDATE;
use crate::db::{DbConnection, PageRequest, insert_many, placeholder, values_list};
use crate::domain::debit::InstructionState;
use crate::domain::{CardNo, ClientId, DebitRunId, EnvelopeId, InstructionId, PersonNo};

diesel::table! {
    debit_runs (id) {
        id -> Text,
        county_code -> Text,
        year -> Integer,
        premium -> BigInt,
        policy_version -> Integer,
        instruction_count -> Integer,
        total -> BigInt,
        envelope_count -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    debit_envelopes (id) {
        id -> Text,
        run_id -> Text,
        county_code -> Text,
        year -> Integer,
        bank -> Text,
        instruction_count -> Integer,
        total -> BigInt,
        created_at -> Timestamp,
        first_pulled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    debit_instructions (id) {
        id -> Text,
        run_id -> Text,
        envelope_id -> Text,
        county_code -> Text,
        year -> Integer,
        person_no -> Text,
        card_no -> Text,
        amount -> BigInt,
        state -> Text,
        failure_code -> Nullable<Text>,
        bank_reference -> Nullable<Text>,
        answered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(debit_instructions -> persons (person_no));
diesel::allow_tables_to_appear_in_same_query!(debit_instructions, persons);
diesel::allow_tables_to_appear_in_same_query!(debit_instructions, debit_envelopes);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = debit_runs)]
pub struct RunRow {
    pub id: DebitRunId,
    pub county_code: String,
    pub year: i32,
    pub premium: i64,
    pub policy_version: i32,
    pub instruction_count: i32,
    pub total: i64,
    pub envelope_count: i32,
    pub created_by: ClientId,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = debit_envelopes)]
pub struct EnvelopeRow {
    pub id: EnvelopeId,
    pub run_id: DebitRunId,
    pub county_code: String,
    pub year: i32,
    pub bank: String,
    pub instruction_count: i32,
    pub total: i64,
    pub created_at: NaiveDateTime,
    pub first_pulled_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = debit_instructions)]
pub struct InstructionRow {
    pub id: InstructionId,
    pub run_id: DebitRunId,
    pub envelope_id: EnvelopeId,
    pub county_code: String,
    pub year: i32,
    pub person_no: PersonNo,
    pub card_no: CardNo,
    pub amount: i64,
    pub state: InstructionState,
    pub failure_code: Option<String>,
    pub bank_reference: Option<String>,
    pub answered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_run(
    conn: &mut DbConnection,
    run: &RunRow,
    envelopes: &[EnvelopeRow],
    instructions: &[InstructionRow],
) -> QueryResult<()> {
    diesel::insert_into(debit_runs::table).values(run).execute(conn)?;
    insert_many(conn, envelopes, |chunk| diesel::insert_into(debit_envelopes::table).values(chunk))?;
    insert_many(conn, instructions, |chunk| diesel::insert_into(debit_instructions::table).values(chunk))?;
    Ok(())
}

/// Persons of a county and year with an instruction the bank has not answered.
#[tracing::instrument(level = "debug", skip_all)]
pub fn pending_persons(conn: &mut DbConnection, county: &str, year: i32) -> QueryResult<Vec<PersonNo>> {
    debit_instructions::table
        .filter(debit_instructions::county_code.eq(county))
        .filter(debit_instructions::year.eq(year))
        .filter(debit_instructions::state.eq(InstructionState::Pending))
        .select(debit_instructions::person_no)
        .load(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn run(conn: &mut DbConnection, id: &DebitRunId) -> QueryResult<Option<RunRow>> {
    debit_runs::table.find(id).select(RunRow::as_select()).first(conn).optional()
}

/// How many of a run's instructions are in each state.
#[tracing::instrument(level = "debug", skip_all)]
pub fn run_states(conn: &mut DbConnection, id: &DebitRunId) -> QueryResult<Vec<(InstructionState, i64)>> {
    debit_instructions::table
        .filter(debit_instructions::run_id.eq(id))
        .group_by(debit_instructions::state)
        .select((debit_instructions::state, diesel::dsl::count_star()))
        .load(conn)
}

/// The envelopes of `banks`, in the order they were made; with `unpulled`, only those
/// never pulled.
#[tracing::instrument(level = "debug", skip_all)]
pub fn envelopes(
    conn: &mut DbConnection,
    banks: Option<&[String]>,
    unpulled: bool,
    page: &PageRequest,
) -> QueryResult<Vec<EnvelopeRow>> {
    let mut query = debit_envelopes::table.select(EnvelopeRow::as_select()).into_boxed();
    if let Some(banks) = banks {
        query = query.filter(debit_envelopes::bank.eq_any(banks.to_vec()));
    }
    if unpulled {
        query = query.filter(debit_envelopes::first_pulled_at.is_null());
    }
    crate::db::keyset(query, debit_envelopes::id, page).load(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn envelope(conn: &mut DbConnection, id: &EnvelopeId) -> QueryResult<Option<EnvelopeRow>> {
    debit_envelopes::table.find(id).select(EnvelopeRow::as_select()).first(conn).optional()
}

/// Marks the envelope pulled, once; from then on it never changes.
#[tracing::instrument(level = "debug", skip_all)]
pub fn mark_pulled(conn: &mut DbConnection, id: &EnvelopeId, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(debit_envelopes::table.find(id).filter(debit_envelopes::first_pulled_at.is_null()))
        .set(debit_envelopes::first_pulled_at.eq(Some(at)))
        .execute(conn)
}

/// The instructions of an envelope that were not withdrawn, in id order.
#[tracing::instrument(level = "debug", skip_all)]
pub fn envelope_instructions(conn: &mut DbConnection, id: &EnvelopeId) -> QueryResult<Vec<InstructionRow>> {
    debit_instructions::table
        .filter(debit_instructions::envelope_id.eq(id))
        .filter(debit_instructions::state.ne(InstructionState::Withdrawn))
        .order(debit_instructions::id.asc())
        .select(InstructionRow::as_select())
        .load(conn)
}

/// Pending instructions of a card.
#[tracing::instrument(level = "debug", skip_all)]
pub fn pending_of_card(conn: &mut DbConnection, card_no: &CardNo) -> QueryResult<Vec<InstructionRow>> {
    debit_instructions::table
        .filter(debit_instructions::card_no.eq(card_no))
        .filter(debit_instructions::state.eq(InstructionState::Pending))
        .select(InstructionRow::as_select())
        .load(conn)
}

/// Takes `instruction` out of its envelope if the envelope was never pulled; whether it
/// was. The envelope's update comes first: it waits for a pull in progress, and after
/// a pull it matches nothing.
#[tracing::instrument(level = "debug", skip_all)]
pub fn withdraw(conn: &mut DbConnection, instruction: &InstructionRow, at: NaiveDateTime) -> QueryResult<bool> {
    let envelope = diesel::update(
        debit_envelopes::table.find(&instruction.envelope_id).filter(debit_envelopes::first_pulled_at.is_null()),
    )
    .set((
        debit_envelopes::instruction_count.eq(debit_envelopes::instruction_count - 1),
        debit_envelopes::total.eq(debit_envelopes::total - instruction.amount),
    ))
    .execute(conn)?;
    if envelope == 0 {
        return Ok(false);
    }
    let moved = diesel::update(
        debit_instructions::table.find(&instruction.id).filter(debit_instructions::state.eq(InstructionState::Pending)),
    )
    .set((debit_instructions::state.eq(InstructionState::Withdrawn), debit_instructions::answered_at.eq(Some(at))))
    .execute(conn)?;
    Ok(moved == 1)
}

/// Instructions with the bank of their envelope.
#[tracing::instrument(level = "debug", skip_all)]
pub fn instructions_with_bank(
    conn: &mut DbConnection,
    ids: &[InstructionId],
) -> QueryResult<Vec<(InstructionRow, String)>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        out.extend(
            debit_instructions::table
                .inner_join(debit_envelopes::table.on(debit_envelopes::id.eq(debit_instructions::envelope_id)))
                .filter(debit_instructions::id.eq_any(chunk))
                .select((InstructionRow::as_select(), debit_envelopes::bank))
                .load(conn)?,
        );
    }
    Ok(out)
}

/// One bank answer to record with [`answer_many`].
pub struct AnswerRow<'a> {
    pub id: &'a InstructionId,
    pub state: InstructionState,
    pub failure_code: Option<&'a str>,
    pub bank_reference: &'a str,
}

/// Records `answers` on the instructions still pending, set-based: one `UPDATE ...
/// FROM (VALUES ...)` per [`ROWS_PER_UPDATE`] answers. Returns how many instructions
/// changed; one no longer pending is not counted.
#[tracing::instrument(level = "debug", skip_all)]
pub fn answer_many(conn: &mut DbConnection, answers: &[AnswerRow<'_>], at: NaiveDateTime) -> QueryResult<usize> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    let mut changed = 0;
    for chunk in answers.chunks(ROWS_PER_UPDATE) {
        let sql = format!(
            "UPDATE debit_instructions SET state = v.column2, failure_code = v.column3, \
             bank_reference = v.column4, answered_at = {at} FROM (VALUES {values}) AS v \
             WHERE debit_instructions.id = v.column1 AND debit_instructions.state = 'pending'",
            at = placeholder(conn, 1),
            values = values_list(conn, chunk.len(), 4, 2),
        );
        macro_rules! run {
            ($conn:expr, $backend:ty) => {{
                let mut query = diesel::sql_query(sql).into_boxed::<$backend>().bind::<Timestamp, _>(at);
                for a in chunk {
                    query = query
                        .bind::<Text, _>(a.id.as_str())
                        .bind::<Text, _>(a.state.as_str())
                        .bind::<Nullable<Text>, _>(a.failure_code)
                        .bind::<Text, _>(a.bank_reference);
                }
                query.execute($conn)?
            }};
        }
        changed += match conn {
            DbConnection::Pg(pg) => run!(pg, diesel::pg::Pg),
            DbConnection::Sqlite(lite) => run!(lite, diesel::sqlite::Sqlite),
        };
    }
    Ok(changed)
}

/// A page of a run's failed instructions with their holders.
#[tracing::instrument(level = "debug", skip_all)]
pub fn failures(
    conn: &mut DbConnection,
    run: &DebitRunId,
    page: &PageRequest,
) -> QueryResult<Vec<(InstructionRow, super::holders::PersonRow)>> {
    let mut query = debit_instructions::table
        .inner_join(persons::table)
        .filter(debit_instructions::run_id.eq(run))
        .filter(debit_instructions::state.eq(InstructionState::Failed))
        .select((InstructionRow::as_select(), super::holders::PersonRow::as_select()))
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(debit_instructions::id.gt(after.clone()));
    }
    query.order(debit_instructions::id.asc()).limit(page.limit.saturating_add(1)).load(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn envelopes_of_run(conn: &mut DbConnection, run: &DebitRunId) -> QueryResult<Vec<EnvelopeRow>> {
    debit_envelopes::table
        .filter(debit_envelopes::run_id.eq(run))
        .order(debit_envelopes::id.asc())
        .select(EnvelopeRow::as_select())
        .load(conn)
}
