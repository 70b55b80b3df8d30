//! Message payloads.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Message;
use crate::domain::{BatchId, CardNo, CardStage, CardState, ClientId, OrderId, RecordId, RecordState};

/// Gateway -> every service: an API client was revoked; refuse its tokens at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRevoked {
    pub client_id: ClientId,
    pub revoked_at: DateTime<Utc>,
}

impl Message for ClientRevoked {
    const KIND: &'static str = "client_revoked";
}

/// The most records one verification request carries (and so one outcome answers).
pub const MAX_RECORDS_PER_VERIFICATION: usize = 2000;

/// Collection -> verification: records to check against the household register. Sent
/// in chunks (one message per chunk of a batch, or one per corrected record).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerificationRequested {
    pub batch_id: BatchId,
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
    pub record_id: RecordId,
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
    pub batch_id: BatchId,
    pub results: Vec<VerificationResult>,
}

impl Message for VerificationCompleted {
    const KIND: &'static str = "verification_completed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerificationResult {
    pub record_id: RecordId,
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
    /// Free text from whoever found the problem (a card maker's failure message, where
    /// the other registration is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What is printed on and written to a card, taken from one verified record version.
/// Between services it travels only encrypted with the shared personal-data key
/// ([`Registration::fields_enc`]), so no outbox holds it in clear.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CardFields {
    pub name: String,
    /// GB/T 2261.1 code, `1` or `2`.
    pub sex: String,
    /// GB 3304 two-digit code.
    pub ethnicity: String,
    pub birth_date: chrono::NaiveDate,
    pub citizen_id: String,
    pub address: String,
    pub ncms_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub county_code: String,
    pub village: String,
}

/// Collection -> cardmaking: verified records to register in the provincial resident
/// master index, each to become a card order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationRequested {
    pub registrations: Vec<Registration>,
}

impl Message for RegistrationRequested {
    const KIND: &'static str = "registration_requested";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub record_id: RecordId,
    pub version: i32,
    pub batch_id: BatchId,
    pub county_code: String,
    pub village: String,
    /// Keyed hash of the citizen ID: the master index's key.
    pub id_hash: String,
    /// [`CardFields`] as JSON, encrypted with the shared personal-data key.
    pub fields_enc: String,
}

/// Cardmaking -> collection: what became of each registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationCompleted {
    pub results: Vec<RegistrationResult>,
}

impl Message for RegistrationCompleted {
    const KIND: &'static str = "registration_completed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationResult {
    pub record_id: RecordId,
    pub version: i32,
    pub outcome: RegistrationOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    /// For `already_registered`: the registration that holds the citizen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<Holding>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationOutcome {
    Registered,
    /// The citizen already holds a live card or an open order from another record.
    AlreadyRegistered,
}

/// Where a citizen is registered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holding {
    pub county_code: String,
    pub batch_id: BatchId,
    pub record_id: RecordId,
}

/// Cardmaking -> collection: how far the cards of some records have come. All updates
/// of one message happened at `at` (one lease, one set of results, one action).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardProgress {
    pub at: DateTime<Utc>,
    pub updates: Vec<CardProgressUpdate>,
}

impl Message for CardProgress {
    const KIND: &'static str = "card_progress";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardProgressUpdate {
    pub record_id: RecordId,
    /// The record version the card order was made from.
    pub version: i32,
    pub order_id: OrderId,
    /// The record's new state in the county's view (`in_production`, `produced`,
    /// `production_failed`, `issued`, `activated`); none once the card is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_state: Option<RecordState>,
    /// The order's or card's state (`ordered`, `leased`, `failed`, or a card state).
    pub card_state: CardStage,
    /// Why production failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<MismatchReason>,
}

/// Cardmaking -> settlement: a card became usable (`activated`) or dead (`replaced`,
/// `cancelled`), or was reported lost or found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardStatusChanged {
    pub card_no: CardNo,
    /// Keyed hash of the holder's citizen ID: settlement's key of a person, so that a
    /// replacement card carries the person's enrollment, premium and caps over.
    pub id_hash: String,
    pub county_code: String,
    pub state: CardState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// The card's status messages count from 1 without a gap; settlement applies them
    /// in this order whatever order they arrive in.
    pub seq: i64,
    pub holder: CardHolder,
    /// For a replacement card, the card it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<CardNo>,
}

impl Message for CardStatusChanged {
    const KIND: &'static str = "card_status_changed";
}

/// What settlement knows of a card's holder: enough for disclosure (village, masked
/// name) and for age rules, and no citizen ID.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CardHolder {
    pub village: String,
    /// 王*明.
    pub name_masked: String,
    /// The full name, encrypted with the shared personal-data key.
    pub name_enc: String,
    /// GB/T 2261.1 code, `1` or `2`.
    pub sex: String,
    pub birth_date: NaiveDate,
}
