//! `GET /eligibility?card_no=&date=`: the clinics' hot path. Who holds the card
//! (masked), whether they may be treated at the scheme's expense on the date and, when
//! not, every reason; the policy version in force and each cap with what is used and
//! left. Every lookup is access-logged.

use actix_web::{HttpResponse, web};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::access_log::AccessLog;
use super::policies::PolicyCache;
use super::repo::access_log::LookupRow;
use super::repo::enrollments as enrollment_repo;
use crate::auth::{Caller, Role};
use crate::db::{DbPool, now};
use crate::domain::china_time;
use crate::domain::eligibility::{self, Care, Enrollment, Ineligible};
use crate::domain::{CardNo, CardState, Fen, Pan, PersonNo};
use crate::http::{ApiError, FieldError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EligibilityQuery {
    pub card_no: Option<String>,
    /// `yyyy-MM-dd`; today in China when absent.
    pub date: Option<String>,
    /// Why the clinic asks (`admission`, `outpatient`, `settlement`, ...); `check` when
    /// absent. Recorded in the access log.
    pub purpose: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HolderView {
    /// 王*明.
    pub name: String,
    pub sex: String,
    pub birth_year: i32,
}

#[derive(Debug, Serialize)]
pub struct CapView {
    pub cap: Fen,
    pub used: Fen,
    pub left: Fen,
}

#[derive(Debug, Serialize)]
pub struct CapsView {
    pub inpatient: CapView,
    pub outpatient: CapView,
    pub chronic: CapView,
}

#[derive(Debug, Serialize)]
pub struct EligibilityView {
    pub card_no: CardNo,
    pub psn_no: PersonNo,
    pub holder: HolderView,
    pub county_code: String,
    pub village: String,
    pub card_state: CardState,
    pub date: NaiveDate,
    pub year: i32,
    pub enrolled: bool,
    pub paid: bool,
    pub eligible: bool,
    pub reasons: Vec<Ineligible>,
    pub policy_version: Option<i32>,
    pub caps: Option<CapsView>,
}

fn parse_query(query: &EligibilityQuery) -> Result<(CardNo, NaiveDate, String), ApiError> {
    let mut errors = Vec::new();
    let card_no = match query.card_no.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new("card_no", "card_no_missing", "give the card number"));
            None
        }
        Some(raw) => Pan::parse(raw)
            .map(CardNo::from)
            .map_err(|e| errors.push(FieldError::new("card_no", e.code(), e.to_string())))
            .ok(),
    };
    let date = match query.date.as_deref() {
        None => Some(china_time::today()),
        Some(raw) => NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map_err(|_| errors.push(FieldError::new("date", "date_invalid", "a date as yyyy-MM-dd")))
            .ok(),
    };
    let purpose = query.purpose.as_deref().map(str::trim).filter(|p| !p.is_empty()).unwrap_or("check");
    if purpose.chars().count() > 32 || !purpose.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        errors.push(FieldError::new("purpose", "purpose_invalid", "up to 32 letters, digits or '_'"));
    }
    match (card_no, date) {
        (Some(card_no), Some(date)) if errors.is_empty() => Ok((card_no, date, purpose.to_string())),
        _ => Err(ApiError::validation(errors)),
    }
}

/// `GET /eligibility?card_no=&date=&purpose=`.
#[tracing::instrument(skip_all)]
pub async fn get(
    caller: Caller,
    pool: web::Data<DbPool>,
    log: web::Data<AccessLog>,
    policies: web::Data<PolicyCache>,
    query: web::Query<EligibilityQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic, Role::Auditor, Role::ProvincialAdmin])?;
    let (card_no, date, purpose) = parse_query(&query)?;
    let policies = policies.into_inner();
    // No transaction: the card, holder and enrollment come in one statement, and the
    // caps used may be a moment newer than them; a lookup shows a moment either way.
    let view = pool.read_each(move |conn| judge(conn, &policies, card_no, date)).await?;
    let Some(view) = view else {
        return Err(ApiError::not_found("card"));
    };
    log.record(LookupRow {
        id: uuid::Uuid::now_v7().to_string(),
        at: now(),
        client_id: caller.client_id.clone(),
        role: caller.role.as_str().to_string(),
        card_no: view.card_no.clone(),
        purpose,
        on_date: date,
        eligible: view.eligible,
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The eligibility of `card_no`'s holder on `date`; none for a card settlement never
/// heard of. The policy comes from `policies` (at most [`super::policies::POLICY_CACHE_TTL`]
/// behind a publication through another process).
pub fn judge(
    conn: &mut crate::db::DbConnection,
    policies: &PolicyCache,
    card_no: CardNo,
    date: NaiveDate,
) -> Result<Option<EligibilityView>, ApiError> {
    let year = date.year();
    let Some((card, person, enrollment)) = enrollment_repo::card_holder_enrollment(conn, &card_no, year)? else {
        return Ok(None);
    };
    let enrollment = match enrollment {
        None => Enrollment::None,
        Some(e) if e.paid_at.is_none() => Enrollment::Unpaid,
        Some(_) => Enrollment::Paid,
    };
    let reasons = eligibility::reasons(card.state, enrollment);
    let policy = policies.in_force_recent(conn, &person.county_code, year, date)?;
    let caps = match &policy {
        Some(version) => {
            let used = enrollment_repo::cap_used(conn, &person.person_no, year)?;
            let used_of = |care: Care| Fen(used.iter().find(|(c, _)| c == care.as_str()).map_or(0, |(_, u)| *u));
            let cap = |care: Care| {
                let cap = version.policy.annual_cap(care);
                let used = used_of(care);
                CapView { cap, used, left: Fen(cap.get().saturating_sub(used.get()).max(0)) }
            };
            Some(CapsView {
                inpatient: cap(Care::Inpatient),
                outpatient: cap(Care::Outpatient),
                chronic: cap(Care::Chronic),
            })
        }
        None => None,
    };
    Ok(Some(EligibilityView {
        card_no: card.card_no,
        psn_no: person.person_no,
        holder: HolderView { name: person.name_masked, sex: person.sex, birth_year: person.birth_date.year() },
        county_code: person.county_code,
        village: person.village,
        card_state: card.state,
        date,
        year,
        enrolled: enrollment != Enrollment::None,
        paid: enrollment == Enrollment::Paid,
        eligible: reasons.is_empty(),
        reasons,
        policy_version: policy.map(|p| p.version),
        caps,
    }))
}
