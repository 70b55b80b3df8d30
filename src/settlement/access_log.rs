//! Every eligibility lookup is recorded (who, which card, why, when) without a commit
//! of its own on the clinic's request path: the request hands its row to a writer task,
//! which writes whatever has gathered in one statement. Rows wait in memory only until
//! the next write; a graceful stop writes them before the process ends, and a failed
//! write is retried with the rows kept.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::repo::access_log::{self as repo, LookupRow};
use crate::auth::{Caller, Role};
use crate::db::DbPool;
use crate::domain::{CardNo, ClientId, Pan};
use crate::http::ApiError;
use crate::http::pagination::{Page, PageQuery};

/// Rows that may wait for the writer before a lookup waits for room.
const QUEUE: usize = 50_000;
/// Most rows one write takes.
const MAX_WRITE: usize = 5_000;

/// The request side: hands rows to the writer.
#[derive(Clone)]
pub struct AccessLog {
    rows: mpsc::Sender<LookupRow>,
}

impl AccessLog {
    /// Records one lookup; waits only when the writer is far behind.
    pub async fn record(&self, row: LookupRow) -> Result<(), ApiError> {
        self.rows.send(row).await.map_err(|_| ApiError::unavailable("stopping", "the service is stopping; ask again"))
    }
}

/// The writer: the access log handle, the task that writes, and the future that stops
/// it once the server has stopped and returns when every row is written.
pub fn writer(pool: DbPool) -> (AccessLog, LocalBoxFuture<'static, ()>, LocalBoxFuture<'static, ()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let task = Box::pin(write_rows(pool, rx, stop_rx, done_tx));
    let finish = Box::pin(async move {
        let _ = stop_tx.send(());
        let _ = done_rx.await;
    });
    (AccessLog { rows: tx }, task, finish)
}

async fn write_rows(
    pool: DbPool,
    mut rx: mpsc::Receiver<LookupRow>,
    mut stop: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
) {
    let mut rows = Vec::with_capacity(MAX_WRITE);
    loop {
        tokio::select! {
            received = rx.recv_many(&mut rows, MAX_WRITE) => {
                if received == 0 {
                    break;
                }
            }
            _ = &mut stop => {
                // No request is in flight any more: take what is queued and end.
                rx.close();
                while let Some(row) = rx.recv().await {
                    rows.push(row);
                }
                flush(&pool, &mut rows).await;
                break;
            }
        }
        flush(&pool, &mut rows).await;
    }
    flush(&pool, &mut rows).await;
    let _ = done.send(());
}

/// Writes `rows`, retrying until the database takes them.
async fn flush(pool: &DbPool, rows: &mut Vec<LookupRow>) {
    if rows.is_empty() {
        return;
    }
    let batch = std::sync::Arc::new(std::mem::take(rows));
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = batch.clone();
        match pool.write(move |conn| repo::insert(conn, &attempt).map_err(ApiError::from)).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, count = batch.len(), "eligibility log write failed; will retry");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    pub card_no: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct LookupView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub client_id: ClientId,
    pub role: String,
    pub card_no: CardNo,
    pub purpose: String,
    pub date: NaiveDate,
    pub eligible: bool,
}

/// `GET /eligibility/access-log`: for auditors and the province, oldest first.
#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Auditor, Role::ProvincialAdmin])?;
    let query = query.into_inner();
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let card_no = match query.card_no.as_deref() {
        Some(raw) => Some(CardNo::from(Pan::parse(raw).map_err(|_| ApiError::not_found("card"))?)),
        None => None,
    };
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::page(conn, card_no.as_ref(), &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<LookupView> = rows
        .into_iter()
        .map(|r| LookupView {
            id: r.id,
            at: r.at.and_utc(),
            client_id: r.client_id,
            role: r.role,
            card_no: r.card_no,
            purpose: r.purpose,
            date: r.on_date,
            eligible: r.eligible,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |v| v.id.clone())))
}
