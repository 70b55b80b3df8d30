//! `POST /card-orders/lease`: a card maker takes up to `limit` orders of its counties
//! for a fixed time, with only the fields a card needs. Every lease is written to the
//! access log with the orders it handed out.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::repo::{self, NewLease};
use super::{access_log, messages};
use crate::auth::{Caller, Role};
use crate::contracts::messages::CardFields;
use crate::db::{DbPool, now};
use crate::domain::{CardNo, LeaseId, OrderId, OrderState, RecordState};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::{ApiError, FieldError, extract};
use crate::outbox::OutboxWaker;
use crate::pii::PiiKeys;

/// Most orders one lease hands out.
pub const MAX_LEASE: i64 = 5000;

/// How long a lease holds its orders (configurable).
#[derive(Debug, Clone, Copy)]
pub struct LeaseTerm(pub Duration);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseBody {
    pub limit: i64,
}

#[derive(Debug, Serialize)]
pub struct LeaseView {
    pub lease_id: LeaseId,
    pub leased_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub orders: Vec<LeasedOrder>,
}

/// One order as the card maker receives it.
#[derive(Debug, Serialize)]
pub struct LeasedOrder {
    pub order_id: OrderId,
    /// The card this one replaces, if it is a replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces_card: Option<CardNo>,
    #[serde(flatten)]
    pub card: CardFields,
}

#[tracing::instrument(skip_all)]
pub async fn lease(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    pii: web::Data<PiiKeys>,
    term: web::Data<LeaseTerm>,
    waker: web::Data<OutboxWaker>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CardMaker])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let body: LeaseBody = extract::parse_json(&req, &body)?;
    if !(1..=MAX_LEASE).contains(&body.limit) {
        return Err(ApiError::validation(vec![FieldError::new(
            "limit",
            "limit_out_of_range",
            format!("a lease takes 1 to {MAX_LEASE} orders"),
        )]));
    }
    let term = chrono::Duration::from_std(term.0).map_err(ApiError::internal)?;
    let pii = pii.get_ref().clone();
    let response = idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let at = now();
        let lease_id = LeaseId::new();
        repo::requeue_expired(conn, at)?;
        let makers: HashMap<String, String> = repo::counties_of(conn, &caller.scopes)?.into_iter().collect();
        let until = at + term;
        let new_lease = NewLease { id: &lease_id, makers: &makers, limit: body.limit, at, until };
        let orders = if makers.is_empty() { Vec::new() } else { repo::take_orders(conn, &new_lease)? };
        repo::insert_lease(conn, &new_lease, &caller.client_id, &orders)?;
        let order_ids: Vec<&str> = orders.iter().map(|o| o.id.as_str()).collect();
        access_log::record(conn, &caller, "lease", lease_id.as_str(), &serde_json::json!({ "orders": order_ids }))?;
        messages::send_progress(
            conn,
            at,
            orders.iter().map(|o| messages::progress(o, Some(RecordState::InProduction), OrderState::Leased)).collect(),
        )?;
        let ids: Vec<OrderId> = orders.iter().map(|o| o.id.clone()).collect();
        let mut fields: HashMap<OrderId, String> =
            repo::order_fields(conn, &ids)?.into_iter().map(|f| (f.order_id, f.fields_enc)).collect();
        let mut leased = Vec::with_capacity(orders.len());
        for order in orders {
            let sealed = fields.remove(&order.id).ok_or_else(|| ApiError::internal("order without its fields"))?;
            let fields = pii.decrypt(&sealed).map_err(ApiError::internal)?;
            leased.push(LeasedOrder {
                order_id: order.id,
                replaces_card: order.replaces_card,
                card: serde_json::from_str(&fields).map_err(ApiError::internal)?,
            });
        }
        tracing::info!(lease_id = %lease_id, orders = leased.len(), "orders leased");
        Ok(LeaseView { lease_id, leased_at: at.and_utc(), expires_at: until.and_utc(), orders: leased })
    })
    .await?;
    waker.wake();
    Ok(response)
}
