//! `Idempotency-Key` for POSTs that create something or move money.
//!
//! Insert-first: the key row is claimed in its own short transaction (a concurrent
//! duplicate then sees it and gets `409 idempotency_key_in_progress`); the use case's
//! effect and the stored response commit together in a second transaction, so a replay
//! can never see an effect without its response. A claim left by a crashed process
//! expires and can be taken over.
//!
//! A stored response may hold personal data (a lease lists citizens; a new client's
//! secret is shown once): it is stored encrypted with the service's personal-data key,
//! and every key is purged after the retention period
//! (`HEALTHCARD_IDEMPOTENCY_RETENTION_SECONDS`, a day by default) by [`purge_worker`].
//!
//! A body too large to hold is hashed as it streams ([`BodyHash`]); its key is read
//! before the body and claimed once the body is in ([`PendingKey`]).

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderName;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::db::{DbConnection, DbPool, now};
use crate::domain::ClientId;
use crate::pii::PiiKeys;

pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a claimed key may stay without a response before another request takes it.
const CLAIM_SECONDS: i64 = 60;

diesel::table! {
    idempotency_keys (client_id, idem_key) {
        client_id -> Text,
        idem_key -> Text,
        request_hash -> Text,
        status_code -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        locked_until -> Timestamp,
        created_at -> Timestamp,
    }
}

/// A validated idempotency key of one client.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    client_id: ClientId,
    key: String,
    request_hash: String,
    /// Seals the stored response: the service's personal-data key.
    seal: actix_web::web::Data<PiiKeys>,
}

impl IdempotencyKey {
    /// Reads the header; `None` when the request has none. `body` is the raw request
    /// body, hashed with the method and path to tell "same request" from "key reused".
    pub fn from_request(req: &HttpRequest, client_id: &ClientId, body: &[u8]) -> Result<Option<Self>, ApiError> {
        let mut hash = Sha256::new();
        hash.update(req.method().as_str().as_bytes());
        hash.update(b" ");
        hash.update(req.path().as_bytes());
        hash.update(b"\n");
        hash.update(body);
        IdempotencyKey::read(req, client_id, hex(&hash.finalize()))
    }

    /// Reads the header of a request whose body is streamed, before the body: the key
    /// is checked now, its request hash is added once the body has been read.
    pub fn before_streamed_body(req: &HttpRequest, client_id: &ClientId) -> Result<Option<PendingKey>, ApiError> {
        Ok(IdempotencyKey::read(req, client_id, String::new())?.map(PendingKey))
    }

    fn read(req: &HttpRequest, client_id: &ClientId, request_hash: String) -> Result<Option<Self>, ApiError> {
        let Some(value) = req.headers().get(HEADER) else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b)))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                )
            })?;
        let seal = req.app_data::<actix_web::web::Data<PiiKeys>>().cloned().ok_or_else(|| {
            ApiError::internal("this service has no personal-data key to seal idempotent responses with")
        })?;
        Ok(Some(IdempotencyKey { client_id: client_id.clone(), key: key.to_string(), request_hash, seal }))
    }
}

/// The request hash of a body too large to hold, built as it streams: the method, path
/// and query string (a streamed upload's parameters travel there), then every byte.
#[derive(Clone)]
pub struct BodyHash(Sha256);

