//! Delivers outbox messages: claims due messages with a lease (so replicas never send
//! the same message at the same time; PostgreSQL uses `FOR UPDATE SKIP LOCKED`), sends
//! them, marks them delivered, and reschedules failures with exponential backoff.
//! Nothing is ever dropped: a message that keeps failing stays in the backlog, visible
//! in `/metrics`, until someone fixes the receiver.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamp};
use futures_util::StreamExt;

use super::{OutboxWaker, outbox_messages};
use crate::auth::{Role, SigningKeys};
use crate::config::{Secret, Service};
use crate::contracts::Envelope;
use crate::contracts::client::{MessageClient, SendError};
use crate::db::{DbConnection, DbError, DbPool, now};
use crate::domain::ClientId;
use crate::http::metrics::Metrics;

const BATCH: i64 = 100;
/// Deliveries in flight at once per dispatcher.
const IN_FLIGHT: usize = 4;
const MAX_BACKOFF_SECONDS: i64 = 300;

/// Delay before attempt `attempts + 1`: 0.5 s doubling up to 5 minutes.
pub fn backoff(attempts: i32) -> TimeDelta {
    let exp = attempts.clamp(0, 20) as u32;
    let millis = 500_i64.saturating_mul(1_i64 << exp);
    TimeDelta::milliseconds(millis.min(MAX_BACKOFF_SECONDS * 1000))
}

#[derive(QueryableByName, Queryable, Debug)]
struct Due {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    destination: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// Claims up to `BATCH` due messages until `lease_until`, in the caller's transaction:
/// another dispatcher (another replica) passes by the rows claimed here.
fn claim(conn: &mut DbConnection, lease_until: NaiveDateTime) -> QueryResult<Vec<Due>> {
    use outbox_messages::dsl as o;
    let due = o::outbox_messages
        .filter(o::delivered_at.is_null())
        .filter(o::next_attempt_at.le(now()))
        .order(o::next_attempt_at.asc())
        .limit(BATCH)
        .select((o::id, o::destination, o::kind, o::payload, o::created_at, o::attempts));
    let due: Vec<Due> = crate::db::claim(conn, due)?;
    let ids: Vec<&str> = due.iter().map(|d| d.id.as_str()).collect();
    diesel::update(o::outbox_messages.filter(o::id.eq_any(ids)))
        .set(o::next_attempt_at.eq(lease_until))
        .execute(conn)?;
    Ok(due)
}

fn mark_delivered(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    use outbox_messages::dsl as o;
    diesel::update(o::outbox_messages.find(id))
        .set((o::delivered_at.eq(Some(now())), o::attempts.eq(o::attempts + 1), o::last_error.eq(None::<String>)))
        .execute(conn)
}

fn reschedule(conn: &mut DbConnection, id: &str, attempts: i32, error: &str) -> QueryResult<usize> {
    use outbox_messages::dsl as o;
    let next = now() + backoff(attempts);
    diesel::update(o::outbox_messages.find(id))
        .set((o::attempts.eq(attempts + 1), o::next_attempt_at.eq(next), o::last_error.eq(Some(error))))
        .execute(conn)
}

/// Where a service's bearer tokens for service-to-service calls come from.
pub enum TokenSource {
    /// Signed in this process, which holds the gateway's key (the gateway itself, or
    /// every service inside `healthcard all`).
    Local(Arc<SigningKeys>),
    /// Client credentials of a `service` client, exchanged at the gateway.
    ClientCredentials { token_url: String, client_id: String, client_secret: Secret, http: reqwest::Client },
    /// A standalone service without credentials: its messages wait in the outbox.
    Missing,
}

/// Service tokens, reused until half their lifetime has passed.
pub struct ServiceTokens {
    source: TokenSource,
    sender: Service,
    /// The token, until when it is used, and (signed here) the `kid` it was signed with.
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: String,
    valid_until: std::time::Instant,
    kid: Option<String>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

impl ServiceTokens {
    pub fn new(source: TokenSource, sender: Service) -> Self {
        ServiceTokens { source, sender, cached: tokio::sync::Mutex::new(None) }
    }

    async fn token(&self) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        // A token signed here is signed again once the key has been rotated, so that no
        // message waits on a key about to retire.
        let current_kid = match &self.source {
            TokenSource::Local(keys) => Some(keys.kid()),
            _ => None,
        };
        if let Some(c) = cached.as_ref()
            && std::time::Instant::now() < c.valid_until
            && c.kid == current_kid
        {
            return Ok(c.token.clone());
        }
        let (token, ttl) = match &self.source {
            TokenSource::Local(keys) => keys
                .issue(&ClientId::from(format!("service:{}", self.sender.name())), Role::Service, Vec::new())
                .map_err(|e| e.to_string())?,
            TokenSource::ClientCredentials { token_url, client_id, client_secret, http } => {
                let body = serde_json::json!({"client_id": client_id, "client_secret": client_secret.expose()});
                let response =
                    http.post(token_url).json(&body).send().await.map_err(|e| e.without_url().to_string())?;
                if !response.status().is_success() {
                    return Err(format!("token endpoint answered {}", response.status()));
                }
                let answer: TokenAnswer = response.json().await.map_err(|e| e.without_url().to_string())?;
                (answer.access_token, answer.expires_in)
            }
            TokenSource::Missing => {
                return Err(format!(
                    "no service credentials: set HEALTHCARD_{0}_CLIENT_ID and HEALTHCARD_{0}_CLIENT_SECRET",
                    self.sender.env_name()
                ));
            }
        };
        let valid_until = std::time::Instant::now() + Duration::from_secs(ttl / 2);
        let kid = jsonwebtoken::decode_header(&token).ok().and_then(|h| h.kid);
        *cached = Some(CachedToken { token: token.clone(), valid_until, kid });
        Ok(token)
    }

