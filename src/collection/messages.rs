//! Messages collection receives: verification outcomes.

use super::repo;
use crate::contracts::messages::{VerificationCompleted, VerificationOutcome};
use crate::contracts::{Envelope, Message};
use crate::db::{DbConnection, now};
use crate::http::ApiError;
use crate::outbox::inbox;

/// Applies a message inside the inbox transaction.
pub fn apply(conn: &mut DbConnection, envelope: &Envelope) -> Result<(), ApiError> {
    match envelope.kind.as_str() {
        VerificationCompleted::KIND => {
            let message: VerificationCompleted = inbox::payload(envelope)?;
            let at = now();
            for result in &message.results {
                let state = match result.outcome {
                    VerificationOutcome::Verified => "verified",
                    VerificationOutcome::Rejected => "rejected",
                };
                let reasons = serde_json::to_string(&result.reasons).map_err(ApiError::internal)?;
                // An outcome for a version that has since been corrected changes nothing.
                repo::apply_outcome(conn, &result.record_id, result.version, state, &reasons, at)?;
            }
            Ok(())
        }
        _ => Err(inbox::unknown_kind(envelope)),
    }
}
