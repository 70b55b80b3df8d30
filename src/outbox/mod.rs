//! Transactional outbox and inbox.
//!
//! A message is written with [`enqueue`] inside the transaction of the state change
//! that causes it; the [`dispatcher::Dispatcher`] delivers it afterwards with retries and
//! exponential backoff (at least once); the receiver records the message id in its
//! inbox in the same transaction as the effect ([`inbox`]), so the effect happens once.

pub mod dispatcher;
pub mod inbox;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use tokio::sync::Notify;

use crate::config::Service;
use crate::contracts::Message;
use crate::db::{DbConnection, now};

diesel::table! {
    outbox_messages (id) {
        id -> Text,
        destination -> Text,
        kind -> Text,
        payload -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

/// Wakes the dispatcher when a transaction that enqueued messages has committed, so
/// delivery does not wait for the next poll.
#[derive(Default)]
pub struct OutboxWaker(Notify);

impl OutboxWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
    pub async fn woken(&self) {
        self.0.notified().await;
    }
}

/// Writes `message` for `destination` in the caller's transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub fn enqueue<M: Message>(conn: &mut DbConnection, destination: Service, message: &M) -> QueryResult<uuid::Uuid> {
    let id = uuid::Uuid::now_v7();
    let payload = serde_json::to_string(message).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let now = now();
    diesel::insert_into(outbox_messages::table)
        .values((
            outbox_messages::id.eq(id.to_string()),
            outbox_messages::destination.eq(destination.name()),
            outbox_messages::kind.eq(M::KIND),
            outbox_messages::payload.eq(payload),
            outbox_messages::created_at.eq(now),
            outbox_messages::attempts.eq(0),
            outbox_messages::next_attempt_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Undelivered messages of `kind` for `destination`: lets a producer hold back while
/// its receiver is behind, so that other messages are not queued behind a flood.
#[tracing::instrument(level = "debug", skip_all)]
pub fn waiting(conn: &mut DbConnection, destination: Service, kind: &str) -> QueryResult<i64> {
    use outbox_messages::dsl as o;
    o::outbox_messages
        .filter(o::delivered_at.is_null())
        .filter(o::destination.eq(destination.name()))
        .filter(o::kind.eq(kind))
        .count()
        .get_result(conn)
}

/// Undelivered messages: how many, and how old the oldest is.
#[derive(Debug, Clone, Copy)]
pub struct Backlog {
    pub count: i64,
    pub oldest_age_secs: f64,
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn backlog(conn: &mut DbConnection) -> QueryResult<Backlog> {
    use outbox_messages::dsl as o;
    let count: i64 = o::outbox_messages.filter(o::delivered_at.is_null()).count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = o::outbox_messages
        .filter(o::delivered_at.is_null())
        .select(o::created_at)
        .order(o::created_at.asc())
        .first(conn)
        .optional()?;
    let oldest_age_secs = oldest.map(|t| (now() - t).as_seconds_f64().max(0.0)).unwrap_or(0.0);
    Ok(Backlog { count, oldest_age_secs })
}