    /// Forgets the token after a receiver refused it (its key retired early, say), so
    /// that the next delivery asks for a new one.
    async fn forget(&self) {
        *self.cached.lock().await = None;
    }
}

/// The dispatcher of one service's outbox.
pub struct Dispatcher {
    pub pool: DbPool,
    pub source: Service,
    /// Base URL of each destination service.
    pub urls: Vec<(Service, String)>,
    pub client: MessageClient,
    pub tokens: Arc<ServiceTokens>,
    pub waker: Arc<OutboxWaker>,
    pub metrics: Arc<Metrics>,
    pub poll: Duration,
    pub lease: Duration,
    /// Test-only: exit after a successful send, before marking it delivered.
    pub fault_exit_after_send: bool,
}

impl Dispatcher {
    /// Runs until the process ends.
    pub async fn run(self) {
        loop {
            let sent = match self.round().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox dispatch round failed");
                    0
                }
            };
            if sent == 0 {
                tokio::select! {
                    _ = self.waker.woken() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                }
            }
        }
    }

    /// One claim-and-send round; returns how many messages it handled.
    async fn round(&self) -> Result<usize, DbError> {
        let lease = TimeDelta::from_std(self.lease).unwrap_or(TimeDelta::seconds(30));
        let due = self.pool.write(move |conn| claim(conn, now() + lease).map_err(DbError::from)).await?;
        let count = due.len();
        // A few deliveries in flight at once: each waits mostly on the receiver's
        // transaction, and receivers take concurrent requests.
        let results: Vec<Result<(), DbError>> = futures_util::stream::iter(due)
            .map(|message| self.deliver(message))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, DbError>>()?;
        Ok(count)
    }

    async fn deliver(&self, message: Due) -> Result<(), DbError> {
        let Some(destination) = Service::parse(&message.destination) else {
            tracing::error!(destination = %message.destination, "outbox message for an unknown service");
            let id = message.id.clone();
            let attempts = message.attempts;
            return self
                .pool
                .write(move |conn| {
                    reschedule(conn, &id, attempts, "unknown destination").map(|_| ()).map_err(DbError::from)
                })
                .await;
        };
        let url = self.urls.iter().find(|(s, _)| *s == destination).map(|(_, u)| u.clone()).unwrap_or_default();
        let result = match (
            uuid::Uuid::parse_str(&message.id),
            serde_json::value::RawValue::from_string(message.payload.clone()),
        ) {
            (Ok(id), Ok(payload)) => {
                let envelope = Envelope {
                    id,
                    source: self.source.name().to_string(),
                    kind: message.kind.clone(),
                    created_at: message.created_at.and_utc(),
                    payload,
                };
                match self.tokens.token().await {
                    Ok(token) => match self.client.send(&url, &token, &envelope).await {
                        Ok(receipt) => Ok(receipt),
                        Err(e) => {
                            if matches!(e, SendError::Refused { status: 401, .. }) {
                                self.tokens.forget().await;
                            }
                            Err(e.to_string())
                        }
                    },
                    Err(e) => Err(format!("token: {e}")),
                }
            }
            _ => Err("stored message is not valid".to_string()),
        };
        let id = message.id.clone();
        match result {
            Ok(_) => {
                self.metrics.outbox_deliveries.with_label_values(&[destination.name(), "delivered"]).inc();
                if self.fault_exit_after_send {
                    tracing::warn!("fault injection: exiting after send, before marking delivered");
                    std::process::exit(86);
                }
                self.pool.write(move |conn| mark_delivered(conn, &id).map(|_| ()).map_err(DbError::from)).await
            }
            Err(error) => {
                self.metrics.outbox_deliveries.with_label_values(&[destination.name(), "failed"]).inc();
                tracing::info!(message_id = %message.id, destination = destination.name(), attempts = message.attempts + 1, %error, "outbox delivery failed; will retry");
                let attempts = message.attempts;
                self.pool
                    .write(move |conn| reschedule(conn, &id, attempts, &error).map(|_| ()).map_err(DbError::from))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), TimeDelta::milliseconds(500));
        assert_eq!(backoff(1), TimeDelta::seconds(1));
        assert_eq!(backoff(3), TimeDelta::seconds(4));
        assert_eq!(backoff(30), TimeDelta::seconds(300));
        assert_eq!(backoff(-5), TimeDelta::milliseconds(500));
    }
}
