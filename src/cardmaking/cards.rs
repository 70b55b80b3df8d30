//! Cards after they are made: issue (bulk), activate, report loss, found, replace,
//! cancel, and reading one card. A card is found by its bank number (PAN) or by the
//! holder's citizen ID, which is the health card number. Every transition is an event
//! with who and when; activation, loss, replacement and cancellation go to settlement.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::repo::{self, CardEventRow, CardRow, NewOrder};
use super::{access_log, messages};
use crate::auth::{Caller, Role};
use crate::contracts::messages::{CardFields, CardProgressUpdate};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::card::{CancelReason, CardAction, CardState};
use crate::domain::{CardNo, CitizenId, ClientId, OrderId, Pan, PersonName, PhoneNumber, RecordId};
use crate::domain::{OrderState, RecordState, StateMachine};
use crate::http::{ApiError, FieldError, extract};
use crate::outbox::OutboxWaker;
use crate::pii::PiiKeys;

/// Most card numbers in one issue request.
pub const MAX_ISSUE: usize = 10_000;

/// How a card is named in a path: the holder's citizen ID (the health card number) or
/// the bank number (PAN). An 18-digit string can be both; the citizen ID is tried
/// first.
struct CardKey {
    holder: Option<String>,
    pan: Option<CardNo>,
}

fn card_key(raw: &str, pii: &PiiKeys) -> Result<CardKey, ApiError> {
    let holder = CitizenId::parse(raw, Utc::now().date_naive()).ok().map(|id| pii.hash(id.id().as_str()));
    let pan = Pan::parse(raw).ok().map(CardNo::from);
    if holder.is_none() && pan.is_none() {
        // Neither: no such card (a malformed number cannot exist).
        return Err(ApiError::not_found("card"));
    }
    Ok(CardKey { holder, pan })
}

fn find(conn: &mut DbConnection, key: &CardKey) -> Result<Option<CardRow>, ApiError> {
    if let Some(hash) = &key.holder
        && let Some(card) = repo::card_of_resident(conn, hash)?
    {
        return Ok(Some(card));
    }
    match &key.pan {
        Some(pan) => Ok(repo::find_card(conn, pan)?),
        None => Ok(None),
    }
}

/// Whether `caller` may see `card`: county offices their counties, card makers the
/// cards they made, clinics and the province's roles every card.
fn may_see(caller: &Caller, card: &CardRow) -> bool {
    match caller.role {
        Role::CountyOffice => caller.scopes.contains(&card.county_code),
        Role::CardMaker => caller.scopes.contains(&card.card_maker),
        Role::Clinic | Role::ProvincialAdmin | Role::Auditor => true,
        _ => false,
    }
}

