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

/// A page of assignments in county order; with `banks`, only theirs (filtered in the
/// query, so a page is full whenever more follow).
#[tracing::instrument(level = "debug", skip_all)]
pub fn assignments(
    conn: &mut DbConnection,
    banks: Option<&[String]>,
    page: &PageRequest,
) -> QueryResult<Vec<BankAssignmentRow>> {
    let mut query = bank_assignments::table.select(BankAssignmentRow::as_select()).into_boxed();
    if let Some(banks) = banks {
        query = query.filter(bank_assignments::bank.eq_any(banks.to_vec()));
    }
    keyset(query, bank_assignments::county_code, page).load(conn)
}
