//! Collection's tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::http::pagination::PageRequest;

diesel::table! {
    batches (id) {
        id -> Text,
        county_code -> Text,
        title -> Text,
        state -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        submitted_at -> Nullable<Timestamp>,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = batches)]
pub struct BatchRow {
    pub id: String,
    pub county_code: String,
    pub title: String,
    pub state: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub submitted_at: Option<NaiveDateTime>,
}

pub fn insert_batch(conn: &mut DbConnection, row: &BatchRow) -> QueryResult<()> {
    diesel::insert_into(batches::table).values(row).execute(conn).map(|_| ())
}

pub fn find_batch(conn: &mut DbConnection, id: &str) -> QueryResult<Option<BatchRow>> {
    batches::table.find(id).select(BatchRow::as_select()).first(conn).optional()
}

/// Batches of `counties` (all counties when `None`), newest last, after the cursor.
pub fn list_batches(
    conn: &mut DbConnection,
    counties: Option<&[String]>,
    page: &PageRequest,
) -> QueryResult<Vec<BatchRow>> {
    let mut query = batches::table.select(BatchRow::as_select()).order(batches::id.asc()).into_boxed();
    if let Some(counties) = counties {
        query = query.filter(batches::county_code.eq_any(counties.to_vec()));
    }
    if let Some(after) = &page.after {
        query = query.filter(batches::id.gt(after.clone()));
    }
    query.limit(page.limit + 1).load(conn)
}
