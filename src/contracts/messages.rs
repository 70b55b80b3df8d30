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
