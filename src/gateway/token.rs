//! `POST /api/v1/auth/token`: client credentials for a short-lived signed token, and
//! the public keys to verify it.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{GatewayState, credentials, repo};
use crate::auth::Role;
use crate::db::DbPool;
use crate::domain::ClientId;
use crate::http::ApiError;

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    pub client_id: ClientId,
    pub client_secret: String,
    #[serde(default)]
    pub grant_type: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

fn invalid_client() -> ApiError {
    ApiError::unauthorized("invalid_client", "unknown client, wrong secret or revoked client")
}

/// The rate-limit key of an unauthenticated request: its peer address.
pub fn peer_key(req: &HttpRequest, what: &str) -> String {
    let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    format!("{what}:{peer}")
}

#[tracing::instrument(skip_all)]
pub async fn issue(
    req: HttpRequest,
    state: web::Data<GatewayState>,
    pool: web::Data<DbPool>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Limited before anything is parsed: a flood of garbage costs as little as possible.
    state.limits.check(&peer_key(&req, "token"))?;
    let body: TokenRequest = crate::http::extract::parse_json(&req, &body)?;
    if body.grant_type.as_deref().is_some_and(|g| g != "client_credentials") {
        return Err(ApiError::bad_request("unsupported_grant_type", "only client_credentials is supported"));
    }
    if body.client_id.as_str().len() > 64
        || body.client_secret.is_empty()
        || body.client_secret.len() > credentials::MAX_SECRET_LEN
    {
        return Err(invalid_client());
    }
    let id = body.client_id.clone();
    let client = pool.read(move |conn| repo::find(conn, &id).map_err(ApiError::from)).await?;
    let phc = client.as_ref().map(|c| c.secret_hash.clone()).unwrap_or_else(|| credentials::dummy_hash().to_string());
    let permit = state.hashing.acquire().await.map_err(ApiError::internal)?;
    let secret = body.client_secret;
    let matches =
        tokio::task::spawn_blocking(move || credentials::verify(&secret, &phc)).await.map_err(ApiError::internal)?;
    drop(permit);
    let client = match client {
        Some(c) if matches && c.revoked_at.is_none() => c,
        _ => return Err(invalid_client()),
    };
    let role = Role::parse(&client.role).ok_or_else(|| ApiError::internal("stored client has an unknown role"))?;
    let scopes: Vec<String> = serde_json::from_str(&client.scopes).map_err(ApiError::internal)?;
    let (access_token, expires_in) = state.keys.issue(&client.id, role, scopes).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
    }))
}

#[tracing::instrument(skip_all)]
pub async fn jwks(state: web::Data<GatewayState>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(state.keys.jwks())
}
