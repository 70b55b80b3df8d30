//! The pool and the one way use cases reach the database.

use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use diesel::r2d2::{Pool, PooledConnection};

use super::connection::{Backend, ConnectionManager, DbConnection};
use super::error::DbError;

/// Pool usage, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

/// How a use case's statements run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// In one read transaction.
    Read,
    /// In one write transaction (on SQLite, one writer of the process at a time).
    Write,
    /// Each on its own, no transaction around them.
    Statements,
}

/// A pool of connections to one service's database.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<ConnectionManager>,
    backend: Arc<Backend>,
    /// SQLite has one writer at a time; writers of this process queue here instead of
    /// failing with `SQLITE_BUSY` when two deferred transactions both upgrade to write.
    sqlite_writer: Option<Arc<std::sync::Mutex<()>>>,
    max: u32,
}

impl DbPool {
    /// Opens a pool on `url` (creating the SQLite file and its folder if needed).
    pub fn open(url: &str, max_size: u32) -> Result<DbPool, DbError> {
        let backend = Backend::from_url(url).map_err(|e| DbError::Unavailable(e.to_string()))?;
        if let Backend::Sqlite(path) = &backend
            && let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| DbError::Unavailable(format!("create {}: {e}", dir.display())))?;
        }
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            // Not a `SELECT 1` round trip before every use: `checkout` tests only
            // connections that sat idle or whose last use failed.
            .test_on_check_out(false)
            .build(ConnectionManager::new(backend.clone()))
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let sqlite_writer = matches!(backend, Backend::Sqlite(_)).then(|| Arc::new(std::sync::Mutex::new(())));
        Ok(DbPool { pool, backend: Arc::new(backend), sqlite_writer, max: max_size })
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn status(&self) -> PoolStatus {
        let state = self.pool.state();
        PoolStatus { connections: state.connections, idle: state.idle_connections, max: self.max }
    }

    /// A connection for synchronous code (CLI, migrations). Not for request paths.
    pub fn get(&self) -> Result<PooledConnection<ConnectionManager>, DbError> {
        self.checkout()
    }

    /// A connection from the pool, tested first when it sat idle for
    /// [`super::connection::VALIDATE_IDLE_AFTER`] or its last use failed; one that fails the test is
    /// dropped and another taken.
    fn checkout(&self) -> Result<PooledConnection<ConnectionManager>, DbError> {
        let mut attempts = 0;
        loop {
            let mut conn = self.pool.get().map_err(|e| DbError::Unavailable(e.to_string()))?;
            if !conn.needs_test() || conn.test() {
                return Ok(conn);
            }
            attempts += 1;
            if attempts > self.max {
                return Err(DbError::Unavailable("no pooled connection passed its test".into()));
            }
        }
    }

    /// Runs `f` in one read transaction on a blocking thread.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.run(Mode::Read, f).await
    }

    /// Runs `f` on a blocking thread without a transaction: each statement commits on
    /// its own and sees the database as of its own start, so two statements may see
    /// different states. For reads that need no single snapshot; on PostgreSQL it
    /// saves the `BEGIN` and `COMMIT` round trips of [`DbPool::read`]. A read whose
    /// statements must agree with each other uses [`DbPool::read`].
    pub async fn read_each<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.run(Mode::Statements, f).await
    }

    /// Runs `f` in one write transaction on a blocking thread: the use case's state
    /// change and its outbox messages commit together or not at all.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.run(Mode::Write, f).await
    }

    async fn run<T, E, F>(&self, mode: Mode, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let pool = self.clone();
        let span = tracing::Span::current();
        let joined = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            pool.run_in(mode, f)
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) => Err(E::from(DbError::Task(e.to_string()))),
        }
    }

    /// The synchronous core of [`DbPool::read`] and [`DbPool::write`].
    pub fn run_blocking<T, E, F>(&self, write: bool, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        self.run_in(if write { Mode::Write } else { Mode::Read }, f)
    }

    fn run_in<T, E, F>(&self, mode: Mode, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        let mut pooled = self.checkout().map_err(E::from)?;
        let _writer = match (&self.sqlite_writer, mode) {
            (Some(lock), Mode::Write) => Some(lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())),
            _ => None,
        };
        let conn: &mut DbConnection = &mut pooled;
        let result = match mode {
            Mode::Read | Mode::Write => conn.transaction(f),
            Mode::Statements => f(conn),
        };
        pooled.used(result.is_ok());
        result
    }
}
