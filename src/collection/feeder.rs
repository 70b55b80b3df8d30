//! Sends the records of submitted batches to verification, a chunk at a time: the
//! chunk's message is written to the outbox and the batch's place moved past the chunk
//! in the same transaction. No request waits for a whole batch.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::repo;
use crate::config::Service;
use crate::contracts::messages::{MAX_RECORDS_PER_VERIFICATION, RecordToVerify, VerificationRequested};
use crate::db::{DbConnection, DbPool};
use crate::domain::{BatchId, BatchState, StateMachine};
use crate::http::ApiError;
use crate::outbox::{self, OutboxWaker};

/// Records per verification request. Each request costs both services a transaction,
/// an HTTP exchange and a handful of statements whatever its size: 2,000 took a tenth
/// off verifying a 1,000,000-record batch against 1,000 (BENCHMARKS.md, session 9).
/// The outcome message stays under the inbox's limit ([`crate::outbox::inbox::MESSAGE_LIMIT`]).
pub const CHUNK: i64 = MAX_RECORDS_PER_VERIFICATION as i64;

/// Wakes the feeder when a batch is submitted.
#[derive(Default)]
pub struct FeederWaker(Notify);

impl FeederWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The request for `rows` (all of one batch).
pub fn request(batch_id: &BatchId, county_code: &str, rows: &[repo::RecordRow]) -> VerificationRequested {
    VerificationRequested {
        batch_id: batch_id.clone(),
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

/// Moves one chunk to verification; returns how many records went. The records stay
/// `received` (they are seen as `pending_verification` since their batch was
/// submitted, see [`repo::as_seen`]); the batch keeps the feeder's place, moved in the
/// same transaction as the chunk's message is written, so that a chunk is sent once
/// even with several replicas or after a restart. A submitted batch with nothing left
/// to send becomes `verifying`: after submission no record enters `received` (uploads
/// are refused, corrections are sent as they are made).
fn feed_chunk(conn: &mut DbConnection) -> Result<usize, ApiError> {
    for (batch, fed_through) in repo::batches_to_feed(conn)? {
        let mut after = fed_through.clone();
        let current = repo::current_uploads(conn, &batch)?;
        let rows = loop {
            let rows = repo::to_verify_in_batch(conn, &batch, after.as_ref(), CHUNK)?;
            let Some(last) = rows.last().map(|r| r.id.clone()) else {
                break rows;
            };
            let live: Vec<repo::ToVerify> =
                rows.into_iter().filter(|r| current.get(&r.part_no) == Some(&r.upload_id)).collect();
            after = Some(last);
            if !live.is_empty() {
                break live;
            }
            // Only rows of replaced or unfinished uploads here: read on.
        };
        // A chunk to send always moved the place, so `after` is set then.
        let Some(through) = after.as_ref().filter(|_| !rows.is_empty()) else {
            let sent = BatchState::Submitted.transition(BatchState::Verifying).map_err(ApiError::internal)?;
            repo::move_batch(conn, &batch, sent)?;
            continue;
        };
        if !repo::advance_feeder(conn, &batch, fed_through.as_ref(), through)? {
            // Another replica sent this chunk meanwhile.
            return Err(ApiError::conflict("feeder_race", "records were taken by another feeder"));
        }
        let message = VerificationRequested {
            county_code: rows[0].county_code.clone(),
            records: rows.into_iter().filter_map(to_verify).collect(),
            batch_id: batch.clone(),
        };
        let sent = message.records.len();
        outbox::enqueue(conn, Service::Verification, &message)?;
        // The place moved even if no row had the fields to send: report progress, so
        // that the feeder goes on at once.
        return Ok(sent.max(1));
    }
    Ok(0)
}

/// Runs until the process ends.
pub async fn run(pool: DbPool, waker: Arc<FeederWaker>, outbox: Arc<OutboxWaker>, poll: Duration) {
    loop {
        let fed = pool.write(feed_chunk).await;
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
