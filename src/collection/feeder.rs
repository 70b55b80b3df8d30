//! Sends the records of submitted batches to verification, a chunk at a time: each
//! chunk moves from `received` to `pending_verification` and its message is written
//! to the outbox in the same transaction. No request waits for a whole batch.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::repo;
use crate::config::Service;
use crate::contracts::messages::{RecordToVerify, VerificationRequested};
use crate::db::{DbConnection, DbPool, now};
use crate::http::ApiError;
use crate::outbox::{self, OutboxWaker};

/// Records per verification request.
pub const CHUNK: i64 = 1000;

/// Wakes the feeder when a batch is submitted.
#[derive(Default)]
pub struct FeederWaker(Notify);

impl FeederWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The request for `rows` (all of one batch).
pub fn request(batch_id: &str, county_code: &str, rows: &[repo::RecordRow]) -> VerificationRequested {
    VerificationRequested {
        batch_id: batch_id.to_string(),
        county_code: county_code.to_string(),
        records: rows
            .iter()
            .filter_map(|r| {
                Some(RecordToVerify {
                    record_id: r.id.clone(),
                    version: r.version,
                    id_hash: r.id_hash.clone()?,
                    name: r.name.clone(),
                    sex: r.sex.clone()?,
                    birth_date: r.birth_date?,
                    ethnicity: r.ethnicity.clone()?,
                })
            })
            .collect(),
    }
}

fn to_verify(r: repo::ToVerify) -> Option<RecordToVerify> {
    Some(RecordToVerify {
        record_id: r.id,
        version: r.version,
        id_hash: r.id_hash?,
        name: r.name,
        sex: r.sex?,
        birth_date: r.birth_date?,
        ethnicity: r.ethnicity?,
    })
}

/// Where the feeder has got to in each batch it is feeding (records are sent in id
/// order). Lost on restart, which only costs one scan from the start of the batch.
type Progress = std::collections::HashMap<String, String>;

/// Moves one chunk to verification; returns how many records went. A submitted batch
/// with nothing left to send becomes `verifying`.
fn feed_chunk(conn: &mut DbConnection, progress: &mut Progress) -> Result<usize, ApiError> {
    for batch in repo::batches_to_feed(conn)? {
        let started = progress.get(&batch).cloned().unwrap_or_default();
        let mut after = started.clone();
        let rows = loop {
            let rows = repo::to_verify_in_batch(conn, &batch, &after, CHUNK)?;
            let Some(last) = rows.last().map(|r| r.id.clone()) else {
                break rows;
            };
            let live: Vec<repo::ToVerify> = rows.into_iter().filter(|r| r.live).collect();
            after = last;
            if !live.is_empty() {
                break live;
            }
            // Only rows of replaced or unfinished uploads here: read on.
        };
        if rows.is_empty() {
            if started.is_empty() {
                repo::move_batch(conn, &batch, "submitted", "verifying")?;
            }
            // Else look once more from the start (a record may have been re-staged
            // behind the cursor) before calling the batch done.
            progress.remove(&batch);
            continue;
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let moved = repo::move_state(conn, &ids, "received", "pending_verification", now())?;
        if moved != rows.len() {
            // Another replica took some of them meanwhile: leave this round to it.
            return Err(ApiError::conflict("feeder_race", "records were taken by another feeder"));
        }
        let message = VerificationRequested {
            county_code: rows[0].county_code.clone(),
            records: rows.into_iter().filter_map(to_verify).collect(),
            batch_id: batch.clone(),
        };
        outbox::enqueue(conn, Service::Verification, &message)?;
        progress.insert(batch, after);
        return Ok(moved);
    }
    Ok(0)
}

/// Runs until the process ends.
pub async fn run(pool: DbPool, waker: Arc<FeederWaker>, outbox: Arc<OutboxWaker>, poll: Duration) {
    let progress = Arc::new(std::sync::Mutex::new(Progress::new()));
    loop {
        let progress = progress.clone();
        let fed = pool
            .write(move |conn| {
                let mut progress = progress.lock().unwrap_or_else(|p| p.into_inner());
                // A failed round must not skip records: its transaction rolled back.
                let before = progress.clone();
                let result = feed_chunk(conn, &mut progress);
                if result.is_err() {
                    *progress = before;
                }
                result
            })
            .await;
        match fed {
            Ok(n) if n > 0 => {
                outbox.wake();
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "verification feeder round failed"),
        }
        tokio::select! {
            _ = waker.0.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
