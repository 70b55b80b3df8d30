//! Persons and their cards, as the card status messages from card making build them.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::domain::{CardNo, CardState, PersonNo};

diesel::table! {
    persons (person_no) {
        person_no -> Text,
        id_hash -> Text,
        county_code -> Text,
        village -> Text,
        name_masked -> Text,
        name_enc -> Text,
        sex -> Text,
        birth_date -> Date,
        card_no -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    cards (card_no) {
        card_no -> Text,
        person_no -> Text,
        county_code -> Text,
        state -> Text,
        seq -> BigInt,
        replaces_card -> Nullable<Text>,
        first_activated_at -> Nullable<Timestamp>,
        lost_at -> Nullable<Timestamp>,
        state_changed_at -> Timestamp,
    }
}

diesel::table! {
    card_events (card_no, seq) {
        card_no -> Text,
        seq -> BigInt,
        state -> Text,
        reason -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::joinable!(cards -> persons (person_no));
diesel::allow_tables_to_appear_in_same_query!(persons, cards);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = persons)]
pub struct PersonRow {
    pub person_no: PersonNo,
    pub id_hash: String,
    pub county_code: String,
    pub village: String,
    pub name_masked: String,
    pub name_enc: String,
    pub sex: String,
    pub birth_date: NaiveDate,
    pub card_no: CardNo,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cards)]
pub struct CardRow {
    pub card_no: CardNo,
    pub person_no: PersonNo,
    pub county_code: String,
    pub state: CardState,
    pub seq: i64,
    pub replaces_card: Option<CardNo>,
    pub first_activated_at: Option<NaiveDateTime>,
    pub lost_at: Option<NaiveDateTime>,
    pub state_changed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = card_events)]
pub struct CardEventRow {
    pub card_no: CardNo,
    pub seq: i64,
    pub state: CardState,
    pub reason: Option<String>,
    pub at: NaiveDateTime,
}

/// The person of `id_hash`, locked until the transaction ends (a second card of the
/// same person waits here rather than making a second person).
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_person(conn: &mut DbConnection, id_hash: &str) -> QueryResult<Option<PersonRow>> {
    Ok(crate::db::lock(conn, persons::table.filter(persons::id_hash.eq(id_hash)).select(persons::all_columns))?.pop())
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_person(conn: &mut DbConnection, row: &PersonRow) -> QueryResult<usize> {
    diesel::insert_into(persons::table).values(row).execute(conn)
}

/// What the newest card message says of its holder.
#[tracing::instrument(level = "debug", skip_all)]
pub fn update_holder(conn: &mut DbConnection, row: &PersonRow) -> QueryResult<usize> {
    diesel::update(persons::table.find(&row.person_no))
        .set((
            persons::county_code.eq(&row.county_code),
            persons::village.eq(&row.village),
            persons::name_masked.eq(&row.name_masked),
            persons::name_enc.eq(&row.name_enc),
            persons::sex.eq(&row.sex),
            persons::birth_date.eq(row.birth_date),
            persons::card_no.eq(&row.card_no),
            persons::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
}

/// The card, locked until the transaction ends: its messages apply one at a time.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_card(conn: &mut DbConnection, card_no: &CardNo) -> QueryResult<Option<CardRow>> {
    Ok(crate::db::lock(conn, cards::table.filter(cards::card_no.eq(card_no)).select(cards::all_columns))?.pop())
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_card(conn: &mut DbConnection, row: &CardRow) -> QueryResult<usize> {
    diesel::insert_into(cards::table).values(row).execute(conn)
}

/// Sets the card's state as of message `seq`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn update_card(conn: &mut DbConnection, row: &CardRow) -> QueryResult<usize> {
    diesel::update(cards::table.find(&row.card_no))
        .set((
            cards::state.eq(row.state),
            cards::seq.eq(row.seq),
            cards::first_activated_at.eq(row.first_activated_at),
            cards::lost_at.eq(row.lost_at),
            cards::state_changed_at.eq(row.state_changed_at),
        ))
        .execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_event(conn: &mut DbConnection, row: &CardEventRow) -> QueryResult<usize> {
    diesel::insert_into(card_events::table).values(row).execute(conn)
}

/// Cards with their holders, by card number.
#[tracing::instrument(level = "debug", skip_all)]
pub fn cards_with_holders(conn: &mut DbConnection, numbers: &[CardNo]) -> QueryResult<Vec<(CardRow, PersonRow)>> {
    let mut out = Vec::with_capacity(numbers.len());
    for chunk in numbers.chunks(5000) {
        out.extend(
            cards::table
                .inner_join(persons::table)
                .filter(cards::card_no.eq_any(chunk))
                .select((CardRow::as_select(), PersonRow::as_select()))
                .load(conn)?,
        );
    }
    Ok(out)
}

/// One card with its holder.
#[tracing::instrument(level = "debug", skip_all)]
pub fn card_with_holder(conn: &mut DbConnection, card_no: &CardNo) -> QueryResult<Option<(CardRow, PersonRow)>> {
    cards::table
        .inner_join(persons::table)
        .filter(cards::card_no.eq(card_no))
        .select((CardRow::as_select(), PersonRow::as_select()))
        .first(conn)
        .optional()
}

/// Persons by the keyed hash of their citizen ID.
#[tracing::instrument(level = "debug", skip_all)]
pub fn persons_by_hash(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<Vec<PersonRow>> {
    let mut out = Vec::with_capacity(hashes.len());
    for chunk in hashes.chunks(5000) {
        out.extend(persons::table.filter(persons::id_hash.eq_any(chunk)).select(PersonRow::as_select()).load(conn)?);
    }
    Ok(out)
}

/// The activated cards of `persons` (a person holds at most one live card).
#[tracing::instrument(level = "debug", skip_all)]
pub fn activated_cards(conn: &mut DbConnection, persons: &[PersonNo]) -> QueryResult<Vec<CardRow>> {
    let mut out = Vec::with_capacity(persons.len());
    for chunk in persons.chunks(5000) {
        out.extend(
            cards::table
                .filter(cards::person_no.eq_any(chunk))
                .filter(cards::state.eq(CardState::Activated))
                .select(CardRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The card's state at `at` and since when: that of its last change at or before it;
/// none when the card was not yet known to settlement (not activated) then.
#[tracing::instrument(level = "debug", skip_all)]
pub fn state_at(
    conn: &mut DbConnection,
    card_no: &CardNo,
    at: NaiveDateTime,
) -> QueryResult<Option<(CardState, NaiveDateTime)>> {
    card_events::table
        .filter(card_events::card_no.eq(card_no))
        .filter(card_events::at.le(at))
        .order(card_events::seq.desc())
        .select((card_events::state, card_events::at))
        .first(conn)
        .optional()
}
