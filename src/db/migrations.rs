//! Embedded migrations, one tree per service and backend, applied at start.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbConnection, DbError, DbPool};
use crate::config::Service;

const PG_GATEWAY: EmbeddedMigrations = embed_migrations!("migrations/postgres/gateway");
const PG_COLLECTION: EmbeddedMigrations = embed_migrations!("migrations/postgres/collection");
const PG_VERIFICATION: EmbeddedMigrations = embed_migrations!("migrations/postgres/verification");
const PG_CARDMAKING: EmbeddedMigrations = embed_migrations!("migrations/postgres/cardmaking");
const PG_SETTLEMENT: EmbeddedMigrations = embed_migrations!("migrations/postgres/settlement");
const SQLITE_GATEWAY: EmbeddedMigrations = embed_migrations!("migrations/sqlite/gateway");
const SQLITE_COLLECTION: EmbeddedMigrations = embed_migrations!("migrations/sqlite/collection");
const SQLITE_VERIFICATION: EmbeddedMigrations = embed_migrations!("migrations/sqlite/verification");
const SQLITE_CARDMAKING: EmbeddedMigrations = embed_migrations!("migrations/sqlite/cardmaking");
const SQLITE_SETTLEMENT: EmbeddedMigrations = embed_migrations!("migrations/sqlite/settlement");

fn tree(service: Service, postgres: bool) -> EmbeddedMigrations {
    match (service, postgres) {
        (Service::Gateway, true) => PG_GATEWAY,
        (Service::Collection, true) => PG_COLLECTION,
        (Service::Verification, true) => PG_VERIFICATION,
        (Service::Cardmaking, true) => PG_CARDMAKING,
        (Service::Settlement, true) => PG_SETTLEMENT,
        (Service::Gateway, false) => SQLITE_GATEWAY,
        (Service::Collection, false) => SQLITE_COLLECTION,
        (Service::Verification, false) => SQLITE_VERIFICATION,
        (Service::Cardmaking, false) => SQLITE_CARDMAKING,
        (Service::Settlement, false) => SQLITE_SETTLEMENT,
    }
}

/// Applies the pending migrations of `service`; returns how many ran.
pub fn run(pool: &DbPool, service: Service) -> Result<usize, DbError> {
    let mut conn = pool.get()?;
    let applied = match &mut *conn {
        DbConnection::Pg(c) => c.run_pending_migrations(tree(service, true)).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.run_pending_migrations(tree(service, false)).map(|v| v.len()),
    };
    applied.map_err(|e| DbError::Migration(e.to_string()))
}

/// Whether every migration of `service` has been applied (for `/readyz`).
pub fn is_current(conn: &mut DbConnection, service: Service) -> Result<bool, DbError> {
    let pending = match conn {
        DbConnection::Pg(c) => c.has_pending_migration(tree(service, true)),
        DbConnection::Sqlite(c) => c.has_pending_migration(tree(service, false)),
    };
    pending.map(|p| !p).map_err(|e| DbError::Migration(e.to_string()))
}
