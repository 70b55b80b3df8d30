//! Message payloads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Message;

/// Gateway -> every service: an API client was revoked; refuse its tokens at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRevoked {
    pub client_id: String,
    pub revoked_at: DateTime<Utc>,
}

impl Message for ClientRevoked {
    const KIND: &'static str = "client_revoked";
}

/// Collection -> verification: records to check against the household register. Sent
/// in chunks (one message per chunk of a batch, or one per corrected record).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerificationRequested {
    pub batch_id: String,
    pub county_code: String,
    pub records: Vec<RecordToVerify>,
}

impl Message for VerificationRequested {
    const KIND: &'static str = "verification_requested";
}

/// The fields of one record version that the register can confirm. The citizen ID
/// travels only as its keyed hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordToVerify {
    pub record_id: String,
    pub version: i32,
    pub id_hash: String,
    pub name: String,
    /// GB/T 2261.1 code, `1` or `2`.
    pub sex: String,
    pub birth_date: chrono::NaiveDate,
    /// GB 3304 two-digit code.
    pub ethnicity: String,
}

/// Verification -> collection: the outcome of each record of one request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerificationCompleted {
    pub batch_id: String,
    pub results: Vec<VerificationResult>,
}

impl Message for VerificationCompleted {
    const KIND: &'static str = "verification_completed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerificationResult {
    pub record_id: String,
    pub version: i32,
    pub outcome: VerificationOutcome,
    /// Every reason that applies (DOMAIN.md section 3); empty when verified.
    pub reasons: Vec<MismatchReason>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VerificationOutcome {
    Verified,
    Rejected,
}

/// One reason for a rejection, with the register's value where it helps the village
/// see the difference (names masked, e.g. 王*明).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MismatchReason {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_value: Option<String>,
}
