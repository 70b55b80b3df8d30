//! `POST /card-orders/results`: what became of each leased order, `produced` with the
//! card's bank number and chip serial, or `failed` with a code. Idempotent per order:
//! the same result again is a duplicate, a different one a conflict. Every row is
//! judged on its own; valid rows are recorded even when others are refused.

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use diesel::Connection;
use serde::{Deserialize, Serialize};

use super::messages;
use super::repo::{self, CardRow, OrderRow};
use crate::auth::{Caller, Role};
use crate::contracts::messages::{CardProgressUpdate, MismatchReason};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::card::FailureCode;
use crate::domain::{CardNo, CardState, LeaseId, OrderId, OrderState, Pan, RecordState};
use crate::http::{ApiError, extract};
use crate::outbox::OutboxWaker;

/// Most results in one request (one full lease).
pub const MAX_RESULTS: usize = super::leases::MAX_LEASE as usize;

/// Largest results body: a full lease of failures with messages of 500 Chinese
/// characters is about 8 MB.
pub const RESULTS_BODY_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsBody {
    pub lease_id: LeaseId,
    pub results: Vec<serde_json::Value>,
}

/// One row as sent.
#[derive(Debug, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
enum OrderResult {
    Produced {
        order_id: OrderId,
        card_no: String,
        chip_serial: String,
    },
    Failed {
        order_id: OrderId,
        code: FailureCode,
        #[serde(default)]
        message: String,
    },
}

const SUPERSEDED: &str = "the lease on this order expired and another lease holds it now";

