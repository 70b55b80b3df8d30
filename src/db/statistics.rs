//! Planner statistics during bulk loads. A PostgreSQL table filled from empty within a
//! minute is still "empty" to the planner until autovacuum gets round to it, and every
//! statement on it is planned as if it were (whole-table scans with hashed filters).

use diesel::prelude::*;

use super::DbConnection;

#[derive(QueryableByName)]
struct Growth {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    analysed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    live: i64,
}

/// Refreshes the statistics of `table` (on `columns`, or all) once it has about
/// doubled since they were taken, until they cover `enough` rows: past that the planner
/// scales its estimates by the table's size and autovacuum keeps them fresh. About
/// log2(`enough`) refreshes in all, however many chunks the load comes in. SQLite's
/// planner needs none. True if it refreshed them.
pub fn analyze_if_grown(conn: &mut DbConnection, table: &str, columns: Option<&str>, enough: i64) -> QueryResult<bool> {
    let DbConnection::Pg(pg) = conn else {
        return Ok(false);
    };
    // `table` is one of ours, never input: it cannot be a bound parameter of ANALYZE.
    let growth: Option<Growth> = diesel::sql_query(format!(
        "SELECT c.reltuples::bigint AS analysed, s.n_live_tup AS live FROM pg_class c \
         JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = '{table}'::regclass"
    ))
    .get_result(pg)
    .optional()?;
    let grown = growth.is_some_and(|g| g.live >= 1000 && g.live > 2 * g.analysed.max(0) && g.analysed < enough);
    if grown {
        let columns = columns.map(|c| format!(" ({c})")).unwrap_or_default();
        diesel::sql_query(format!("ANALYZE {table}{columns}")).execute(pg)?;
    }
    Ok(grown)
}
