//! Errors of the storage layer.

/// What can go wrong when a use case asks for the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection within the pool timeout (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// Migrations could not be applied.
    #[error("migrations: {0}")]
    Migration(String),
    /// The blocking task was cancelled or panicked.
    #[error("database task failed: {0}")]
    Task(String),
}
