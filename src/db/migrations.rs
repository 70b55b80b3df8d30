//! Embedded migrations, applied at start. Every service's database gets two trees per
//! backend: the platform tree (`migrations/<backend>/platform`: the outbox, the inbox
//! and idempotency keys, the same everywhere), then the service's own tree.
//!
//! Both trees record what they applied in the one `__diesel_schema_migrations` table.
//! That is safe because diesel_migrations 2.3 computes a tree's pending migrations as
//! its own versions minus the applied ones, and ignores applied versions it does not
//! know; each tree thus sees only its own. It does require that no version is in both
//! trees (one would hide the other): platform versions use sequence numbers from
//! 900001, service versions from 000001, and a test below checks that they never meet.
//! (diesel's revert commands, which refuse an applied version their tree lacks, are not
//! used.)

use diesel::backend::Backend;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbConnection, DbError, DbPool};
use crate::config::Service;

const PG_PLATFORM: EmbeddedMigrations = embed_migrations!("migrations/postgres/platform");
const PG_GATEWAY: EmbeddedMigrations = embed_migrations!("migrations/postgres/gateway");
const PG_COLLECTION: EmbeddedMigrations = embed_migrations!("migrations/postgres/collection");
const PG_VERIFICATION: EmbeddedMigrations = embed_migrations!("migrations/postgres/verification");
const PG_CARDMAKING: EmbeddedMigrations = embed_migrations!("migrations/postgres/cardmaking");
const PG_SETTLEMENT: EmbeddedMigrations = embed_migrations!("migrations/postgres/settlement");
const SQLITE_PLATFORM: EmbeddedMigrations = embed_migrations!("migrations/sqlite/platform");
const SQLITE_GATEWAY: EmbeddedMigrations = embed_migrations!("migrations/sqlite/gateway");
const SQLITE_COLLECTION: EmbeddedMigrations = embed_migrations!("migrations/sqlite/collection");
const SQLITE_VERIFICATION: EmbeddedMigrations = embed_migrations!("migrations/sqlite/verification");
const SQLITE_CARDMAKING: EmbeddedMigrations = embed_migrations!("migrations/sqlite/cardmaking");
const SQLITE_SETTLEMENT: EmbeddedMigrations = embed_migrations!("migrations/sqlite/settlement");

fn service_tree(service: Service, postgres: bool) -> EmbeddedMigrations {
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

/// The trees of `service`, in the order they are applied. The platform tree comes
/// first: service migrations may alter platform tables, never the reverse.
fn trees(service: Service, postgres: bool) -> [EmbeddedMigrations; 2] {
    let platform = if postgres { PG_PLATFORM } else { SQLITE_PLATFORM };
    [platform, service_tree(service, postgres)]
}

fn run_trees<DB, C>(conn: &mut C, trees: [EmbeddedMigrations; 2]) -> Result<usize, DbError>
where
    DB: Backend,
    C: MigrationHarness<DB>,
{
    let mut applied = 0;
    for tree in trees {
        applied += conn.run_pending_migrations(tree).map_err(|e| DbError::Migration(e.to_string()))?.len();
    }
    Ok(applied)
}

fn any_pending<DB, C>(conn: &mut C, trees: [EmbeddedMigrations; 2]) -> Result<bool, DbError>
where
    DB: Backend,
    C: MigrationHarness<DB>,
{
    for tree in trees {
        if conn.has_pending_migration(tree).map_err(|e| DbError::Migration(e.to_string()))? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Applies the pending migrations of `service` (platform and its own); returns how
/// many ran.
pub fn run(pool: &DbPool, service: Service) -> Result<usize, DbError> {
    let mut conn = pool.get()?;
    match &mut **conn {
        DbConnection::Pg(c) => run_trees(c, trees(service, true)),
        DbConnection::Sqlite(c) => run_trees(c, trees(service, false)),
    }
}

/// Whether every migration of `service`, platform ones included, has been applied (for
/// `/readyz`).
pub fn is_current(conn: &mut DbConnection, service: Service) -> Result<bool, DbError> {
    let pending = match conn {
        DbConnection::Pg(c) => any_pending(c, trees(service, true)),
        DbConnection::Sqlite(c) => any_pending(c, trees(service, false)),
    };
    pending.map(|p| !p)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use diesel::migration::MigrationSource;
    use diesel::pg::Pg;
    use diesel::sqlite::Sqlite;

    use super::*;

    fn pg_versions(tree: EmbeddedMigrations) -> BTreeSet<String> {
        MigrationSource::<Pg>::migrations(&tree).unwrap().iter().map(|m| m.name().version().to_string()).collect()
    }

    fn sqlite_versions(tree: EmbeddedMigrations) -> BTreeSet<String> {
        MigrationSource::<Sqlite>::migrations(&tree).unwrap().iter().map(|m| m.name().version().to_string()).collect()
    }

    #[test]
    fn platform_and_service_versions_never_meet() {
        let platform = pg_versions(PG_PLATFORM);
        assert!(!platform.is_empty());
        for service in Service::ALL {
            let own = pg_versions(service_tree(service, true));
            assert!(platform.is_disjoint(&own), "{service}: {:?}", platform.intersection(&own).collect::<Vec<_>>());
        }
    }

    #[test]
    fn both_backends_have_the_same_versions() {
        assert_eq!(pg_versions(PG_PLATFORM), sqlite_versions(SQLITE_PLATFORM));
        for service in Service::ALL {
            assert_eq!(
                pg_versions(service_tree(service, true)),
                sqlite_versions(service_tree(service, false)),
                "{service}"
            );
        }
    }
}
