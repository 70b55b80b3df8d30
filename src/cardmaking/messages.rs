//! Messages card making receives (registrations from collection) and sends (card
//! progress to collection, card status to settlement).

use chrono::NaiveDateTime;
use serde::Deserialize;

use super::registration;
use super::repo::{self, CardRow, OrderRow};
use crate::config::Service;
use crate::contracts::messages::{
    CardFields, CardHolder, CardProgress, CardProgressUpdate, CardStatusChanged, RegistrationRequested,
};
use crate::contracts::{Envelope, Message};
use crate::db::DbConnection;
use crate::domain::{CardNo, CardState, OrderState, PersonName, RecordState};
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

/// Tells settlement that `card` moved to `state` at `at`, in the caller's transaction
/// (after the change's event row is written, which numbers the message).
pub fn send_status(
    conn: &mut DbConnection,
    pii: &PiiKeys,
    card: &CardRow,
    state: CardState,
    reason: Option<String>,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let status = status_message(conn, pii, card, state, reason, at)?;
    outbox::enqueue(conn, Service::Settlement, &status)?;
    Ok(())
}

/// The message for one status change of `card`: its number among the card's changes,
/// the holder as settlement needs it, and the card it replaces.
fn status_message(
    conn: &mut DbConnection,
    pii: &PiiKeys,
    card: &CardRow,
    state: CardState,
    reason: Option<String>,
    at: NaiveDateTime,
) -> Result<CardStatusChanged, ApiError> {
    let order_ids = std::slice::from_ref(&card.order_id);
    let fields_enc = repo::order_fields(conn, order_ids)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(format!("the card of order {} has no order fields", card.order_id)))?
        .fields_enc;
    let fields: CardFields =
        serde_json::from_str(&pii.decrypt(&fields_enc).map_err(ApiError::internal)?).map_err(ApiError::internal)?;
    let replaces = repo::orders_by_id(conn, order_ids)?.into_iter().next().and_then(|o| o.replaces_card);
    let name_masked = PersonName::parse(&fields.name).map(|p| p.name().mask()).unwrap_or_else(|_| "*".into());
    Ok(CardStatusChanged {
        card_no: card.card_no.clone(),
        id_hash: card.id_hash.clone(),
        county_code: card.county_code.clone(),
        state,
        reason,
        at: at.and_utc(),
        seq: repo::status_changes_until(conn, &card.card_no, at)?,
        holder: CardHolder {
            village: fields.village,
            name_masked,
            name_enc: pii.encrypt(&fields.name).map_err(ApiError::internal)?,
            sex: fields.sex,
            birth_date: fields.birth_date,
        },
        replaces,
    })
}

/// A status message as versions before the holder and the numbering wrote it. Such
/// messages waited in the outbox while settlement took none.
#[derive(Debug, Deserialize)]
struct EarlierCardStatus {
    card_no: CardNo,
    state: CardState,
    #[serde(default)]
    reason: Option<String>,
    at: chrono::DateTime<chrono::Utc>,
}

/// Rewrites status messages still waiting in the earlier form into the current one,
/// from the card they name; returns how many. Messages in the current form are left
/// as they are, so running it again does nothing.
#[tracing::instrument(skip_all)]
pub fn upgrade_waiting_status(conn: &mut DbConnection, pii: &PiiKeys) -> Result<usize, ApiError> {
    let mut upgraded = 0;
    for (id, payload) in repo::waiting_messages(conn, CardStatusChanged::KIND)? {
        if serde_json::from_str::<CardStatusChanged>(&payload).is_ok() {
            continue;
        }
        let earlier: EarlierCardStatus = serde_json::from_str(&payload)
            .map_err(|e| ApiError::internal(format!("outbox message {id} is no card status: {e}")))?;
        let card = repo::find_card(conn, &earlier.card_no)?
            .ok_or_else(|| ApiError::internal(format!("outbox message {id} names no card")))?;
        let at = earlier.at.naive_utc();
        let status = status_message(conn, pii, &card, earlier.state, earlier.reason, at)?;
        let payload = serde_json::to_string(&status).map_err(ApiError::internal)?;
        upgraded += repo::rewrite_waiting_message(conn, &id, &payload)?;
    }
    Ok(upgraded)
}
