//! Messages settlement receives: card status from card making.

use super::holders;
use crate::contracts::messages::CardStatusChanged;
use crate::contracts::{Envelope, Message};
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::outbox::inbox;
use crate::pii::PiiKeys;

/// Applies a message inside the inbox transaction.
#[tracing::instrument(skip_all)]
pub fn apply(conn: &mut DbConnection, envelope: &Envelope, _pii: &PiiKeys) -> Result<(), ApiError> {
    match envelope.kind.as_str() {
        CardStatusChanged::KIND => holders::apply_status(conn, inbox::payload(envelope)?),
        _ => Err(inbox::unknown_kind(envelope)),
    }
}
