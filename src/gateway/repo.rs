//! The `api_clients` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::{PageRequest, keyset};
use crate::domain::ClientId;

diesel::table! {
    api_clients (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        scopes -> Text,
        secret_hash -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

/// One row of `api_clients`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_clients)]
pub struct ClientRow {
    pub id: ClientId,
    pub name: String,
    pub role: String,
    pub scopes: String,
    pub secret_hash: String,
    pub created_by: Option<ClientId>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A new client to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = api_clients)]
pub struct NewClient<'a> {
    pub id: &'a ClientId,
    pub name: &'a str,
    pub role: &'a str,
    pub scopes: &'a str,
    pub secret_hash: &'a str,
    pub created_by: Option<&'a ClientId>,
    pub created_at: NaiveDateTime,
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert(conn: &mut DbConnection, client: &NewClient<'_>) -> QueryResult<ClientRow> {
    diesel::insert_into(api_clients::table).values(client).execute(conn)?;
    api_clients::table.find(client.id).select(ClientRow::as_select()).first(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn find(conn: &mut DbConnection, id: &ClientId) -> QueryResult<Option<ClientRow>> {
    api_clients::table.find(id).select(ClientRow::as_select()).first(conn).optional()
}

/// Clients ordered by id, after the page's cursor; `limit + 1` rows.
#[tracing::instrument(level = "debug", skip_all)]
pub fn list(conn: &mut DbConnection, page: &PageRequest) -> QueryResult<Vec<ClientRow>> {
    keyset(api_clients::table.select(ClientRow::as_select()).into_boxed(), api_clients::id, page).load(conn)
}

/// Marks a client revoked; `false` if it was revoked already.
#[tracing::instrument(level = "debug", skip_all)]
pub fn revoke(conn: &mut DbConnection, id: &ClientId, at: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(api_clients::table.find(id).filter(api_clients::revoked_at.is_null()))
        .set(api_clients::revoked_at.eq(Some(at)))
        .execute(conn)?;
    Ok(n == 1)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn revoked_ids(conn: &mut DbConnection) -> QueryResult<Vec<ClientId>> {
    api_clients::table.filter(api_clients::revoked_at.is_not_null()).select(api_clients::id).load(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn count_active(conn: &mut DbConnection) -> QueryResult<i64> {
    api_clients::table.filter(api_clients::revoked_at.is_null()).count().get_result(conn)
}
