//! What a fund summary reads, summed by the database: a fund year's ledger entries
//! per month, kind of movement and account, and its approved settlements per
//! admission month, `med_type` and level. Of one county or of every county.
//!
//! Months are China Standard Time months of the transaction's time (of the
//! admission, for claims); the expression that finds them differs between the
//! backends, so each statement has a text per backend.

use std::sync::LazyLock;

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use super::claims::SETTLEMENT;
use crate::db::DbConnection;
use crate::domain::claim_state::ClaimState;

/// The sum of one account's entries of one kind in one month (`yyyy-MM`).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct EntrySumRow {
    #[diesel(sql_type = Text)]
    pub month: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub account: String,
    #[diesel(sql_type = BigInt)]
    pub amount: i64,
}

/// The approved settlements of one admission month, `med_type` and level.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ClaimGroupRow {
    #[diesel(sql_type = Text)]
    pub month: String,
    #[diesel(sql_type = Text)]
    pub med_type: String,
    #[diesel(sql_type = Text)]
    pub level: String,
    #[diesel(sql_type = BigInt)]
    pub claims: i64,
    #[diesel(sql_type = BigInt)]
    pub medfee_sumamt: i64,
    #[diesel(sql_type = BigInt)]
    pub hifp_pay: i64,
}

/// The month in China of a timestamp column, per backend.
fn month_of(column: &str, postgres: bool) -> String {
    if postgres {
        format!("to_char({column} + INTERVAL '8 hours', 'YYYY-MM')")
    } else {
        format!("strftime('%Y-%m', {column}, '+8 hours')")
    }
}

/// `$1`/`$2` or `?`: the placeholders of the backend, in order.
fn placeholders(postgres: bool) -> [&'static str; 2] {
    if postgres { ["$1", "$2"] } else { ["?", "?"] }
}

fn entry_sums(postgres: bool, one_county: bool) -> String {
    let [first, second] = placeholders(postgres);
    let filter =
        if one_county { format!("e.year = {first} AND e.county_code = {second}") } else { format!("e.year = {first}") };
    // SUM over BIGINT is NUMERIC on PostgreSQL: cast it back, on both backends alike.
    format!(
        "SELECT {month} AS month, t.kind AS kind, e.account AS account, CAST(SUM(e.amount) AS BIGINT) AS amount \
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
         WHERE {filter} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        month = month_of("t.created_at", postgres),
    )
}

fn claim_groups(postgres: bool, one_county: bool) -> String {
    let [first, second] = placeholders(postgres);
    let filter =
        if one_county { format!("year = {first} AND county_code = {second}") } else { format!("year = {first}") };
    format!(
        "SELECT {month} AS month, med_type, level, COUNT(*) AS claims, \
         CAST(SUM(medfee_sumamt) AS BIGINT) AS medfee_sumamt, CAST(SUM(hifp_pay) AS BIGINT) AS hifp_pay \
         FROM claims WHERE {filter} AND kind = '{SETTLEMENT}' AND state = '{approved}' \
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        month = month_of("admitted_at", postgres),
        approved = ClaimState::Approved.as_str(),
    )
}

/// The statements, built once: `[pg one county, pg all, sqlite one county, sqlite all]`.
static ENTRY_SUMS: LazyLock<[String; 4]> = LazyLock::new(|| {
    [entry_sums(true, true), entry_sums(true, false), entry_sums(false, true), entry_sums(false, false)]
});
static CLAIM_GROUPS: LazyLock<[String; 4]> = LazyLock::new(|| {
    [claim_groups(true, true), claim_groups(true, false), claim_groups(false, true), claim_groups(false, false)]
});

fn load<T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static>(
    conn: &mut DbConnection,
    statements: &[String; 4],
    year: i32,
    county: Option<&str>,
) -> QueryResult<Vec<T>> {
    let [pg_one, pg_all, lite_one, lite_all] = statements;
    match (conn, county) {
        (DbConnection::Pg(pg), Some(c)) => {
            diesel::sql_query(pg_one.as_str()).bind::<Integer, _>(year).bind::<Text, _>(c).load(pg)
        }
        (DbConnection::Pg(pg), None) => diesel::sql_query(pg_all.as_str()).bind::<Integer, _>(year).load(pg),
        (DbConnection::Sqlite(lite), Some(c)) => {
            diesel::sql_query(lite_one.as_str()).bind::<Integer, _>(year).bind::<Text, _>(c).load(lite)
        }
        (DbConnection::Sqlite(lite), None) => diesel::sql_query(lite_all.as_str()).bind::<Integer, _>(year).load(lite),
    }
}

/// The fund year's entries summed per month, kind and account, of `county` (of every
/// county when `None`).
#[tracing::instrument(level = "debug", skip_all)]
pub fn entry_sums_by_month(conn: &mut DbConnection, year: i32, county: Option<&str>) -> QueryResult<Vec<EntrySumRow>> {
    load(conn, &ENTRY_SUMS, year, county)
}

/// The fund year's approved settlements counted and summed per admission month,
/// `med_type` and level, of `county` (of every county when `None`).
#[tracing::instrument(level = "debug", skip_all)]
pub fn approved_claims_by_month(
    conn: &mut DbConnection,
    year: i32,
    county: Option<&str>,
) -> QueryResult<Vec<ClaimGroupRow>> {
    load(conn, &CLAIM_GROUPS, year, county)
}
