//! Which card maker makes the cards of which county (`PUT/GET /card-assignments`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::repo::{self, AssignmentRow};
use crate::auth::{Caller, Role};
use crate::db::{DbPool, now};
use crate::domain::party::parse_party_code;
use crate::domain::{ClientId, CountyCode};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError, extract};

#[derive(Debug, Deserialize)]
pub struct AssignBody {
    pub card_maker: String,
}

#[derive(Debug, Serialize)]
pub struct AssignmentView {
    pub county_code: String,
    pub card_maker: String,
    pub assigned_by: ClientId,
    pub assigned_at: DateTime<Utc>,
}

impl From<AssignmentRow> for AssignmentView {
    fn from(row: AssignmentRow) -> Self {
        AssignmentView {
            county_code: row.county_code,
            card_maker: row.card_maker,
            assigned_by: row.assigned_by,
            assigned_at: row.assigned_at.and_utc(),
        }
    }
}

/// A card maker's code as API clients carry it in their scopes.
fn card_maker_code(value: &str) -> Result<String, FieldError> {
    parse_party_code(value).map_err(|e| FieldError::new("card_maker", "card_maker_invalid", e.to_string()))
}

/// `PUT /card-assignments/{county_code}`: from now on, new leases of the county's
/// orders go to this card maker (orders already leased stay with their lessee).
#[tracing::instrument(skip_all)]
pub async fn put(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin])?;
    let body: AssignBody = extract::parse_json(&req, &body)?;
    let mut errors = Vec::new();
    let county = CountyCode::parse(&path.into_inner())
        .map_err(|e| errors.push(FieldError::new("county_code", e.code(), "not a six-digit county-level code")))
        .ok();
    let maker = card_maker_code(&body.card_maker).map_err(|e| errors.push(e)).ok();
    let (Some(county), Some(card_maker)) = (county, maker) else {
        return Err(ApiError::validation(errors));
    };
    let row = AssignmentRow {
        county_code: county.as_str().to_string(),
        card_maker,
        assigned_by: caller.client_id.clone(),
        assigned_at: now(),
    };
    let saved = pool
        .write(move |conn| {
            repo::assign(conn, &row)?;
            Ok::<_, ApiError>(row)
        })
        .await?;
    tracing::info!(county = %saved.county_code, card_maker = %saved.card_maker, "county assigned to card maker");
    Ok(HttpResponse::Ok().json(AssignmentView::from(saved)))
}

/// `GET /card-assignments`: all of them for the province's roles; a card maker sees
/// its own.
#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin, Role::Auditor, Role::CardMaker])?;
    let page = query.parse()?;
    let makers = (caller.role == Role::CardMaker).then(|| caller.scopes.clone());
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::assignments(conn, makers.as_deref(), &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<AssignmentView> = rows.into_iter().map(AssignmentView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |a| a.county_code.clone())))
}
