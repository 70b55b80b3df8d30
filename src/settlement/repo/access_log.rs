//! The eligibility access log: append-only, one row per lookup.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::{DbConnection, PageRequest, insert_many, keyset};
use crate::domain::{CardNo, ClientId};

diesel::table! {
    eligibility_log (id) {
        id -> Text,
        at -> Timestamp,
        client_id -> Text,
        role -> Text,
        card_no -> Text,
        purpose -> Text,
        on_date -> Date,
        eligible -> Bool,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = eligibility_log)]
pub struct LookupRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub client_id: ClientId,
    pub role: String,
    pub card_no: CardNo,
    pub purpose: String,
    pub on_date: NaiveDate,
    pub eligible: bool,
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert(conn: &mut DbConnection, rows: &[LookupRow]) -> QueryResult<usize> {
    insert_many(conn, rows, |chunk| diesel::insert_into(eligibility_log::table).values(chunk))
}

/// A page of lookups in the order they were made, optionally of one card.
#[tracing::instrument(level = "debug", skip_all)]
pub fn page(conn: &mut DbConnection, card_no: Option<&CardNo>, page: &PageRequest) -> QueryResult<Vec<LookupRow>> {
    let mut query = eligibility_log::table.select(LookupRow::as_select()).into_boxed();
    if let Some(card_no) = card_no {
        query = query.filter(eligibility_log::card_no.eq(card_no.clone()));
    }
    keyset(query, eligibility_log::id, page).load(conn)
}
