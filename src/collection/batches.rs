//! Opening and reading batches.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::repo::{self, BatchRow};
use super::tallies;
use crate::auth::{Caller, Role};
use crate::db::{DbPool, now};
use crate::domain::region::CountyCode;
use crate::domain::{BatchId, BatchState, RecordState, StateMachine};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError};

#[derive(Debug, Deserialize)]
pub struct OpenBatch {
    pub county_code: String,
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct BatchView {
    pub id: BatchId,
    pub county_code: String,
    pub title: String,
    pub state: BatchState,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl From<BatchRow> for BatchView {
    fn from(row: BatchRow) -> Self {
        BatchView {
            id: row.id,
            county_code: row.county_code,
            title: row.title,
            state: row.state,
            created_at: row.created_at.and_utc(),
            submitted_at: row.submitted_at.map(|t| t.and_utc()),
        }
    }
}

/// A batch the caller may open.
struct OpenBatchCommand {
    county_code: String,
    title: String,
}

impl OpenBatchCommand {
    fn parse(body: OpenBatch, caller: &Caller) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let title = body.title.trim().to_string();
        if title.is_empty() || title.chars().count() > 200 {
            errors.push(FieldError::new("title", "title_invalid", "1 to 200 characters"));
        }
        let county_code = match CountyCode::parse(&body.county_code) {
            Ok(code) => code.as_str().to_string(),
            Err(e) => {
                errors.push(FieldError::new("county_code", e.code(), "not a six-digit county-level code (GB/T 2260)"));
                String::new()
            }
        };
        if !county_code.is_empty() && !caller.scopes.contains(&county_code) {
            errors.push(FieldError::new(
                "county_code",
                "county_not_allowed",
                "this office may not submit for that county",
            ));
        }
        if errors.is_empty() { Ok(OpenBatchCommand { county_code, title }) } else { Err(ApiError::validation(errors)) }
    }
}

#[tracing::instrument(skip_all)]
pub async fn open(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let parsed: OpenBatch = crate::http::extract::parse_json(&req, &body)?;
    let command = OpenBatchCommand::parse(parsed, &caller)?;
    let created_by = caller.client_id.clone();
    idempotency::run(&pool, key, StatusCode::CREATED, move |conn| {
        let row = BatchRow {
            id: BatchId::new(),
            county_code: command.county_code,
            title: command.title,
            state: BatchState::Open,
            created_by,
            created_at: now(),
            submitted_at: None,
            fed_through: None,
        };
        repo::insert_batch(conn, &row)?;
        Ok(BatchView::from(row))
    })
    .await
}

/// The batch `id` if the caller may see it; 404 otherwise, exactly as for a batch that
/// does not exist.
#[tracing::instrument(skip_all)]
pub async fn visible_batch(pool: &DbPool, caller: &Caller, id: &BatchId) -> Result<BatchRow, ApiError> {
    let id = id.clone();
    let row = pool.read(move |conn| repo::find_batch(conn, &id).map_err(ApiError::from)).await?;
    match row {
        Some(row) if caller.may_see_county(&row.county_code) => Ok(row),
        _ => Err(ApiError::not_found("batch")),
    }
}

/// Records of one state in a batch.
#[derive(Debug, Serialize)]
pub struct StateCount {
    pub state: RecordState,
    pub count: i64,
    /// How long the record that has waited longest in this state has waited.
    pub oldest_age_seconds: i64,
}

/// A batch with where its records are.
#[derive(Debug, Serialize)]
pub struct BatchDetail {
    #[serde(flatten)]
    pub batch: BatchView,
    pub parts: i64,
    pub records: i64,
    pub states: Vec<StateCount>,
    /// Share of the records that have the outcome of their checks (every state after
    /// `pending_verification`), in per cent.
    pub progress_percent: f64,
}

#[tracing::instrument(skip_all)]
pub async fn get(caller: Caller, pool: web::Data<DbPool>, path: web::Path<BatchId>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice, Role::ProvincialAdmin, Role::Auditor])?;
    let batch = visible_batch(&pool, &caller, &path.into_inner()).await?;
    let id = batch.id.clone();
    let (parts, counts) =
        pool.read(move |conn| Ok::<_, ApiError>((repo::part_count(conn, &id)?, tallies::of_batch(conn, &id)?))).await?;
    let now = now();
    let records: i64 = counts.iter().map(|c| c.records).sum();
    // Every state after verification counts: verified records go on towards their card.
    let decided: i64 = counts.iter().filter(|c| c.state.has_outcome()).map(|c| c.records).sum();
    let states = counts
        .into_iter()
        .map(|c| StateCount {
            state: c.state,
            count: c.records,
            oldest_age_seconds: (now - c.oldest).num_seconds().max(0),
        })
        .collect();
    let progress_percent = if records == 0 { 0.0 } else { (decided as f64 * 1000.0 / records as f64).round() / 10.0 };
    Ok(HttpResponse::Ok().json(BatchDetail { batch: BatchView::from(batch), parts, records, states, progress_percent }))
}

/// `POST /batches/{id}/submit`: closes the batch; its records go to verification.
#[tracing::instrument(skip_all)]
pub async fn submit(
    caller: Caller,
    pool: web::Data<DbPool>,
    feeder: web::Data<super::feeder::FeederWaker>,
    path: web::Path<BatchId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice])?;
    let batch = visible_batch(&pool, &caller, &path.into_inner()).await?;
    let id = batch.id.clone();
    let row = pool
        .write(move |conn| {
            if repo::part_count(conn, &id)? == 0 {
                return Err(ApiError::conflict("batch_empty", "upload at least one part before submitting"));
            }
            let at = now();
            if repo::set_batch_submitted(conn, &id, at)? == 0 {
                return Err(ApiError::conflict("batch_already_submitted", "the batch has been submitted already"));
            }
            // Every received record now waits for verification (see repo::as_seen).
            let waiting =
                RecordState::Received.transition(RecordState::PendingVerification).map_err(ApiError::internal)?;
            super::tallies::move_whole_batch(conn, &id, waiting, at)?;
            repo::find_batch(conn, &id)?.ok_or_else(|| ApiError::not_found("batch"))
        })
        .await?;
    feeder.wake();
    Ok(HttpResponse::Accepted().json(BatchView::from(row)))
}

#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice, Role::ProvincialAdmin, Role::Auditor])?;
    let page = query.parse()?;
    let counties = (caller.role == Role::CountyOffice).then(|| caller.scopes.clone());
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::list_batches(conn, counties.as_deref(), &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<BatchView> = rows.into_iter().map(BatchView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |b| b.id.to_string())))
}
