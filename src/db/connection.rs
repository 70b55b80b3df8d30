//! The connection enum and the r2d2 connection manager.

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
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

/// SQLite settings for a service database: WAL so readers never block the writer, a
/// busy timeout instead of immediate `SQLITE_BUSY`, and enforced foreign keys.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

impl diesel::r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
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

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(|e| ConnectError(e.to_string()))
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
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
