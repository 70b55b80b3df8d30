//! The county's review of the claims the fraud rules stopped (`GET /reviews`, `POST
//! /claims/{setl_id}/review`).
//!
//! A county office sees and decides the flagged claims of its own counties only
//! (another county's claim is `404`, so existence does not leak). The decision is made
//! under the claim's person's lock, the lock every claim and cancel of that person
//! takes, so that the cap it keeps or releases is never half seen; it is final,
//! recorded with who and when, and a second one is `409`. Approved, the claim is paid
//! as any claim approved at settlement; rejected, its reserved cap is released and
//! the clinic reads the state and the reason on the claim (`GET /claims/{setl_id}`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::claims::{self, Decision};
use super::repo::claims::{self as claim_repo, SETTLEMENT};
use super::repo::enrollments as enrollment_repo;
use super::repo::reviews as repo;
use crate::auth::{Caller, Role};
use crate::db::{DbPool, now};
use crate::domain::claim_state::{ClaimState, ReviewState};
use crate::domain::{SetlId, StateMachine};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError, extract};

/// Most characters of a decision's reason, after trimming.
pub const REASON_MAX_CHARS: usize = 200;

/// The body of `POST /claims/{setl_id}/review`, before any check: members of any
/// JSON type, so that a wrong one gets its precise code.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    #[serde(default)]
    pub decision: Option<serde_json::Value>,
    #[serde(default)]
    pub reason: Option<serde_json::Value>,
}

/// The decision and its reason, or every problem with them.
fn parse_body(body: ReviewBody) -> Result<(Decision, String), ApiError> {
    let mut errors = Vec::new();
    let decision = match body.decision {
        None | Some(serde_json::Value::Null) => {
            errors.push(FieldError::new("decision", "field_missing", "required: approve or reject"));
            None
        }
        Some(serde_json::Value::String(d)) if d == "approve" => Some(Decision::Approve),
        Some(serde_json::Value::String(d)) if d == "reject" => Some(Decision::Reject),
        Some(_) => {
            errors.push(FieldError::new("decision", "decision_invalid", "approve or reject"));
            None
        }
    };
    let reason = match body.reason {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(r)) => Some(r.trim().to_string()),
        Some(_) => {
            errors.push(FieldError::new("reason", "reason_invalid", "a text"));
            return Err(ApiError::validation(errors));
        }
    };
    match &reason {
        None => {
            errors.push(FieldError::new("reason", "field_missing", "required: why the claim is approved or rejected"))
        }
        Some(r) if r.is_empty() => {
            errors.push(FieldError::new("reason", "field_missing", "required: why the claim is approved or rejected"))
        }
        Some(r) if r.chars().count() > REASON_MAX_CHARS => {
            errors.push(FieldError::new("reason", "reason_too_long", format!("at most {REASON_MAX_CHARS} characters")))
        }
        Some(_) => {}
    }
    match (decision, reason) {
        (Some(decision), Some(reason)) if errors.is_empty() => Ok((decision, reason)),
        _ => Err(ApiError::validation(errors)),
    }
}

/// `POST /claims/{setl_id}/review {decision, reason}`, by the county office of the
/// claim's county. Answers the claim as it is after the decision.
#[tracing::instrument(skip_all)]
pub async fn decide(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let (decision, reason) = parse_body(extract::parse_json(&req, &body)?)?;
    let setl_id = SetlId::from(path.into_inner());
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let found = claim_repo::find(conn, &setl_id)?
            .filter(|c| c.kind == SETTLEMENT && caller.may_see_county(&c.county_code))
            .ok_or_else(|| ApiError::not_found("claim"))?;
        // The person's year first, as every claim and cancel of it does; then the
        // claim and its review as they are now.
        enrollment_repo::lock_enrollment(conn, &found.person_no, found.year)?;
        let claim = claim_repo::find(conn, &setl_id)?.ok_or_else(|| ApiError::not_found("claim"))?;
        let review = repo::find(conn, &setl_id)?;
        let review = match review {
            Some(r) if claim.state == ClaimState::Flagged && r.state == ReviewState::Pending => r,
            Some(r) if matches!(r.state, ReviewState::Approved | ReviewState::Rejected) => {
                let by = r.decided_by.map(|b| b.to_string()).unwrap_or_default();
                let at = r.decided_at.map(|t| t.and_utc().to_rfc3339()).unwrap_or_default();
                return Err(ApiError::conflict(
                    "claim_already_reviewed",
                    format!("the claim was {} on review by {by} at {at}; a decision is final", r.state),
                ));
            }
            _ => {
                return Err(ApiError::conflict(
                    "claim_not_flagged",
                    format!("the claim is {}; only a flagged claim is reviewed", claim.state),
                ));
            }
        };
        let step =
            review.state.transition(decision.outcome()).map_err(|e| ApiError::conflict(e.code(), e.to_string()))?;
        let at = now();
        let decided = claims::decide_flagged(conn, claim, decision, &reason, at)?;
        if repo::decide(conn, &setl_id, step, Some(&reason), &caller.client_id, at)? != 1 {
            return Err(ApiError::conflict("claim_changed", "the claim changed meanwhile; read it again"));
        }
        tracing::info!(setl_id = %setl_id, outcome = %step.to(), "claim reviewed");
        claims::view(conn, decided)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    pub state: Option<String>,
    pub county: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /reviews?state=pending&county=`: the flagged claims waiting for the county's
/// decision (or those decided one way), oldest first, each with the rules that fired
/// and their evidence; a county office's own counties only, the province's roles
/// every county.
#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<ReviewQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice, Role::ProvincialAdmin, Role::Auditor])?;
    let query = query.into_inner();
    let state = match query.state.as_deref().unwrap_or("pending") {
        "pending" => ReviewState::Pending,
        "approved" => ReviewState::Approved,
        "rejected" => ReviewState::Rejected,
        "withdrawn" => ReviewState::Withdrawn,
        _ => {
            return Err(ApiError::validation(vec![FieldError::new(
                "state",
                "state_invalid",
                "pending, approved, rejected or withdrawn",
            )]));
        }
    };
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let counties = match query.county {
        Some(county) if caller.may_see_county(&county) => Some(vec![county]),
        Some(_) => return Err(ApiError::not_found("county")),
        None => (caller.role == Role::CountyOffice).then(|| caller.scopes.clone()),
    };
    let views = pool
        .read({
            let page = page.clone();
            move |conn| {
                let rows = repo::page(conn, counties.as_deref(), state, &page)?;
                claims::views_of(conn, rows)
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |v| v.setl_id.to_string())))
}
