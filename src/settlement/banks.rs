//! Which bank serves which county (`PUT/GET /bank-assignments`): the bank that pulls
//! the county's debit envelopes, and later its payment envelopes. A bank sees only the
//! envelopes of the counties assigned to it.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::repo::banks::{self as repo, BankAssignmentRow};
use crate::auth::{Caller, Role};
use crate::db::{DbPool, now};
use crate::domain::party::parse_party_code;
use crate::domain::{ClientId, CountyCode};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError, extract};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub bank: String,
}

#[derive(Debug, Serialize)]
pub struct BankAssignmentView {
    pub county_code: String,
    pub bank: String,
    pub assigned_by: ClientId,
    pub assigned_at: DateTime<Utc>,
}

impl From<BankAssignmentRow> for BankAssignmentView {
    fn from(row: BankAssignmentRow) -> Self {
        BankAssignmentView {
            county_code: row.county_code,
            bank: row.bank,
            assigned_by: row.assigned_by,
            assigned_at: row.assigned_at.and_utc(),
        }
    }
}

/// `PUT /bank-assignments/{county_code}`: envelopes made from now on go to this bank;
/// envelopes made before stay with theirs.
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
    let bank = parse_party_code(&body.bank)
        .map_err(|e| errors.push(FieldError::new("bank", "bank_invalid", e.to_string())))
        .ok();
    let (Some(county), Some(bank)) = (county, bank) else {
        return Err(ApiError::validation(errors));
    };
    let row = BankAssignmentRow {
        county_code: county.as_str().to_string(),
        bank,
        assigned_by: caller.client_id.clone(),
        assigned_at: now(),
    };
    let saved = pool
        .write(move |conn| {
            repo::assign(conn, &row)?;
            Ok::<_, ApiError>(row)
        })
        .await?;
    tracing::info!(county = %saved.county_code, bank = %saved.bank, "county assigned to bank");
    Ok(HttpResponse::Ok().json(BankAssignmentView::from(saved)))
}

/// `GET /bank-assignments`: all of them for the province's roles; a bank its own.
#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin, Role::Auditor, Role::Bank])?;
    let page = query.parse()?;
    let banks = (caller.role == Role::Bank).then(|| caller.scopes.clone());
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::assignments(conn, banks.as_deref(), &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<BankAssignmentView> = rows.into_iter().map(BankAssignmentView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |a| a.county_code.clone())))
}