#[derive(Debug, Serialize)]
pub struct HolderView {
    pub name: String,
    pub citizen_id: String,
    pub sex: String,
    pub birth_date: chrono::NaiveDate,
    pub county_code: String,
    pub village: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub from_state: Option<CardState>,
    pub to_state: CardState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub actor: ClientId,
    pub actor_role: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct CardView {
    pub card_no: CardNo,
    pub state: CardState,
    pub county_code: String,
    pub card_maker: String,
    pub chip_serial: String,
    pub order_id: OrderId,
    pub record_id: RecordId,
    pub produced_at: DateTime<Utc>,
    pub state_changed_at: DateTime<Utc>,
    /// Masked (王*明, 210804********123X).
    pub holder: Option<HolderView>,
    pub history: Vec<EventView>,
}

fn masked_holder(fields: &CardFields) -> HolderView {
    let today = Utc::now().date_naive();
    HolderView {
        name: PersonName::parse(&fields.name).map(|p| p.name().mask()).unwrap_or_else(|_| "*".into()),
        citizen_id: CitizenId::parse(&fields.citizen_id, today).map(|p| p.id().mask()).unwrap_or_default(),
        sex: fields.sex.clone(),
        birth_date: fields.birth_date,
        county_code: fields.county_code.clone(),
        village: fields.village.clone(),
        phone: fields.phone.as_deref().and_then(|p| PhoneNumber::parse(p).ok()).map(|p| p.mask()),
    }
}

fn view(card: CardRow, holder: Option<HolderView>, events: Vec<CardEventRow>) -> CardView {
    // The card's first event, its production, is the card row itself.
    let produced = EventView {
        from_state: None,
        to_state: CardState::Produced,
        reason: None,
        actor: card.produced_by.clone(),
        actor_role: Role::CardMaker.as_str().to_string(),
        at: card.produced_at.and_utc(),
    };
    CardView {
        card_no: card.card_no,
        state: card.state,
        county_code: card.county_code,
        card_maker: card.card_maker,
        chip_serial: card.chip_serial,
        order_id: card.order_id,
        record_id: card.record_id,
        produced_at: card.produced_at.and_utc(),
        state_changed_at: card.state_changed_at.and_utc(),
        holder,
        history: std::iter::once(produced)
            .chain(events.into_iter().map(|e| EventView {
                from_state: e.from_state,
                to_state: e.to_state,
                reason: e.reason,
                actor: e.actor,
                actor_role: e.actor_role,
                at: e.at.and_utc(),
            }))
            .collect(),
    }
}

/// `GET /cards/{card_no}`: the card, its holder (masked) and its history. Reads by
/// clinics, card makers and auditors are written to the access log.
#[tracing::instrument(skip_all)]
pub async fn get(
    caller: Caller,
    pool: web::Data<DbPool>,
    pii: web::Data<PiiKeys>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice, Role::Clinic, Role::Auditor, Role::ProvincialAdmin, Role::CardMaker])?;
    let key = card_key(&path.into_inner(), &pii)?;
    let (card, fields_enc, events) = pool
        .write(move |conn| {
            let card = find(conn, &key)?.filter(|c| may_see(&caller, c)).ok_or_else(|| ApiError::not_found("card"))?;
            let fields = repo::order_fields(conn, std::slice::from_ref(&card.order_id))?;
            let events = repo::events_of(conn, &card.card_no)?;
            if matches!(caller.role, Role::Clinic | Role::CardMaker | Role::Auditor) {
                access_log::record(conn, &caller, "read_card", card.card_no.as_str(), &serde_json::json!({}))?;
            }
            Ok::<_, ApiError>((card, fields.into_iter().next().map(|f| f.fields_enc), events))
        })
        .await?;
    let holder = match fields_enc {
        Some(enc) => {
            let fields: CardFields =
                serde_json::from_str(&pii.decrypt(&enc).map_err(ApiError::internal)?).map_err(ApiError::internal)?;
            Some(masked_holder(&fields))
        }
        None => None,
    };
    Ok(HttpResponse::Ok().json(view(card, holder, events)))
}

/// What an action does beyond the card's own state.
struct Effects<'a> {
    caller: &'a Caller,
    pii: &'a PiiKeys,
    at: chrono::NaiveDateTime,
    reason: Option<String>,
}