/// A row that was refused.
#[derive(Debug, Clone, Serialize)]
pub struct ResultError {
    pub row: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    pub field: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct ResultsView {
    /// Rows recorded now.
    pub recorded: usize,
    /// Rows recorded before with the same result.
    pub duplicates: usize,
    pub errors: Vec<ResultError>,
}

/// A row that passed its own checks.
enum Valid {
    Produced { row: usize, order_id: OrderId, pan: Pan, chip_serial: String },
    Failed { row: usize, order_id: OrderId, code: FailureCode, message: String },
}

impl Valid {
    fn order_id(&self) -> &OrderId {
        match self {
            Valid::Produced { order_id, .. } | Valid::Failed { order_id, .. } => order_id,
        }
    }
    fn row(&self) -> usize {
        match self {
            Valid::Produced { row, .. } | Valid::Failed { row, .. } => *row,
        }
    }
}

fn error(row: usize, order_id: Option<&OrderId>, field: &str, code: &str, message: impl Into<String>) -> ResultError {
    ResultError { row, order_id: order_id.cloned(), field: field.into(), code: code.into(), message: message.into() }
}

/// Checks each row by itself (shape, card number, chip serial, code, message).
fn parse_rows(rows: Vec<serde_json::Value>, errors: &mut Vec<ResultError>) -> Vec<Valid> {
    let mut valid = Vec::with_capacity(rows.len());
    let mut seen_orders = HashSet::new();
    let mut seen_cards = HashSet::new();
    // Rows count from 1, as everywhere in the API.
    for (row, value) in (1..).zip(rows) {
        let parsed: OrderResult = match serde_json::from_value(value) {
            Ok(p) => p,
            Err(e) => {
                errors.push(error(row, None, "outcome", "result_invalid", e.to_string()));
                continue;
            }
        };
        let item = match parsed {
            OrderResult::Produced { order_id, card_no, chip_serial } => {
                let pan = match Pan::parse(&card_no) {
                    Ok(pan) => pan,
                    Err(e) => {
                        errors.push(error(row, Some(&order_id), "card_no", e.code(), e.to_string()));
                        continue;
                    }
                };
                let serial = chip_serial.trim().to_string();
                if serial.is_empty() || serial.len() > 64 || !serial.bytes().all(|b| b.is_ascii_graphic()) {
                    errors.push(error(
                        row,
                        Some(&order_id),
                        "chip_serial",
                        "chip_serial_invalid",
                        "1 to 64 visible ASCII characters",
                    ));
                    continue;
                }
                if !seen_cards.insert(pan.clone()) {
                    errors.push(error(
                        row,
                        Some(&order_id),
                        "card_no",
                        "card_no_in_use",
                        "the same card number twice in this request",
                    ));
                    continue;
                }
                Valid::Produced { row, order_id, pan, chip_serial: serial }
            }
            OrderResult::Failed { order_id, code, message } => {
                let message: String = message.trim().chars().take(500).collect();
                Valid::Failed { row, order_id, code, message }
            }
        };
        if !seen_orders.insert(item.order_id().clone()) {
            errors.push(error(
                item.row(),
                Some(item.order_id()),
                "order_id",
                "order_repeated",
                "the same order twice in this request",
            ));
            continue;
        }
        valid.push(item);
    }
    valid
}

#[tracing::instrument(skip_all)]
pub async fn record(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    waker: web::Data<OutboxWaker>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CardMaker])?;
    let body = extract::read_body(payload, RESULTS_BODY_LIMIT).await?;
    let body: ResultsBody = extract::parse_json_up_to(&req, &body, RESULTS_BODY_LIMIT)?;
    if body.results.is_empty() || body.results.len() > MAX_RESULTS {
        return Err(ApiError::validation(vec![crate::http::FieldError::new(
            "results",
            "results_out_of_range",
            format!("send 1 to {MAX_RESULTS} results"),
        )]));
    }
    let mut errors = Vec::new();
    let rows = parse_rows(body.results, &mut errors);
    let lease_id = body.lease_id;
    let (view, recorded) = pool
        .write(move |conn| {
            let client = repo::lessee(conn, &lease_id)?.ok_or_else(|| ApiError::not_found("lease"))?;
            if client != caller.client_id {
                return Err(ApiError::not_found("lease"));
            }
            let outcome = apply(conn, &caller, &lease_id, rows, &mut errors)?;
            errors.sort_by_key(|e| e.row);
            Ok::<_, ApiError>((ResultsView { recorded: outcome.0, duplicates: outcome.1, errors }, outcome.0))
        })
        .await?;
    if recorded > 0 {
        waker.wake();
    }
    if view.recorded == 0 && view.duplicates == 0 {
        // Nothing was recorded: the whole request is refused, row by row.
        return Err(ApiError::validation(
            view.errors
                .into_iter()
                .map(|e| crate::http::FieldError {
                    row: Some(e.row as u64),
                    field: e.field,
                    code: e.code,
                    message: e.message,
                })
                .collect(),
        ));
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Judges the rows against their orders and records the valid ones; `(recorded,
/// duplicates)`.
fn apply(
    conn: &mut DbConnection,
    caller: &Caller,
    lease_id: &LeaseId,
    rows: Vec<Valid>,
    errors: &mut Vec<ResultError>,
) -> Result<(usize, usize), ApiError> {
    let at = now();
    let known = Known::load(conn, &rows)?;
    let mut plan = Plan::judge(rows, &known, caller, lease_id, at, errors);
    let answered = plan.write(conn, lease_id, at, errors)?;
    // An order another lease took meanwhile was not marked and gets no card.
    let asked = plan.produced.iter().chain(plan.failures.values().flatten());
    for order_id in asked.filter(|id| !answered.contains(*id)) {
        errors.push(error(plan.row_of(order_id), Some(order_id), "order_id", "lease_superseded", SUPERSEDED));
    }
    plan.updates.retain(|u| answered.contains(&u.order_id));
    repo::refresh_statistics_if_grown(conn, &["cards"])?;
    messages::send_progress(conn, at, plan.updates)?;
    Ok((answered.len(), plan.duplicates))
}

/// The orders a request names, and the cards already made for those answered before.
struct Known {
    orders: HashMap<OrderId, OrderRow>,
    made: HashMap<OrderId, CardRow>,
}

impl Known {
    fn load(conn: &mut DbConnection, rows: &[Valid]) -> Result<Known, ApiError> {
        let ids: Vec<OrderId> = rows.iter().map(|r| r.order_id().clone()).collect();
        let orders: HashMap<OrderId, OrderRow> =
            repo::orders_by_id(conn, &ids)?.into_iter().map(|o| (o.id.clone(), o)).collect();
        // Cards are looked up only for orders answered before (a repeated result).
        let answered: Vec<OrderId> =
            orders.values().filter(|o| o.state == OrderState::Produced).map(|o| o.id.clone()).collect();
        let made = if answered.is_empty() {
            HashMap::new()
        } else {
            repo::cards_of_orders(conn, &answered)?.into_iter().map(|c| (c.order_id.clone(), c)).collect()
        };
        Ok(Known { orders, made })
    }
}

/// What a request's valid rows will write: cards, orders produced, orders failed
/// (grouped so that one statement marks those with the same code and message), and
/// the progress messages to collection.
struct Plan {
    cards: Vec<CardRow>,
    produced: Vec<OrderId>,
    failures: HashMap<(&'static str, String), Vec<OrderId>>,
    updates: Vec<CardProgressUpdate>,
    duplicates: usize,
    rows: HashMap<OrderId, usize>,
}

impl Plan {
    /// Judges each row against its order: not the caller's, already answered (the same
    /// answer again is a duplicate, another is refused), or held by another lease are
    /// errors; the rest go into the plan.
    fn judge(
        rows: Vec<Valid>,
        known: &Known,
        caller: &Caller,
        lease_id: &LeaseId,
        at: NaiveDateTime,
        errors: &mut Vec<ResultError>,
    ) -> Plan {
        let mut plan = Plan {
            cards: Vec::new(),
            produced: Vec::new(),
            failures: HashMap::new(),
            updates: Vec::new(),
            duplicates: 0,
            rows: rows.iter().map(|r| (r.order_id().clone(), r.row())).collect(),
        };
        for item in rows {
            let (row, order_id) = (item.row(), item.order_id().clone());
            let refuse = |code: &str, message: &str| error(row, Some(&order_id), "order_id", code, message);
            let Some(order) = known
                .orders
                .get(&order_id)
                .filter(|o| o.card_maker.as_ref().is_some_and(|m| caller.scopes.contains(m)))
            else {
                errors.push(refuse("order_not_found", "no such order among this card maker's orders"));
                continue;
            };
            match (order.state, &item) {
                (OrderState::Produced, Valid::Produced { pan, .. })
                    if known.made.get(&order_id).is_some_and(|c| c.card_no == *pan.as_str()) =>
                {
                    plan.duplicates += 1;
                    continue;
                }
                (OrderState::Failed, Valid::Failed { code, .. })
                    if order.failure_code.as_deref() == Some(code.as_str()) =>
                {
                    plan.duplicates += 1;
                    continue;
                }
                (OrderState::Produced | OrderState::Failed, _) => {
                    errors.push(refuse("result_conflict", &format!("the order was already reported {}", order.state)));
                    continue;
                }
                _ => {}
            }
            if order.lease_id.as_ref() != Some(lease_id) {
                errors.push(refuse("lease_superseded", SUPERSEDED));
                continue;
            }
            plan.add(order, item, caller, at);
        }
        plan
    }

    /// Adds the answer `item` for `order`.
    fn add(&mut self, order: &OrderRow, item: Valid, caller: &Caller, at: NaiveDateTime) {
        match item {
            Valid::Produced { pan, chip_serial, .. } => {
                self.cards.push(CardRow {
                    card_no: CardNo::from(pan),
                    chip_serial,
                    order_id: order.id.clone(),
                    id_hash: order.id_hash.clone(),
                    record_id: order.record_id.clone(),
                    record_version: order.record_version,
                    county_code: order.county_code.clone(),
                    card_maker: order.card_maker.clone().unwrap_or_default(),
                    state: CardState::Produced,
                    produced_by: caller.client_id.clone(),
                    produced_at: at,
                    state_changed_at: at,
                });
                self.produced.push(order.id.clone());
                self.updates.push(messages::progress(order, Some(RecordState::Produced), OrderState::Produced));
            }
            Valid::Failed { code, message, .. } => {
                self.failures.entry((code.as_str(), message.clone())).or_default().push(order.id.clone());
                let mut update = messages::progress(order, Some(RecordState::ProductionFailed), OrderState::Failed);
                update.reason = Some(MismatchReason {
                    code: code.as_str().to_string(),
                    register_value: None,
                    detail: (!message.is_empty()).then_some(message),
                });
                self.updates.push(update);
            }
        }
    }

    fn row_of(&self, order_id: &OrderId) -> usize {
        self.rows.get(order_id).copied().unwrap_or_default()
    }

    /// Writes orders and cards in a savepoint and returns the orders answered. The
    /// unique indexes on cards are the check that a card number is free and that the
    /// resident holds no live card; only when one refuses (rarely) are the rows looked
    /// up, the colliding ones refused and the rest written again.
    fn write(
        &mut self,
        conn: &mut DbConnection,
        lease_id: &LeaseId,
        at: NaiveDateTime,
        errors: &mut Vec<ResultError>,
    ) -> Result<HashSet<OrderId>, ApiError> {
        loop {
            match conn
                .transaction(|conn| write_answers(conn, lease_id, &self.produced, &self.failures, &self.cards, at))
            {
                Ok(answered) => return Ok(answered),
                Err(Attempt::Failed(e)) => return Err(e.into()),
                Err(Attempt::Collided(due)) => self.refuse_collisions(conn, &due, errors)?,
            }
        }
    }

    /// Takes out of the plan the cards of `due` whose number is taken or whose resident
    /// already holds a live card, each with its error.
    fn refuse_collisions(
        &mut self,
        conn: &mut DbConnection,
        due: &[CardRow],
        errors: &mut Vec<ResultError>,
    ) -> Result<(), ApiError> {
        let numbers: Vec<CardNo> = due.iter().map(|c| c.card_no.clone()).collect();
        let hashes: Vec<String> = due.iter().map(|c| c.id_hash.clone()).collect();
        let taken: HashSet<CardNo> = repo::used_card_numbers(conn, &numbers)?.into_iter().collect();
        let live = repo::live_card_holders(conn, &hashes)?;
        let collided: Vec<&CardRow> =
            due.iter().filter(|c| taken.contains(&c.card_no) || live.contains(&c.id_hash)).collect();
        if collided.is_empty() {
            return Err(ApiError::internal("a card was refused by a unique index, but collides with no card"));
        }
        for card in collided {
            let (row, order_id) = (self.row_of(&card.order_id), Some(&card.order_id));
            errors.push(if taken.contains(&card.card_no) {
                error(row, order_id, "card_no", "card_no_in_use", "another card already has this number")
            } else {
                error(row, order_id, "order_id", "resident_has_live_card", "the resident already holds a live card")
            });
            self.cards.retain(|c| c.order_id != card.order_id);
            self.produced.retain(|id| *id != card.order_id);
            self.updates.retain(|u| u.order_id != card.order_id);
        }
        Ok(())
    }
}

/// Why writing the answers was undone.
enum Attempt {
    /// A unique index refused one of these cards: its number is taken, or its resident
    /// still holds a live card.
    Collided(Vec<CardRow>),
    Failed(diesel::result::Error),
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Attempt::Failed(e)
    }
}

/// Marks the orders that the lease still holds and writes their cards; returns the
/// orders answered.
fn write_answers(
    conn: &mut DbConnection,
    lease_id: &LeaseId,
    produced: &[OrderId],
    failures: &HashMap<(&'static str, String), Vec<OrderId>>,
    cards: &[CardRow],
    at: chrono::NaiveDateTime,
) -> Result<HashSet<OrderId>, Attempt> {
    let mut answered: HashSet<OrderId> = HashSet::new();
    for ((code, message), ids) in failures {
        let failed = repo::Answer::Failed { code, message };
        answered.extend(repo::answer_orders(conn, ids, lease_id, &failed, at)?);
    }
    answered.extend(repo::answer_orders(conn, produced, lease_id, &repo::Answer::Produced, at)?);
    let due: Vec<CardRow> = cards.iter().filter(|c| answered.contains(&c.order_id)).cloned().collect();
    match repo::insert_cards(conn, &due) {
        Ok(_) => Ok(answered),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(Attempt::Collided(due))
        }
        Err(e) => Err(e.into()),
    }
}
