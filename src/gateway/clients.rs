//! API client management for the provincial admin: create (the secret is shown once),
//! list, revoke (refused at once here, and at every service through the outbox).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{GatewayState, credentials, repo};
use crate::auth::{Authenticator, Caller, Role};
use crate::config::Service;
use crate::contracts::messages::ClientRevoked;
use crate::db::{DbConnection, DbPool, now};
use crate::domain::ClientId;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError};
use crate::outbox;

#[derive(Debug, Deserialize)]
pub struct CreateClient {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A client as shown to admins (never its secret or hash).
#[derive(Debug, Serialize)]
pub struct ClientView {
    pub client_id: ClientId,
    pub name: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The answer to a creation: the only time the secret is shown.
#[derive(Debug, Serialize)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    pub client_secret: String,
}

impl From<repo::ClientRow> for ClientView {
    fn from(row: repo::ClientRow) -> Self {
        ClientView {
            client_id: row.id,
            name: row.name,
            role: row.role,
            scopes: serde_json::from_str(&row.scopes).unwrap_or_default(),
            created_at: row.created_at.and_utc(),
            revoked_at: row.revoked_at.map(|t| t.and_utc()),
        }
    }
}

/// A validated creation request.
pub struct NewClientCommand {
    pub name: String,
    pub role: Role,
    pub scopes: Vec<String>,
}

impl TryFrom<CreateClient> for NewClientCommand {
    type Error = ApiError;

    fn try_from(body: CreateClient) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let name = body.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new("name", "name_invalid", "1 to 100 characters"));
        }
        let role = Role::parse(&body.role).filter(|r| Role::CLIENT_ROLES.contains(r));
        match role {
            None => errors.push(FieldError::new("role", "role_unknown", "not a client role (see DOMAIN.md section 6)")),
            Some(role) => errors.extend(credentials::check_scopes(role, &body.scopes)),
        }
        match (role, errors.is_empty()) {
            (Some(role), true) => {
                Ok(NewClientCommand { name, role, scopes: credentials::normalise_scopes(role, body.scopes) })
            }
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// Hashes a new secret (blocking: argon2) and returns `(secret, hash)`.
pub fn new_credentials() -> Result<(String, String), ApiError> {
    let secret = credentials::new_secret().map_err(ApiError::internal)?;
    let hash = credentials::hash(&secret).map_err(ApiError::internal)?;
    Ok((secret, hash))
}

/// Stores a new client; shared by the API and the `clients create` command.
pub fn create(
    conn: &mut DbConnection,
    command: &NewClientCommand,
    secret: String,
    secret_hash: &str,
    created_by: Option<&ClientId>,
) -> Result<CreatedClient, ApiError> {
    let id = ClientId::random();
    let scopes = serde_json::to_string(&command.scopes).map_err(ApiError::internal)?;
    let row = repo::insert(
        conn,
        &repo::NewClient {
            id: &id,
            name: &command.name,
            role: command.role.as_str(),
            scopes: &scopes,
            secret_hash,
            created_by,
            created_at: now(),
        },
    )?;
    Ok(CreatedClient { client: row.into(), client_secret: secret })
}

#[tracing::instrument(skip_all)]
pub async fn create_handler(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    state: web::Data<GatewayState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin])?;
    state.limits.check(caller.client_id.as_str())?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let parsed: CreateClient = crate::http::extract::parse_json(&req, &body)?;
    let command = NewClientCommand::try_from(parsed)?;
    let permit = state.hashing.acquire().await.map_err(ApiError::internal)?;
    let (secret, hash) = tokio::task::spawn_blocking(new_credentials).await.map_err(ApiError::internal)??;
    drop(permit);
    let created_by = caller.client_id.clone();
    idempotency::run(&pool, key, StatusCode::CREATED, move |conn| {
        create(conn, &command, secret, &hash, Some(&created_by))
    })
    .await
}

#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    state: web::Data<GatewayState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin, Role::Auditor])?;
    state.limits.check(caller.client_id.as_str())?;
    let page = query.parse()?;
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::list(conn, &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<ClientView> = rows.into_iter().map(ClientView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |c| c.client_id.to_string())))
}

#[tracing::instrument(skip_all)]
pub async fn revoke(
    caller: Caller,
    pool: web::Data<DbPool>,
    state: web::Data<GatewayState>,
    auth: web::Data<Authenticator>,
    path: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin])?;
    state.limits.check(caller.client_id.as_str())?;
    let id = path.into_inner();
    if id == caller.client_id {
        return Err(ApiError::conflict("cannot_revoke_self", "an admin cannot revoke the client it is using"));
    }
    let target = id.clone();
    pool.write(move |conn| {
        repo::find(conn, &target)?.ok_or_else(|| ApiError::not_found("client"))?;
        let at = now();
        if repo::revoke(conn, &target, at)? {
            let message = ClientRevoked { client_id: target.clone(), revoked_at: at.and_utc() };
            for service in Service::UPSTREAMS {
                outbox::enqueue(conn, service, &message)?;
            }
        }
        Ok::<_, ApiError>(())
    })
    .await?;
    auth.revoked.insert(&id);
    state.waker.wake();
    Ok(HttpResponse::NoContent().finish())
}

/// Keeps the gateway's revocation set in step with its database (other gateway
/// replicas revoke too).
pub async fn refresh_revocations(pool: DbPool, auth: Arc<Authenticator>) -> Result<(), ApiError> {
    let ids = pool.read(|conn| repo::revoked_ids(conn).map_err(ApiError::from)).await?;
    auth.revoked.replace(ids.into_iter().collect());
    Ok(())
}
