//! Storage: one connection type over PostgreSQL and SQLite, a pool that builds exactly
//! the backend its URL names, and the one place where use cases get a connection and a
//! transaction (off the async workers).

mod connection;
mod error;
pub mod migrations;
mod pool;
pub mod statistics;

pub use connection::{Backend, BackendError, DbConnection};
pub use error::DbError;
pub use pool::{DbPool, PoolStatus};

/// Current UTC time truncated to microseconds, so both backends store the same value.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}
