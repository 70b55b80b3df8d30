//! The typed client that carries envelopes to another service.

use std::time::Duration;

use super::{Envelope, MESSAGES_PATH, ReceiptBody};

/// Why a delivery did not go through (the dispatcher retries).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("transport: {0}")]
    Transport(String),
    #[error("refused with HTTP {status}: {body}")]
    Refused { status: u16, body: String },
}

/// Posts envelopes to services' message endpoints.
#[derive(Clone)]
pub struct MessageClient {
    http: reqwest::Client,
}

impl MessageClient {
    pub fn new(timeout: Duration) -> Result<Self, SendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| SendError::Transport(e.to_string()))?;
        Ok(MessageClient { http })
    }

    /// Delivers `envelope` to the service at `base_url`.
    #[tracing::instrument(skip_all, fields(message_id = %envelope.id, kind = %envelope.kind))]
    pub async fn send(&self, base_url: &str, token: &str, envelope: &Envelope) -> Result<ReceiptBody, SendError> {
        let response = self
            .http
            .post(format!("{base_url}{MESSAGES_PATH}"))
            .bearer_auth(token)
            .json(envelope)
            .send()
            .await
            .map_err(|e| SendError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(500).collect();
            return Err(SendError::Refused { status: status.as_u16(), body });
        }
        response.json::<ReceiptBody>().await.map_err(|e| SendError::Transport(e.without_url().to_string()))
    }
}
