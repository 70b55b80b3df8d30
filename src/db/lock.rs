//! Row locks, written once for both backends. PostgreSQL takes row locks; SQLite has
//! a single writer, so a write transaction there already excludes every other, and
//! the same query runs there without a locking clause.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::LoadQuery;
use diesel::{PgConnection, QueryResult, RunQueryDsl, SqliteConnection};

use super::DbConnection;

/// Claims queue rows: loads what `query` selects, each row locked until the
/// transaction ends, passing by rows another transaction holds (`FOR UPDATE SKIP
/// LOCKED` on PostgreSQL), so that replicas working one queue take different rows.
pub fn claim<'q, Q, U>(conn: &mut DbConnection, query: Q) -> QueryResult<Vec<U>>
where
    Q: LoadQuery<'q, SqliteConnection, U>,
    Locked<Q, SkipLocked>: LoadQuery<'q, PgConnection, U>,
{
    match conn {
        DbConnection::Pg(pg) => Locked::<Q, SkipLocked>::new(query).load(pg),
        DbConnection::Sqlite(lite) => query.load(lite),
    }
}

/// Loads what `query` selects with each row locked until the transaction ends,
/// waiting for whoever holds one (`FOR NO KEY UPDATE` on PostgreSQL: it serialises
/// the writers of these rows without blocking inserts that only reference them).
pub fn lock<'q, Q, U>(conn: &mut DbConnection, query: Q) -> QueryResult<Vec<U>>
where
    Q: LoadQuery<'q, SqliteConnection, U>,
    Locked<Q, Wait>: LoadQuery<'q, PgConnection, U>,
{
    match conn {
        DbConnection::Pg(pg) => Locked::<Q, Wait>::new(query).load(pg),
        DbConnection::Sqlite(lite) => query.load(lite),
    }
}

/// How a [`Locked`] query locks its rows; the clause follows the whole query (after
/// `ORDER BY` and `LIMIT`, where PostgreSQL wants it).
pub trait LockMode: 'static {
    const CLAUSE: &'static str;
}

/// `FOR UPDATE SKIP LOCKED`: take what is free, pass by the rest.
#[derive(Debug, Clone, Copy)]
pub struct SkipLocked;

impl LockMode for SkipLocked {
    const CLAUSE: &'static str = " FOR UPDATE SKIP LOCKED";
}

/// `FOR NO KEY UPDATE`: wait for the rows.
#[derive(Debug, Clone, Copy)]
pub struct Wait;

impl LockMode for Wait {
    const CLAUSE: &'static str = " FOR NO KEY UPDATE";
}

/// A PostgreSQL select with a locking clause after it. The mode is part of the type,
/// so that the prepared-statement cache tells the locked query from the plain one.
#[derive(Debug, Clone, Copy)]
pub struct Locked<Q, M> {
    query: Q,
    mode: PhantomData<M>,
}

impl<Q, M> Locked<Q, M> {
    fn new(query: Q) -> Self {
        Locked { query, mode: PhantomData }
    }
}

impl<Q: QueryId, M: LockMode> QueryId for Locked<Q, M> {
    type QueryId = Locked<Q::QueryId, M>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: Query, M> Query for Locked<Q, M> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>, M: LockMode> QueryFragment<Pg> for Locked<Q, M> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(M::CLAUSE);
        Ok(())
    }
}

impl<Q, M> RunQueryDsl<PgConnection> for Locked<Q, M> {}