/// Moves `card` by `action` and records everything that follows from it, in the
/// caller's transaction; what collection must hear is added to `progress`, for the
/// caller to send in one message. Returns the new state (the same one for a repeated
/// action, which changes nothing).
fn transition(
    conn: &mut DbConnection,
    card: &CardRow,
    action: CardAction,
    fx: &Effects<'_>,
    progress: &mut Vec<CardProgressUpdate>,
) -> Result<CardState, ApiError> {
    let from = card.state;
    let to = from.apply(action).map_err(|e| ApiError::conflict(e.code(), e.to_string()))?;
    if to == from {
        return Ok(to);
    }
    let step = from.transition(to).map_err(ApiError::internal)?;
    if repo::move_cards(conn, std::slice::from_ref(&card.card_no), step, fx.at)? != 1 {
        return Err(ApiError::conflict("card_changed", "the card changed meanwhile; read it again"));
    }
    repo::insert_events(
        conn,
        &[CardEventRow {
            id: uuid::Uuid::now_v7().to_string(),
            card_no: card.card_no.clone(),
            from_state: Some(from),
            to_state: to,
            reason: fx.reason.clone(),
            actor: fx.caller.client_id.clone(),
            actor_role: fx.caller.role.as_str().to_string(),
            at: fx.at,
        }],
    )?;
    let record_state = match to {
        CardState::Issued => Some(RecordState::Issued),
        CardState::Activated if from == CardState::Issued => Some(RecordState::Activated),
        _ => None,
    };
    progress.push(CardProgressUpdate {
        record_id: card.record_id.clone(),
        version: card.record_version,
        order_id: card.order_id.clone(),
        record_state,
        card_state: to.into(),
        reason: None,
    });
    if to == CardState::Replaced {
        let resident =
            repo::lock_resident(conn, &card.id_hash)?.ok_or_else(|| ApiError::internal("card without resident"))?;
        let new = NewOrder::new(&resident, Some(card.card_no.clone()), fx.at);
        progress.push(messages::progress(&new.order, None, OrderState::Ordered));
        repo::insert_orders(conn, std::slice::from_ref(&new))?;
    }
    if to != CardState::Issued {
        messages::send_status(conn, fx.pii, card, to, fx.reason.clone(), fx.at)?;
    }
    Ok(to)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    pub reason: Option<String>,
}

/// Who may do what: county offices everything on their county's cards; clinics
/// activate (the resident activates the card at a clinic).
fn action_roles(action: CardAction) -> &'static [Role] {
    match action {
        CardAction::Activate => &[Role::CountyOffice, Role::Clinic],
        CardAction::Issue => &[Role::CountyOffice, Role::CardMaker],
        _ => &[Role::CountyOffice],
    }
}

fn action_reason(action: CardAction, body: &ActionBody) -> Result<Option<String>, ApiError> {
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    match action {
        CardAction::Cancel => {
            let parsed: CancelReason = reason
                .and_then(|r| serde_json::from_value(serde_json::Value::String(r.to_string())).ok())
                .ok_or_else(|| {
                    ApiError::validation(vec![FieldError::new(
                        "reason",
                        "cancel_reason_invalid",
                        "a card is cancelled because its holder is deceased or moved_out",
                    )])
                })?;
            Ok(Some(serde_json::to_value(parsed).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()))
        }
        _ => match reason {
            Some(r) if r.chars().count() > 200 => {
                Err(ApiError::validation(vec![FieldError::new("reason", "reason_too_long", "at most 200 characters")]))
            }
            other => Ok(other.map(str::to_string)),
        },
    }
}

/// The extractors of a card action.
pub struct ActionRequest {
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    pii: web::Data<PiiKeys>,
    waker: web::Data<OutboxWaker>,
    card_no: String,
    body: web::Bytes,
}

macro_rules! card_action {
    ($name:ident, $action:expr, $doc:literal) => {
        #[doc = $doc]
        pub async fn $name(
            req: HttpRequest,
            caller: Caller,
            pool: web::Data<DbPool>,
            pii: web::Data<PiiKeys>,
            waker: web::Data<OutboxWaker>,
            path: web::Path<String>,
            body: web::Bytes,
        ) -> Result<HttpResponse, ApiError> {
            let card_no = path.into_inner();
            act(ActionRequest { req, caller, pool, pii, waker, card_no, body }, $action).await
        }
    };
}

card_action!(activate, CardAction::Activate, "`POST /cards/{card_no}/activate`: the resident starts using the card.");
card_action!(report_loss, CardAction::ReportLoss, "`POST /cards/{card_no}/report-loss`.");
card_action!(found, CardAction::Found, "`POST /cards/{card_no}/found`: a card reported lost is back.");
card_action!(replace, CardAction::Replace, "`POST /cards/{card_no}/replace`: the card dies and a new one is ordered.");
card_action!(cancel, CardAction::Cancel, "`POST /cards/{card_no}/cancel` `{reason: deceased|moved_out}`.");

