//! Messages collection receives: verification outcomes.

use std::collections::BTreeMap;

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
            // Outcomes with the same version, state and reasons (most are "verified, no
            // reason") are applied by one statement each.
            let mut groups: BTreeMap<(i32, &'static str, String), Vec<String>> = BTreeMap::new();
            for result in &message.results {
                let state = match result.outcome {
                    VerificationOutcome::Verified => "verified",
                    VerificationOutcome::Rejected => "rejected",
                };
                let reasons = serde_json::to_string(&result.reasons).map_err(ApiError::internal)?;
                groups.entry((result.version, state, reasons)).or_default().push(result.record_id.clone());
            }
            for ((version, state, reasons), ids) in groups {
                // An outcome for a version that has since been corrected changes nothing.
                repo::apply_outcomes(conn, &ids, version, state, &reasons, at)?;
            }
            Ok(())
        }
        _ => Err(inbox::unknown_kind(envelope)),
    }
}
