//! Storage: one connection type over PostgreSQL and SQLite, a pool that builds exactly
//! the backend its URL names, and the one place where use cases get a connection and a
//! transaction (off the async workers), and the storage patterns every service shares:
//! bulk inserts ([`bulk`]), row locks and queue claims ([`lock`]), keyset pages
//! ([`page`]).

pub mod binary_copy;
pub mod bulk;
mod connection;
mod error;
pub mod id_column;
pub mod lock;
pub mod migrations;
pub mod page;
mod pool;
pub mod state_column;
pub mod statistics;

pub use bulk::{copy_many, insert_many, placeholder, values_list};
pub use connection::{Backend, BackendError, DbConnection};
pub use error::{DbError, unique_violation};
pub use lock::{claim, lock};
pub use page::{PageRequest, keyset};
pub use pool::{DbPool, PoolStatus};

/// Current UTC time truncated to microseconds, so both backends store the same value.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}

/// Asks PostgreSQL to plan every statement of the current transaction for its actual
/// parameters (`SET LOCAL plan_cache_mode = force_custom_plan`); nothing on SQLite.
///
/// For transactions of bulk statements (arrays of thousands of ids, long VALUES
/// lists), where planning costs nothing beside the work: a pooled connection otherwise
/// keeps a generic plan made once, perhaps when the tables were still empty, and a
/// plan for an empty table reads the whole table for every batch (the ledger chainer
/// read 488 buffers in 50 ms per batch of entries that way, 11,000 claims after start).
pub fn plan_for_parameters(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    use diesel::connection::SimpleConnection;
    match conn {
        DbConnection::Pg(pg) => pg.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan"),
        DbConnection::Sqlite(_) => Ok(()),
    }
}
