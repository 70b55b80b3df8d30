//! Which bank collects premiums and pays reimbursements for which county.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, PageRequest, keyset};
use crate::domain::ClientId;

diesel::table! {
    bank_assignments (county_code) {
        county_code -> Text,
        bank -> Text,
        assigned_by -> Text,
        assigned_at -> Timestamp,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = bank_assignments)]
pub struct BankAssignmentRow {
    pub county_code: String,
    pub bank: String,
    pub assigned_by: ClientId,
    pub assigned_at: NaiveDateTime,
}

/// Sets the county's bank, replacing any earlier one.
#[tracing::instrument(level = "debug", skip_all)]
pub fn assign(conn: &mut DbConnection, row: &BankAssignmentRow) -> QueryResult<()> {
    let updated = diesel::update(bank_assignments::table.find(&row.county_code)).set(row).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(bank_assignments::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// The county's bank, locked until the transaction ends: debit runs of one county
/// take it first, so two runs never pick the same people.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_bank_of(conn: &mut DbConnection, county: &str) -> QueryResult<Option<BankAssignmentRow>> {
    Ok(crate::db::lock(
        conn,
        bank_assignments::table.filter(bank_assignments::county_code.eq(county)).select(bank_assignments::all_columns),
    )?
    .pop())
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn assignments(conn: &mut DbConnection, page: &PageRequest) -> QueryResult<Vec<BankAssignmentRow>> {
    keyset(
        bank_assignments::table.select(BankAssignmentRow::as_select()).into_boxed(),
        bank_assignments::county_code,
        page,
    )
    .load(conn)
}
