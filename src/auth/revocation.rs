//! Revoked API clients. The gateway revokes (DELETE /clients/{id}) and tells every
//! service through its outbox; each service records it (table `revoked_clients`) and
//! keeps the set in memory, refreshed from its database so replicas agree.

use std::collections::HashSet;
use std::sync::RwLock;

use diesel::prelude::*;

use crate::contracts::messages::ClientRevoked;
use crate::db::DbConnection;
use crate::domain::ClientId;

diesel::table! {
    revoked_clients (client_id) {
        client_id -> Text,
        revoked_at -> Timestamp,
    }
}

/// The ids of revoked clients, in memory.
#[derive(Default)]
pub struct RevocationSet {
    ids: RwLock<HashSet<ClientId>>,
}

impl RevocationSet {
    pub fn contains(&self, client_id: &ClientId) -> bool {
        self.ids.read().map(|ids| ids.contains(client_id)).unwrap_or(false)
    }

    pub fn insert(&self, client_id: &ClientId) {
        if let Ok(mut ids) = self.ids.write() {
            ids.insert(client_id.clone());
        }
    }

    pub fn replace(&self, all: HashSet<ClientId>) {
        if let Ok(mut ids) = self.ids.write() {
            *ids = all;
        }
    }
}

/// Records a revocation received from the gateway (inside the inbox transaction).
#[tracing::instrument(level = "debug", skip_all)]
pub fn record(conn: &mut DbConnection, message: &ClientRevoked) -> QueryResult<()> {
    let exists = revoked_clients::table
        .find(&message.client_id)
        .select(revoked_clients::client_id)
        .first::<ClientId>(conn)
        .optional()?;
    if exists.is_none() {
        diesel::insert_into(revoked_clients::table)
            .values((
                revoked_clients::client_id.eq(&message.client_id),
                revoked_clients::revoked_at.eq(message.revoked_at.naive_utc()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Every revoked client id recorded in this service's database.
#[tracing::instrument(level = "debug", skip_all)]
pub fn load(conn: &mut DbConnection) -> QueryResult<HashSet<ClientId>> {
    Ok(revoked_clients::table.select(revoked_clients::client_id).load::<ClientId>(conn)?.into_iter().collect())
}