async fn act(request: ActionRequest, action: CardAction) -> Result<HttpResponse, ApiError> {
    let ActionRequest { req, caller, pool, pii, waker, card_no, body } = request;
    caller.require(action_roles(action))?;
    let body: ActionBody = if body.is_empty() { ActionBody::default() } else { extract::parse_json(&req, &body)? };
    let reason = action_reason(action, &body)?;
    let key = card_key(&card_no, &pii)?;
    let card = pool
        .write(move |conn| {
            let card = find(conn, &key)?
                .filter(|c| caller.role == Role::Clinic || may_see(&caller, c))
                .ok_or_else(|| ApiError::not_found("card"))?;
            let fx = Effects { caller: &caller, pii: &pii, at: now(), reason };
            let mut progress = Vec::new();
            transition(conn, &card, action, &fx, &mut progress)?;
            messages::send_progress(conn, fx.at, progress)?;
            let card = repo::find_card(conn, &card.card_no)?.ok_or_else(|| ApiError::not_found("card"))?;
            let events = repo::events_of(conn, &card.card_no)?;
            Ok::<_, ApiError>(view(card, None, events))
        })
        .await?;
    waker.wake();
    Ok(HttpResponse::Ok().json(card))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    pub card_numbers: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct IssueView {
    pub issued: usize,
    pub errors: Vec<FieldError>,
}

/// `POST /cards/issue`: cards handed out at the villages, in bulk. Each number is
/// judged on its own; issuing an issued card again is harmless.
#[tracing::instrument(skip_all)]
pub async fn issue(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    pii: web::Data<PiiKeys>,
    waker: web::Data<OutboxWaker>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(action_roles(CardAction::Issue))?;
    let body: IssueBody = extract::parse_json(&req, &body)?;
    if body.card_numbers.is_empty() || body.card_numbers.len() > MAX_ISSUE {
        return Err(ApiError::validation(vec![FieldError::new(
            "card_numbers",
            "card_numbers_out_of_range",
            format!("send 1 to {MAX_ISSUE} card numbers"),
        )]));
    }
    let mut errors = Vec::new();
    let mut numbers: Vec<(usize, CardNo)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (row, raw) in (1..).zip(body.card_numbers.iter()) {
        match Pan::parse(raw) {
            // The same number twice is issued once.
            Ok(pan) if !seen.insert(pan.clone()) => {}
            Ok(pan) => numbers.push((row, CardNo::from(pan))),
            Err(e) => errors.push(FieldError {
                row: Some(row as u64),
                field: "card_no".into(),
                code: e.code().into(),
                message: e.to_string(),
            }),
        }
    }
    let view = pool
        .write(move |conn| {
            let wanted: Vec<CardNo> = numbers.iter().map(|(_, n)| n.clone()).collect();
            let cards: HashMap<CardNo, CardRow> =
                repo::cards_by_number(conn, &wanted)?.into_iter().map(|c| (c.card_no.clone(), c)).collect();
            let fx = Effects { caller: &caller, pii: &pii, at: now(), reason: None };
            let mut issued = 0;
            let mut progress = Vec::new();
            for (row, number) in numbers {
                let refuse = |code: &str, message: String| FieldError {
                    row: Some(row as u64),
                    field: "card_no".into(),
                    code: code.into(),
                    message,
                };
                let Some(card) = cards.get(&number).filter(|c| may_see(&caller, c)) else {
                    errors.push(refuse("card_not_found", "no such card among yours".into()));
                    continue;
                };
                match transition(conn, card, CardAction::Issue, &fx, &mut progress) {
                    Ok(_) => issued += 1,
                    Err(e @ ApiError::Conflict { .. }) => errors.push(refuse(e.code(), e.to_string())),
                    Err(e) => return Err(e),
                }
            }
            messages::send_progress(conn, fx.at, progress)?;
            errors.sort_by_key(|e| e.row);
            Ok::<_, ApiError>(IssueView { issued, errors })
        })
        .await?;
    waker.wake();
    Ok(HttpResponse::Ok().json(view))
}
