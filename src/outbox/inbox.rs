//! The receiving side: `POST /internal/v1/messages` on every service. The message id
//! goes into `inbox_messages` in the same transaction as the effect, so a message
//! delivered twice has one effect.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;

use crate::auth::{Authenticator, Caller, Role, revocation};
use crate::contracts::messages::ClientRevoked;
use crate::contracts::{Envelope, MESSAGES_PATH, Message, Receipt, ReceiptBody};
use crate::db::{DbConnection, DbPool, now};
use crate::http::metrics::Metrics;
use crate::http::routes::RouteTable;
use crate::http::{ApiError, extract};
use crate::pii::PiiKeys;

diesel::table! {
    inbox_messages (id) {
        id -> Text,
        source -> Text,
        kind -> Text,
        received_at -> Timestamp,
    }
}

/// The largest message a service takes. Chunk messages carry up to 2,000 records; the
/// largest, an outcome whose every record fails on every reason, is about 0.8 MB, too
/// near the 1 MiB of the public JSON endpoints to share their limit.
pub const MESSAGE_LIMIT: usize = 4 * 1024 * 1024;

/// A service's own message kinds: applies the effect inside the inbox transaction.
/// Personal data in messages travels encrypted with the shared key, hence `pii`.
pub type ServiceApply = fn(&mut DbConnection, &Envelope, &PiiKeys) -> Result<(), ApiError>;

/// For services that receive no messages of their own yet.
pub fn no_service_messages(_conn: &mut DbConnection, envelope: &Envelope, _pii: &PiiKeys) -> Result<(), ApiError> {
    Err(unknown_kind(envelope))
}

pub fn unknown_kind(envelope: &Envelope) -> ApiError {
    ApiError::unprocessable("unknown_message_kind", format!("this service does not take {:?} messages", envelope.kind))
}

/// Reads a payload as `M`, or explains why not.
pub fn payload<M: Message>(envelope: &Envelope) -> Result<M, ApiError> {
    serde_json::from_str::<M>(envelope.payload.get())
        .map_err(|e| ApiError::unprocessable("invalid_message", format!("{} payload: {e}", M::KIND)))
}

/// Records the message id; `false` when it was recorded before (a redelivery).
fn first_delivery(conn: &mut DbConnection, envelope: &Envelope) -> QueryResult<bool> {
    let id = envelope.id.to_string();
    let seen = inbox_messages::table.find(&id).select(inbox_messages::id).first::<String>(conn).optional()?;
    if seen.is_some() {
        return Ok(false);
    }
    diesel::insert_into(inbox_messages::table)
        .values((
            inbox_messages::id.eq(&id),
            inbox_messages::source.eq(&envelope.source),
            inbox_messages::kind.eq(&envelope.kind),
            inbox_messages::received_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Adds the message endpoint to a service's routes; `apply` handles the service's own
/// kinds, platform kinds (revocations) are handled here.
pub fn route(table: RouteTable, apply: ServiceApply) -> RouteTable {
    table.internal(
        Method::POST,
        MESSAGES_PATH,
        move |req: HttpRequest,
              caller: Caller,
              pool: web::Data<DbPool>,
              metrics: web::Data<Metrics>,
              auth: web::Data<Authenticator>,
              pii: web::Data<PiiKeys>,
              body: web::Payload| { receive(req, caller, pool, metrics, auth, pii, body, apply) },
    )
}

#[allow(clippy::too_many_arguments)] // one extractor per argument, as actix hands them over
async fn receive(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    metrics: web::Data<Metrics>,
    auth: web::Data<Authenticator>,
    pii: web::Data<PiiKeys>,
    body: web::Payload,
    apply: ServiceApply,
) -> Result<HttpResponse, ApiError> {
    // The role is checked before the body is read, so callers learn nothing else.
    caller.require(&[Role::Service])?;
    let body = extract::read_body(body, MESSAGE_LIMIT).await?;
    let envelope: Envelope = extract::parse_json_up_to(&req, &body, MESSAGE_LIMIT)?;
    let kind = envelope.kind.clone();
    let (receipt, revoked) = pool
        .write(move |conn| {
            if !first_delivery(conn, &envelope)? {
                return Ok::<_, ApiError>((Receipt::Duplicate, None));
            }
            let mut revoked = None;
            if envelope.kind == ClientRevoked::KIND {
                let message: ClientRevoked = payload(&envelope)?;
                revocation::record(conn, &message)?;
                revoked = Some(message.client_id);
            } else {
                apply(conn, &envelope, &pii)?;
            }
            Ok((Receipt::Applied, revoked))
        })
        .await?;
    let result = match receipt {
        Receipt::Applied => "applied",
        Receipt::Duplicate => "duplicate",
    };
    // Counted before the revocation takes effect here: whoever sees the client refused
    // sees the message counted too.
    metrics.inbox_messages.with_label_values(&[kind.as_str(), result]).inc();
    if let Some(client_id) = revoked {
        auth.revoked.insert(&client_id);
    }
    Ok(HttpResponse::Ok().json(ReceiptBody { receipt }))
}
