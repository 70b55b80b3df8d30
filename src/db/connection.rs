//! The connection enum and the r2d2 connection manager.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;

/// A connection to the service's database, whichever backend it is.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Postgres(String),
    /// Path of the SQLite file.
    Sqlite(String),
}

/// A database URL we refuse to guess about.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("unsupported database URL scheme {0:?}: use postgres://, postgresql://, sqlite:// or a file path")]
    UnknownScheme(String),
    #[error("empty database URL")]
    Empty,
}

impl Backend {
    /// `postgres://` or `postgresql://` is PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or
    /// a plain path is SQLite; any other scheme is refused.
    pub fn from_url(url: &str) -> Result<Backend, BackendError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(BackendError::Empty);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_string()));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(BackendError::Empty);
            }
            return Ok(Backend::Sqlite(path.to_string()));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(BackendError::UnknownScheme(scheme.to_string()));
        }
        if url.contains('=') {
            // A key=value libpq string is not a path: refuse instead of creating a file.
            return Err(BackendError::UnknownScheme("key=value".into()));
        }
        Ok(Backend::Sqlite(url.to_string()))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }
}

/// Connection setup failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

/// Builds connections of exactly one backend (no fallback from one to the other).
#[derive(Debug)]
pub struct ConnectionManager {
    backend: Backend,
}

impl ConnectionManager {
    pub fn new(backend: Backend) -> Self {
        ConnectionManager { backend }
    }
}

/// How long a connection may sit unused in the pool before a checkout tests it again.
pub const VALIDATE_IDLE_AFTER: Duration = Duration::from_secs(30);

/// A connection as the pool keeps it: the connection, and what the pool knows of its
/// health. The pool does not test every connection on checkout (a `SELECT 1` round
/// trip per request); [`PooledDb::needs_test`] says when to: after
/// [`VALIDATE_IDLE_AFTER`] unused, or after its last use failed (a dead socket shows
/// only as a failed statement). A connection that fails its test is marked broken and
/// the pool drops it.
pub struct PooledDb {
    conn: DbConnection,
    last_ok: Instant,
    suspect: bool,
    broken: bool,
}

impl PooledDb {
    fn new(conn: DbConnection) -> Self {
        PooledDb { conn, last_ok: Instant::now(), suspect: false, broken: false }
    }

    /// Whether the connection should be tested before use.
    pub fn needs_test(&self) -> bool {
        self.suspect || self.last_ok.elapsed() >= VALIDATE_IDLE_AFTER
    }

    /// Tests the connection with `SELECT 1`; a failure marks it broken.
    pub fn test(&mut self) -> bool {
        match self.conn.batch_execute("SELECT 1") {
            Ok(()) => {
                self.used(true);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "pooled connection failed its test; dropping it");
                self.broken = true;
                false
            }
        }
    }

    /// Records how a use ended: a failed one is tested before the next.
    pub fn used(&mut self, ok: bool) {
        if ok {
            self.last_ok = Instant::now();
            self.suspect = false;
        } else {
            self.suspect = true;
        }
    }
}

impl Deref for PooledDb {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for PooledDb {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// SQLite settings for a service database: WAL so readers never block the writer, a
/// busy timeout instead of immediate `SQLITE_BUSY`, and enforced foreign keys.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

impl diesel::r2d2::ManageConnection for ConnectionManager {
    type Connection = PooledDb;
    type Error = ConnectError;

    fn connect(&self) -> Result<PooledDb, ConnectError> {
        self.establish().map(PooledDb::new)
    }

    /// Used only when the pool tests on checkout; ours does not (see [`PooledDb`]).
    fn is_valid(&self, conn: &mut PooledDb) -> Result<(), ConnectError> {
        conn.conn.batch_execute("SELECT 1").map_err(|e| ConnectError(e.to_string()))
    }

    /// Failed its test, left in a broken transaction, or returned by a panicking
    /// thread: dropped instead of reused.
    fn has_broken(&self, conn: &mut PooledDb) -> bool {
        conn.broken || std::thread::panicking() || conn.conn.is_broken()
    }
}

impl ConnectionManager {
    fn establish(&self) -> Result<DbConnection, ConnectError> {
        match &self.backend {
            Backend::Postgres(url) => {
                PgConnection::establish(url).map(DbConnection::Pg).map_err(|e| ConnectError(format!("postgres: {e}")))
            }
            Backend::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(|e| ConnectError(format!("sqlite {path}: {e}")))?;
                conn.batch_execute(SQLITE_PRAGMAS).map_err(|e| ConnectError(format!("sqlite pragmas: {e}")))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_exactly_one_backend() {
        assert!(matches!(Backend::from_url("postgres://u@h/db"), Ok(Backend::Postgres(_))));
        assert!(matches!(Backend::from_url("postgresql://u@h/db"), Ok(Backend::Postgres(_))));
        assert_eq!(Backend::from_url("sqlite://data/x.db").unwrap(), Backend::Sqlite("data/x.db".into()));
        assert_eq!(Backend::from_url("data/x.db").unwrap(), Backend::Sqlite("data/x.db".into()));
        assert!(Backend::from_url("mysql://h/db").is_err());
        assert!(Backend::from_url("host=localhost dbname=x").is_err());
        assert!(Backend::from_url("  ").is_err());
    }
}