impl BodyHash {
    pub fn of_request(req: &HttpRequest) -> BodyHash {
        let mut hash = Sha256::new();
        hash.update(req.method().as_str().as_bytes());
        hash.update(b" ");
        hash.update(req.path().as_bytes());
        hash.update(b"?");
        hash.update(req.query_string().as_bytes());
        hash.update(b"\n");
        BodyHash(hash)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// An `Idempotency-Key` read before its streamed body (see
/// [`IdempotencyKey::before_streamed_body`]).
#[derive(Debug, Clone)]
pub struct PendingKey(IdempotencyKey);

impl PendingKey {
    /// The key, once the body it came with has been read whole into `hash`.
    pub fn with_body(self, hash: BodyHash) -> IdempotencyKey {
        IdempotencyKey { request_hash: hex(&hash.0.finalize()), ..self.0 }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

enum Claim {
    New,
    Replay { status: u16, body: String },
}

#[derive(Queryable)]
struct KeyRow {
    request_hash: String,
    status_code: Option<i32>,
    response_body: Option<String>,
    locked_until: NaiveDateTime,
}

fn claim(conn: &mut DbConnection, key: &IdempotencyKey) -> Result<Claim, ApiError> {
    use idempotency_keys::dsl as k;
    let now = now();
    let until = now + chrono::TimeDelta::seconds(CLAIM_SECONDS);
    let existing: Option<KeyRow> = k::idempotency_keys
        .filter(k::client_id.eq(&key.client_id))
        .filter(k::idem_key.eq(&key.key))
        .select((k::request_hash, k::status_code, k::response_body, k::locked_until))
        .first(conn)
        .optional()?;
    match existing {
        None => {
            diesel::insert_into(k::idempotency_keys)
                .values((
                    k::client_id.eq(&key.client_id),
                    k::idem_key.eq(&key.key),
                    k::request_hash.eq(&key.request_hash),
                    k::locked_until.eq(until),
                    k::created_at.eq(now),
                ))
                .execute(conn)
                .map_err(|e| match e {
                    diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                        in_progress()
                    }
                    other => ApiError::from(other),
                })?;
            Ok(Claim::New)
        }
        Some(row) if row.request_hash != key.request_hash => Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )),
        Some(KeyRow { status_code: Some(status), response_body: Some(sealed), .. }) => {
            // Responses stored before they were sealed are read as they are until the
            // retention period purges them.
            let body = key.seal.decrypt(&sealed).unwrap_or(sealed);
            Ok(Claim::Replay { status: u16::try_from(status).unwrap_or(200), body })
        }
        Some(row) if row.locked_until > now => Err(in_progress()),
        Some(_) => {
            // The first attempt died without answering: take the claim over.
            diesel::update(
                k::idempotency_keys.filter(k::client_id.eq(&key.client_id)).filter(k::idem_key.eq(&key.key)),
            )
            .set(k::locked_until.eq(until))
            .execute(conn)?;
            Ok(Claim::New)
        }
    }
}

fn in_progress() -> ApiError {
    ApiError::conflict("idempotency_key_in_progress", "a request with this Idempotency-Key is still being processed")
}

fn store(conn: &mut DbConnection, key: &IdempotencyKey, status: u16, body: &str) -> Result<usize, ApiError> {
    use idempotency_keys::dsl as k;
    let sealed = key.seal.encrypt(body).map_err(ApiError::internal)?;
    Ok(diesel::update(k::idempotency_keys.filter(k::client_id.eq(&key.client_id)).filter(k::idem_key.eq(&key.key)))
        .set((k::status_code.eq(i32::from(status)), k::response_body.eq(sealed)))
        .execute(conn)?)
}

/// Deletes the keys created before `before`; returns how many.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    use idempotency_keys::dsl as k;
    diesel::delete(k::idempotency_keys.filter(k::created_at.lt(before))).execute(conn)
}

/// Purges keys older than `retention`, now and then, as long as the service runs.
pub async fn purge_worker(pool: DbPool, retention: std::time::Duration) {
    let every = (retention / 4).clamp(std::time::Duration::from_millis(200), std::time::Duration::from_secs(600));
    loop {
        let before = now() - chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::days(1));
        match pool.write(move |conn| purge(conn, before).map_err(ApiError::from)).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "idempotency keys past their retention purged"),
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
        tokio::time::sleep(every).await;
    }
}

fn release(conn: &mut DbConnection, key: &IdempotencyKey) -> QueryResult<usize> {
    use idempotency_keys::dsl as k;
    diesel::delete(k::idempotency_keys.filter(k::client_id.eq(&key.client_id)).filter(k::idem_key.eq(&key.key)))
        .execute(conn)
}

/// Runs a use case in one write transaction, at most once per idempotency key: `effect`
/// returns the status and JSON body of the success; errors other than 5xx are stored
/// and replayed too, since the same request would fail the same way.
pub async fn run<T, F>(
    pool: &DbPool,
    key: Option<IdempotencyKey>,
    status: StatusCode,
    effect: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
{
    let Some(key) = key else {
        let value = pool.write(effect).await?;
        return Ok(HttpResponse::build(status).json(value));
    };
    let claimed = {
        let key = key.clone();
        pool.write(move |conn| claim(conn, &key)).await?
    };
    if let Claim::Replay { status, body } = claimed {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let content_type = if status.is_success() { "application/json" } else { "application/problem+json" };
        return Ok(HttpResponse::build(status).content_type(content_type).insert_header((REPLAYED, "true")).body(body));
    }
    let stored_key = key.clone();
    let outcome = pool
        .write(move |conn| {
            let value = effect(conn)?;
            let body = serde_json::to_string(&value).map_err(ApiError::internal)?;
            store(conn, &stored_key, status.as_u16(), &body)?;
            Ok::<_, ApiError>(body)
        })
        .await;
    match outcome {
        Ok(body) => Ok(HttpResponse::build(status).content_type("application/json").body(body)),
        Err(err) => {
            let err_status = err.status_code();
            let followup = if err_status.is_server_error() {
                pool.write(move |conn| release(conn, &key).map_err(ApiError::from)).await
            } else {
                let body = err.problem_body();
                pool.write(move |conn| store(conn, &key, err_status.as_u16(), &body)).await
            };
            if let Err(e) = followup {
                tracing::warn!(error = %e, "could not settle the idempotency key after a failed request");
            }
            Err(err)
        }
    }
}
