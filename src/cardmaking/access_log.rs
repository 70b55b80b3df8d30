//! The append-only log of every read of personal data by a card maker, clinic or
//! auditor (who, when, what), readable by auditors.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::repo::{self, AccessRow};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::ClientId;
use crate::http::ApiError;
use crate::http::pagination::{Page, PageQuery};

/// Appends one entry in the caller's transaction: the read and its record commit
/// together, so no read goes unrecorded.
pub fn record(
    conn: &mut DbConnection,
    caller: &Caller,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<(), ApiError> {
    repo::log_access(
        conn,
        &AccessRow {
            id: uuid::Uuid::now_v7().to_string(),
            at: now(),
            client_id: caller.client_id.clone(),
            role: caller.role.as_str().to_string(),
            action: action.to_string(),
            subject: subject.to_string(),
            detail: detail.to_string(),
        },
    )?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct AccessView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub client_id: ClientId,
    pub role: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

/// `GET /access-log`: oldest first, for auditors and the provincial administration.
#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Auditor, Role::ProvincialAdmin])?;
    let page = query.parse()?;
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::access_entries(conn, &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<AccessView> = rows
        .into_iter()
        .map(|r| AccessView {
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail)),
            id: r.id,
            at: r.at.and_utc(),
            client_id: r.client_id,
            role: r.role,
            action: r.action,
            subject: r.subject,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |a| a.id.clone())))
}
