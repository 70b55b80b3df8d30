//! Messages card making receives (registrations from collection) and sends (card
//! progress to collection, card status to settlement).

use chrono::NaiveDateTime;

use super::registration;
use super::repo::OrderRow;
use crate::config::Service;
use crate::contracts::messages::{CardProgress, CardProgressUpdate, CardStatusChanged, RegistrationRequested};
use crate::contracts::{Envelope, Message};
use crate::db::DbConnection;
use crate::domain::{OrderState, RecordState};
use crate::http::ApiError;
use crate::outbox::{self, inbox};
use crate::pii::PiiKeys;

/// Applies a message inside the inbox transaction.
#[tracing::instrument(skip_all)]
pub fn apply(conn: &mut DbConnection, envelope: &Envelope, _pii: &PiiKeys) -> Result<(), ApiError> {
    match envelope.kind.as_str() {
        RegistrationRequested::KIND => registration::apply(conn, inbox::payload(envelope)?),
        _ => Err(inbox::unknown_kind(envelope)),
    }
}

/// One order's progress for the county.
pub fn progress(order: &OrderRow, record_state: Option<RecordState>, order_state: OrderState) -> CardProgressUpdate {
    CardProgressUpdate {
        record_id: order.record_id.clone(),
        version: order.record_version,
        order_id: order.id.clone(),
        record_state,
        card_state: order_state.into(),
        reason: None,
    }
}

/// Updates per message: a whole lease in one message would come near the receiver's
/// body limit.
const PROGRESS_PER_MESSAGE: usize = 1000;

/// Tells collection, in the caller's transaction.
pub fn send_progress(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    updates: Vec<CardProgressUpdate>,
) -> Result<(), ApiError> {
    for chunk in updates.chunks(PROGRESS_PER_MESSAGE) {
        outbox::enqueue(conn, Service::Collection, &CardProgress { at: at.and_utc(), updates: chunk.to_vec() })?;
    }
    Ok(())
}

/// Tells settlement that a card became usable or dead, in the caller's transaction.
/// Settlement may not take these yet: the message then waits in the outbox.
pub fn send_status(conn: &mut DbConnection, status: CardStatusChanged) -> Result<(), ApiError> {
    outbox::enqueue(conn, Service::Settlement, &status)?;
    Ok(())
}
