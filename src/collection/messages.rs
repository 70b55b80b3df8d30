//! Messages collection receives: verification outcomes, registration outcomes and the
//! progress of records' cards. Each is applied inside the inbox transaction.

use std::collections::BTreeMap;

use super::repo;
use crate::contracts::messages::{
    CardProgress, MismatchReason, RegistrationCompleted, RegistrationOutcome, VerificationCompleted,
    VerificationOutcome,
};
use crate::contracts::{Envelope, Message};
use crate::db::{DbConnection, now};
use crate::domain::{CardStage, OrderId, RecordId, RecordState, StateMachine, Transition};
use crate::http::ApiError;
use crate::outbox::inbox;
use crate::pii::PiiKeys;

/// Applies a message inside the inbox transaction.
#[tracing::instrument(skip_all)]
pub fn apply(conn: &mut DbConnection, envelope: &Envelope, _pii: &PiiKeys) -> Result<(), ApiError> {
    match envelope.kind.as_str() {
        VerificationCompleted::KIND => verification_completed(conn, inbox::payload(envelope)?),
        RegistrationCompleted::KIND => registration_completed(conn, inbox::payload(envelope)?),
        CardProgress::KIND => card_progress(conn, inbox::payload(envelope)?),
        _ => Err(inbox::unknown_kind(envelope)),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

/// Applies outcomes, and queues the records that were verified now for registration
/// at card making, in the same transaction (the registration feeder sends them).
fn verification_completed(conn: &mut DbConnection, message: VerificationCompleted) -> Result<(), ApiError> {
    let at = now();
    // Records the feeder sent wait since their batch's submission; a record corrected
    // before its batch was submitted was sent as it was corrected.
    let submitted_at = repo::find_batch(conn, &message.batch_id)?.and_then(|b| b.submitted_at);
    // Outcomes with the same version, state and reasons (most are "verified, no
    // reason") are applied by one statement each.
    let mut groups: BTreeMap<(i32, &'static str, String), (RecordState, Vec<RecordId>)> = BTreeMap::new();
    for result in &message.results {
        let state = match result.outcome {
            VerificationOutcome::Verified => RecordState::Verified,
            VerificationOutcome::Rejected => RecordState::Rejected,
        };
        let group = groups.entry((result.version, state.as_str(), json(&result.reasons)?));
        group.or_insert((state, Vec::new())).1.push(result.record_id.clone());
    }
    let mut due: Vec<(RecordId, i32)> = Vec::new();
    for ((version, _, reasons), (state, ids)) in groups {
        let outcome = RecordState::PendingVerification.transition(state).map_err(ApiError::internal)?;
        // An outcome for a version that has since been corrected changes nothing.
        let applied = repo::apply_outcomes(conn, &ids, version, outcome, &reasons, submitted_at, at)?;
        if state == RecordState::Verified {
            due.extend(applied.into_iter().map(|id| (id, version)));
        }
    }
    if !due.is_empty() {
        repo::queue_registrations(conn, &due, at)?;
    }
    Ok(())
}

/// Registered records wait for their card; a citizen registered from another record
/// is a rejection saying where.
fn registration_completed(conn: &mut DbConnection, message: RegistrationCompleted) -> Result<(), ApiError> {
    let at = now();
    let refused = RecordState::Verified.transition(RecordState::Rejected).map_err(ApiError::internal)?;
    let accepted = RecordState::Verified.transition(RecordState::Registered).map_err(ApiError::internal)?;
    let mut registered: BTreeMap<i32, Vec<(RecordId, OrderId)>> = BTreeMap::new();
    for result in message.results {
        match result.outcome {
            RegistrationOutcome::Registered => registered
                .entry(result.version)
                .or_default()
                // A registration always names its order; one without is kept, as an
                // empty id, rather than lose the record's move.
                .push((result.record_id, result.order_id.unwrap_or_else(|| OrderId::from(String::new())))),
            RegistrationOutcome::AlreadyRegistered => {
                let reason = MismatchReason {
                    code: "already_registered".into(),
                    register_value: None,
                    detail: result.held_by.map(|h| {
                        format!(
                            "registered in county {} from batch {}, record {}",
                            h.county_code, h.batch_id, h.record_id
                        )
                    }),
                };
                repo::advance(
                    conn,
                    std::slice::from_ref(&result.record_id),
                    result.version,
                    refused,
                    Some(&json(&[reason])?),
                    at,
                )?;
            }
        }
    }
    for (version, records) in registered {
        let ids: Vec<RecordId> = records.iter().map(|(id, _)| id.clone()).collect();
        repo::advance(conn, &ids, version, accepted, None, at)?;
        let known: std::collections::HashSet<RecordId> =
            repo::states_of(conn, &ids)?.into_iter().map(|(id, _, _)| id).collect();
        let records: Vec<(RecordId, OrderId)> = records.into_iter().filter(|(id, _)| known.contains(id)).collect();
        repo::upsert_cards(conn, &records, CardStage::Ordered, at)?;
    }
    Ok(())
}

/// Records move forward along the card pipeline only (messages may arrive out of
/// order); the card's own state is kept as of the latest message.
fn card_progress(conn: &mut DbConnection, message: CardProgress) -> Result<(), ApiError> {
    let at = message.at.naive_utc();
    let ids: Vec<RecordId> = message.updates.iter().map(|u| u.record_id.clone()).collect();
    let known: BTreeMap<RecordId, (i32, RecordState)> =
        repo::states_of(conn, &ids)?.into_iter().map(|(id, version, state)| (id, (version, state))).collect();
    // `(record, order)` pairs per card stage, by the stage's name.
    type Cards = Vec<(RecordId, OrderId)>;
    let mut cards: BTreeMap<&'static str, (CardStage, Cards)> = BTreeMap::new();
    for update in message.updates.iter().filter(|u| known.contains_key(&u.record_id)) {
        let stage = update.card_state;
        let records = &mut cards.entry(stage.as_str()).or_insert((stage, Vec::new())).1;
        records.push((update.record_id.clone(), update.order_id.clone()));
    }
    let mut current = known;
    // Each move applies only from the state its record was read in. A record that a
    // concurrent message moved meanwhile is read again and moved from where it is
    // now, if that is still a step forward (on PostgreSQL the second writer waits for
    // the first and then finds the state changed).
    for _ in 0..MOVE_ATTEMPTS {
        type Key = (i32, &'static str, &'static str, Option<String>);
        let mut moves: BTreeMap<Key, (Transition<RecordState>, Vec<RecordId>)> = BTreeMap::new();
        for update in &message.updates {
            let (Some(target), Some((version, state))) = (update.record_state, current.get(&update.record_id)) else {
                continue;
            };
            // Along the card pipeline the table allows exactly the forward moves.
            let forward = target.progress_rank().and_then(|_| state.transition(target).ok());
            if let Some(step) = forward
                && *version == update.version
            {
                let reasons = update.reason.as_ref().map(|r| json(&[r])).transpose()?;
                let key = (*version, state.as_str(), target.as_str(), reasons);
                moves.entry(key).or_insert((step, Vec::new())).1.push(update.record_id.clone());
            }
        }
        let mut missed = Vec::new();
        for ((version, _, _, reasons), (step, ids)) in moves {
            let moved: std::collections::HashSet<RecordId> =
                repo::advance(conn, &ids, version, step, reasons.as_deref(), at)?.into_iter().collect();
            missed.extend(ids.into_iter().filter(|id| !moved.contains(id)));
        }
        if missed.is_empty() {
            break;
        }
        current =
            repo::states_of(conn, &missed)?.into_iter().map(|(id, version, state)| (id, (version, state))).collect();
    }
    for (card_state, records) in cards.into_values() {
        repo::upsert_cards(conn, &records, card_state, at)?;
    }
    Ok(())
}

/// Times a card message reads a record's state again after a concurrent move.
const MOVE_ATTEMPTS: usize = 3;
