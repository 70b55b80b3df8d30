//! `GET /api/v1/registry/matches`: the audit trail of matches, by record.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::repo::{self, MatchRow};
use crate::auth::{Caller, Role};
use crate::contracts::messages::MismatchReason;
use crate::db::DbPool;
use crate::domain::{BatchId, RecordId};
use crate::http::ApiError;
use crate::http::pagination::{Page, PageQuery};

#[derive(Debug, Deserialize)]
pub struct MatchQuery {
    pub record_id: Option<RecordId>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct MatchView {
    pub id: String,
    pub record_id: RecordId,
    pub version: i32,
    pub batch_id: BatchId,
    pub outcome: String,
    pub reasons: Vec<MismatchReason>,
    pub snapshot_id: String,
    pub matched_at: DateTime<Utc>,
}

impl TryFrom<MatchRow> for MatchView {
    type Error = ApiError;
    fn try_from(row: MatchRow) -> Result<Self, ApiError> {
        Ok(MatchView {
            reasons: serde_json::from_str(&row.reasons).map_err(ApiError::internal)?,
            id: row.id,
            record_id: row.record_id,
            version: row.version,
            batch_id: row.batch_id,
            outcome: row.outcome,
            snapshot_id: row.snapshot_id,
            matched_at: row.matched_at.and_utc(),
        })
    }
}

#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<MatchQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::RegistryAdmin, Role::Auditor, Role::ProvincialAdmin])?;
    let query = query.into_inner();
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let record_id = query.record_id.filter(|r| !r.as_str().is_empty());
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::list_matches(conn, record_id.as_ref(), &page).map_err(ApiError::from)
        })
        .await?;
    let views = rows.into_iter().map(MatchView::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |v| v.id.clone())))
}
