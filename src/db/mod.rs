//! Storage: one connection type over PostgreSQL and SQLite, a pool that builds exactly
//! the backend its URL names, and the one place where use cases get a connection and a
//! transaction (off the async workers).

pub mod binary_copy;
mod connection;
mod error;
pub mod migrations;
mod pool;
pub mod state_column;
pub mod statistics;

pub use connection::{Backend, BackendError, DbConnection};
pub use error::DbError;
pub use pool::{DbPool, PoolStatus};

/// Inserts `rows` into `table` in the caller's transaction, a multi-row INSERT per 1,000
/// rows (under PostgreSQL's limit of bind parameters); evaluates to the rows inserted.
/// Multi-row inserts do not compile through the connection enum, so they run on the
/// inner connection. Errors return from the enclosing function (`?`).
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut n = 0;
        for chunk in $rows.chunks(1000) {
            n += match $conn {
                $crate::db::DbConnection::Pg(c) => diesel::insert_into($table).values(chunk).execute(c)?,
                $crate::db::DbConnection::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c)?,
            };
        }
        Ok::<usize, diesel::result::Error>(n)
    }};
}
pub(crate) use insert_many;

/// Current UTC time truncated to microseconds, so both backends store the same value.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}
