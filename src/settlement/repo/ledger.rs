//! The fund ledger's tables and the queries on them: transactions, their entries, the
//! head of each county's chain, and the subsidies that were posted.
//!
//! Transactions and entries are only ever inserted (the database refuses UPDATE and
//! DELETE on them); the head row is the one row a poster changes, under a row lock.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::bulk::ROWS_PER_UPDATE;
use crate::db::{DbConnection, insert_many, values_list};
use crate::domain::ledger::GENESIS_HASH;

diesel::table! {
    /// One movement of a county's fund; see the migration for the constraints.
    ledger_transactions (id) {
        id -> Text,
        county_code -> Text,
        seq -> Nullable<BigInt>,
        year -> Integer,
        kind -> Text,
        reference -> Text,
        created_at -> Timestamp,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    /// The entries of a transaction: debit positive, credit negative.
    ledger_entries (transaction_id, line) {
        transaction_id -> Text,
        line -> Integer,
        county_code -> Text,
        year -> Integer,
        account -> Text,
        amount -> BigInt,
    }
}

diesel::table! {
    /// The last transaction of each county's chain (seq 0 and the genesis hash before
    /// the first).
    ledger_heads (county_code) {
        county_code -> Text,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    /// Government subsidies as requested, each with the transaction it posted.
    fund_subsidies (county_code, reference) {
        county_code -> Text,
        reference -> Text,
        year -> Integer,
        source -> Text,
        amount -> BigInt,
        transaction_id -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(ledger_entries -> ledger_transactions (transaction_id));
diesel::allow_tables_to_appear_in_same_query!(ledger_transactions, ledger_entries);

/// A stored transaction; `seq`, `prev_hash` and `hash` are set together when the
/// chainer links it (none of them before).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ledger_transactions)]
pub struct TransactionRow {
    pub id: String,
    pub county_code: String,
    pub seq: Option<i64>,
    pub year: i32,
    pub kind: String,
    pub reference: String,
    pub created_at: NaiveDateTime,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ledger_entries)]
pub struct EntryRow {
    pub transaction_id: String,
    pub line: i32,
    pub county_code: String,
    pub year: i32,
    pub account: String,
    pub amount: i64,
}

/// The head of a county's chain.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ledger_heads)]
pub struct HeadRow {
    pub county_code: String,
    pub seq: i64,
    pub hash: String,
}

/// A posted subsidy.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = fund_subsidies)]
pub struct SubsidyRow {
    pub county_code: String,
    pub reference: String,
    pub year: i32,
    pub source: String,
    pub amount: i64,
    pub transaction_id: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

/// One balance as the database sums it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub year: i32,
    pub account: String,
    pub balance: i64,
}

/// The head of `county`'s chain, locked until the transaction ends (`FOR NO KEY
/// UPDATE` on PostgreSQL; SQLite's single writer already excludes other posters).
/// A county's first poster creates the row, with `ON CONFLICT DO NOTHING`, so that two
/// first posters meet on the lock instead of on a unique violation.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_head(conn: &mut DbConnection, county: &str) -> QueryResult<HeadRow> {
    let query = || ledger_heads::table.filter(ledger_heads::county_code.eq(county)).select(ledger_heads::all_columns);
    if let Some(head) = crate::db::lock(conn, query())?.pop() {
        return Ok(head);
    }
    let genesis = HeadRow { county_code: county.to_string(), seq: 0, hash: GENESIS_HASH.to_string() };
    let insert = diesel::insert_into(ledger_heads::table).values(&genesis).on_conflict_do_nothing();
    // ON CONFLICT does not compile through the connection enum: run it on the inner one.
    match conn {
        DbConnection::Pg(pg) => insert.execute(pg)?,
        DbConnection::Sqlite(lite) => insert.execute(lite)?,
    };
    crate::db::lock(conn, query())?.pop().ok_or(diesel::result::Error::NotFound)
}

/// Moves `county`'s head to its newest transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub fn set_head(conn: &mut DbConnection, head: &HeadRow) -> QueryResult<usize> {
    diesel::update(ledger_heads::table.find(&head.county_code)).set(head).execute(conn)
}

/// Every head (or `county`'s), by county code.
#[tracing::instrument(level = "debug", skip_all)]
pub fn heads(conn: &mut DbConnection, county: Option<&str>) -> QueryResult<Vec<HeadRow>> {
    let query = ledger_heads::table.order(ledger_heads::county_code).select(ledger_heads::all_columns);
    match county {
        Some(c) => query.filter(ledger_heads::county_code.eq(c)).load(conn),
        None => query.load(conn),
    }
}

/// The transaction posted for (county, kind, reference), if any.
#[tracing::instrument(level = "debug", skip_all)]
pub fn find_transaction(
    conn: &mut DbConnection,
    county: &str,
    kind: &str,
    reference: &str,
) -> QueryResult<Option<TransactionRow>> {
    ledger_transactions::table
        .filter(ledger_transactions::county_code.eq(county))
        .filter(ledger_transactions::kind.eq(kind))
        .filter(ledger_transactions::reference.eq(reference))
        .select(ledger_transactions::all_columns)
        .first(conn)
        .optional()
}

/// One transaction by id.
#[tracing::instrument(level = "debug", skip_all)]
pub fn transaction(conn: &mut DbConnection, id: &str) -> QueryResult<Option<TransactionRow>> {
    ledger_transactions::table.find(id).select(ledger_transactions::all_columns).first(conn).optional()
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_transaction(conn: &mut DbConnection, row: &TransactionRow) -> QueryResult<usize> {
    diesel::insert_into(ledger_transactions::table).values(row).execute(conn)
}

/// Inserts `row` unless (county, kind, reference) is posted already; 0 then. A poster
/// of the same reference that has not committed yet is waited for (PostgreSQL), so two
/// posters of one reference never both insert.
#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_transaction_once(conn: &mut DbConnection, row: &TransactionRow) -> QueryResult<usize> {
    let insert = diesel::insert_into(ledger_transactions::table).values(row).on_conflict_do_nothing();
    // ON CONFLICT does not compile through the connection enum: run it on the inner one.
    match conn {
        DbConnection::Pg(pg) => insert.execute(pg),
        DbConnection::Sqlite(lite) => insert.execute(lite),
    }
}

/// Up to `limit` of `county`'s transactions not yet chained, oldest id first.
#[tracing::instrument(level = "debug", skip_all)]
pub fn unchained(conn: &mut DbConnection, county: &str, limit: i64) -> QueryResult<Vec<TransactionRow>> {
    ledger_transactions::table
        .filter(ledger_transactions::county_code.eq(county))
        .filter(ledger_transactions::seq.is_null())
        .order(ledger_transactions::id)
        .limit(limit)
        .select(ledger_transactions::all_columns)
        .load(conn)
}

/// `county`'s unchained transactions with an id after `after`, by id, `limit` at most.
#[tracing::instrument(level = "debug", skip_all)]
pub fn unchained_after(
    conn: &mut DbConnection,
    county: &str,
    after: &str,
    limit: i64,
) -> QueryResult<Vec<TransactionRow>> {
    ledger_transactions::table
        .filter(ledger_transactions::county_code.eq(county))
        .filter(ledger_transactions::seq.is_null())
        .filter(ledger_transactions::id.gt(after))
        .order(ledger_transactions::id)
        .limit(limit)
        .select(ledger_transactions::all_columns)
        .load(conn)
}

/// The counties with a transaction not yet chained.
#[tracing::instrument(level = "debug", skip_all)]
pub fn unchained_counties(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    ledger_transactions::table
        .filter(ledger_transactions::seq.is_null())
        .select(ledger_transactions::county_code)
        .distinct()
        .load(conn)
}

/// One transaction's place in its chain, as [`link_all`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub transaction_id: String,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// Links unchained transactions, [`ROWS_PER_UPDATE`] to a statement; returns how many
/// it linked (fewer than given when one was linked meanwhile).
#[tracing::instrument(level = "debug", skip_all)]
pub fn link_all(conn: &mut DbConnection, links: &[Link]) -> QueryResult<usize> {
    use diesel::sql_types::Text;
    let mut linked = 0;
    for chunk in links.chunks(ROWS_PER_UPDATE) {
        let sql = format!(
            "UPDATE ledger_transactions SET seq = v.column2, prev_hash = v.column3, hash = v.column4 \
             FROM (VALUES {values}) AS v \
             WHERE ledger_transactions.id = v.column1 AND ledger_transactions.seq IS NULL",
            values = values_list(conn, chunk.len(), 4, 1),
        );
        macro_rules! run {
            ($conn:expr, $backend:ty) => {{
                let mut query = diesel::sql_query(sql).into_boxed::<$backend>();
                for link in chunk {
                    query = query
                        .bind::<Text, _>(link.transaction_id.as_str())
                        .bind::<BigInt, _>(link.seq)
                        .bind::<Text, _>(link.prev_hash.as_str())
                        .bind::<Text, _>(link.hash.as_str());
                }
                query.execute($conn)?
            }};
        }
        linked += match conn {
            DbConnection::Pg(pg) => run!(pg, diesel::pg::Pg),
            DbConnection::Sqlite(lite) => run!(lite, diesel::sqlite::Sqlite),
        };
    }
    Ok(linked)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_entries(conn: &mut DbConnection, rows: &[EntryRow]) -> QueryResult<usize> {
    insert_many(conn, rows, |chunk| diesel::insert_into(ledger_entries::table).values(chunk))
}

/// The entries of the transactions `ids`, by transaction and line.
#[tracing::instrument(level = "debug", skip_all)]
pub fn entries_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<EntryRow>> {
    ledger_entries::table
        .filter(ledger_entries::transaction_id.eq_any(ids))
        .order((ledger_entries::transaction_id, ledger_entries::line))
        .select(ledger_entries::all_columns)
        .load(conn)
}

/// `county`'s chained transactions after seq `after`, in seq order, at most `limit` of
/// them, of one year or of every year.
#[tracing::instrument(level = "debug", skip_all)]
pub fn transactions_after(
    conn: &mut DbConnection,
    county: &str,
    year: Option<i32>,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<TransactionRow>> {
    // A year range instead of an optional filter keeps one statement type (and one
    // prepared statement) for both cases.
    let (from, to) = year.map_or((i32::MIN, i32::MAX), |y| (y, y));
    ledger_transactions::table
        .filter(ledger_transactions::county_code.eq(county))
        .filter(ledger_transactions::year.between(from, to))
        .filter(ledger_transactions::seq.gt(after))
        .order(ledger_transactions::seq)
        .limit(limit)
        .select(ledger_transactions::all_columns)
        .load(conn)
}

/// `county`'s balances per year and account, summed by the database (of one year or
/// of every year), by year and account.
#[tracing::instrument(level = "debug", skip_all)]
pub fn balances(conn: &mut DbConnection, county: &str, year: Option<i32>) -> QueryResult<Vec<BalanceRow>> {
    let (from, to) = year.map_or((i32::MIN, i32::MAX), |y| (y, y));
    // SUM over BIGINT is NUMERIC on PostgreSQL: cast it back, on both backends alike.
    let rows: Vec<(i32, String, i64)> = ledger_entries::table
        .filter(ledger_entries::county_code.eq(county))
        .filter(ledger_entries::year.between(from, to))
        .group_by((ledger_entries::year, ledger_entries::account))
        .select((ledger_entries::year, ledger_entries::account, sql::<BigInt>("CAST(SUM(amount) AS BIGINT)")))
        .order((ledger_entries::year, ledger_entries::account))
        .load(conn)?;
    Ok(rows.into_iter().map(|(year, account, balance)| BalanceRow { year, account, balance }).collect())
}

/// How many entries name `county`, whatever transaction they belong to.
#[tracing::instrument(level = "debug", skip_all)]
pub fn entry_count(conn: &mut DbConnection, county: &str) -> QueryResult<i64> {
    ledger_entries::table.filter(ledger_entries::county_code.eq(county)).count().get_result(conn)
}

/// Every county with a transaction, an entry or a head (or just `county`), sorted.
#[tracing::instrument(level = "debug", skip_all)]
pub fn counties(conn: &mut DbConnection, county: Option<&str>) -> QueryResult<Vec<String>> {
    let mut all: Vec<String> =
        ledger_transactions::table.select(ledger_transactions::county_code).distinct().load(conn)?;
    all.extend(ledger_entries::table.select(ledger_entries::county_code).distinct().load::<String>(conn)?);
    all.extend(ledger_heads::table.select(ledger_heads::county_code).load::<String>(conn)?);
    all.sort();
    all.dedup();
    if let Some(c) = county {
        all.retain(|x| x == c);
    }
    Ok(all)
}

/// The subsidy posted for (county, reference), if any.
#[tracing::instrument(level = "debug", skip_all)]
pub fn find_subsidy(conn: &mut DbConnection, county: &str, reference: &str) -> QueryResult<Option<SubsidyRow>> {
    fund_subsidies::table.find((county, reference)).select(fund_subsidies::all_columns).first(conn).optional()
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_subsidy(conn: &mut DbConnection, row: &SubsidyRow) -> QueryResult<usize> {
    diesel::insert_into(fund_subsidies::table).values(row).execute(conn)
}
