//! The wire types between services: the only thing one service knows of another.
//! Every message travels in an [`Envelope`] to `POST /internal/v1/messages` of its
//! destination, delivered at least once by the sender's outbox dispatcher; receivers
//! apply it exactly once by recording its id in their inbox.

pub mod client;
pub mod messages;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Path every service receives messages on.
pub const MESSAGES_PATH: &str = "/internal/v1/messages";

/// One message from one service to another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per message; the receiver's idempotency key.
    pub id: uuid::Uuid,
    /// Sending service (`gateway`, `collection`, ...).
    pub source: String,
    /// Message kind, e.g. `client_revoked`.
    pub kind: String,
    pub created_at: DateTime<Utc>,
    /// The message itself, kept as its JSON text: the receiver reads it straight into
    /// the message's type (a tree of a 1,000-record chunk first cost a small
    /// allocation per field), and the sender sends the text its outbox stored.
    pub payload: Box<serde_json::value::RawValue>,
}

/// The receiver's answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    /// The effect was applied now.
    Applied,
    /// The message had been applied before; nothing was done.
    Duplicate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiptBody {
    pub receipt: Receipt,
}

/// A message type with its stable kind name.
pub trait Message: Serialize + serde::de::DeserializeOwned {
    const KIND: &'static str;
}
