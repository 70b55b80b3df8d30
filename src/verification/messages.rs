//! Messages verification receives: `verification_requested` from collection. Applied
//! inside the inbox transaction, so a redelivered message has no second effect.

use std::collections::HashMap;

use super::matching::{self, RegisterFact};
use super::repo::{self, MatchRow};
use crate::config::Service;
use crate::contracts::messages::{
    VerificationCompleted, VerificationOutcome, VerificationRequested, VerificationResult,
};
use crate::contracts::{Envelope, Message};
use crate::db::{DbConnection, now};
use crate::http::ApiError;
use crate::outbox::{self, inbox};
use crate::pii::PiiKeys;

pub fn outcome_str(outcome: VerificationOutcome) -> &'static str {
    match outcome {
        VerificationOutcome::Verified => "verified",
        VerificationOutcome::Rejected => "rejected",
    }
}

/// Matches the records of one request against the active snapshot with one lookup,
/// records every outcome for audit and answers collection through the outbox, all in
/// the inbox transaction. Without any imported snapshot the message is refused with
/// 503 `register_not_loaded` and the sender retries it later.
#[tracing::instrument(skip_all)]
pub fn apply(conn: &mut DbConnection, envelope: &Envelope, _pii: &PiiKeys) -> Result<(), ApiError> {
    if envelope.kind != VerificationRequested::KIND {
        return Err(inbox::unknown_kind(envelope));
    }
    let request: VerificationRequested = inbox::payload(envelope)?;
    let mut hashes: Vec<String> = request.records.iter().map(|r| r.id_hash.clone()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let (snapshot_id, found) = repo::lookup_active(conn, &hashes)?.ok_or_else(|| {
        ApiError::unavailable("register_not_loaded", "no household register snapshot has been imported yet")
    })?;
    let matched_at = now();
    let message_id = envelope.id.to_string();
    let none: Vec<RegisterFact> = Vec::new();
    let mut rows = Vec::with_capacity(request.records.len());
    let mut results = Vec::with_capacity(request.records.len());
    for record in &request.records {
        let entries = found.get(&record.id_hash).unwrap_or(&none);
        let reasons = matching::compare(record, entries);
        let outcome = matching::outcome(&reasons);
        rows.push(MatchRow {
            id: uuid::Uuid::now_v7().to_string(),
            record_id: record.record_id.clone(),
            version: record.version,
            batch_id: request.batch_id.clone(),
            message_id: message_id.clone(),
            outcome: outcome_str(outcome).to_string(),
            reasons: serde_json::to_string(&reasons).map_err(ApiError::internal)?,
            snapshot_id: snapshot_id.clone(),
            matched_at,
        });
        results.push(VerificationResult {
            record_id: record.record_id.clone(),
            version: record.version,
            outcome,
            reasons,
        });
    }
    repo::insert_matches(conn, &rows)?;
    let counts = results.iter().fold(HashMap::<&str, usize>::new(), |mut m, r| {
        *m.entry(outcome_str(r.outcome)).or_default() += 1;
        m
    });
    tracing::info!(batch_id = %request.batch_id, records = results.len(), verified = counts.get("verified").copied().unwrap_or(0), "records matched");
    outbox::enqueue(conn, Service::Collection, &VerificationCompleted { batch_id: request.batch_id, results })?;
    Ok(())
}
