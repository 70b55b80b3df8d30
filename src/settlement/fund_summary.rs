//! The year's summary of a county fund, or of every county's
//! (`GET /funds/{county}/summary?year=`, with `all` for the province): premiums,
//! subsidies, reimbursement approved, paid and payable, cancels and recoveries, the
//! balance and the fund's use ratio, each for the year and by month, and the approved
//! claims by `med_type` and level.
//!
//! Money comes from the ledger's entries ([`crate::domain::fund_summary`] has how),
//! claim counts from the claims. Readers are those of [`super::funds`]: a county
//! office its own counties (any other answers 404), provincial admins and auditors
//! every county and `all`.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::repo::fund_summary::{self as repo, ClaimGroupRow};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool};
use crate::domain::fund_summary::{Flows, MonthFigures, MonthSum, Positions, figures};
use crate::domain::month::Month;
use crate::domain::{CountyCode, Fen, china_time};
use crate::http::{ApiError, FieldError};

/// The path segment that names every county.
pub const PROVINCE: &str = "all";

/// Fund years a summary may be asked for.
const YEARS: std::ops::RangeInclusive<i32> = 2003..=2100;

/// Whose fund: one county's, or the province's (every county's summed).
#[derive(Debug, Clone)]
enum Scope {
    County(CountyCode),
    Province,
}

impl Scope {
    fn code(&self) -> &str {
        match self {
            Scope::County(c) => c.as_str(),
            Scope::Province => PROVINCE,
        }
    }

    fn county(&self) -> Option<&str> {
        match self {
            Scope::County(c) => Some(c.as_str()),
            Scope::Province => None,
        }
    }
}

/// The scope of the path if the caller may read it; 404 otherwise.
fn scope(caller: &Caller, path: &str) -> Result<Scope, ApiError> {
    if path != PROVINCE {
        return super::funds::visible_county(caller, path).map(Scope::County);
    }
    caller.require(&[Role::ProvincialAdmin, Role::Auditor, Role::CountyOffice])?;
    match caller.role {
        Role::ProvincialAdmin | Role::Auditor => Ok(Scope::Province),
        _ => Err(ApiError::not_found("fund")),
    }
}

/// `?year=`: the fund year, this year in China when absent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    pub year: Option<i32>,
}

/// Approved claims of one `med_type` and level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimGroup {
    pub med_type: String,
    pub level: String,
    pub claims: i64,
    pub medfee_sumamt: Fen,
    pub hifp_pay: Fen,
}

/// One month: its money figures and its claims by admission.
#[derive(Debug, Serialize)]
pub struct MonthView {
    #[serde(flatten)]
    pub figures: MonthFigures,
    pub claims: Vec<ClaimGroup>,
}

/// The summary of a fund year.
#[derive(Debug, Serialize)]
pub struct FundSummaryView {
    /// The county, or `all`.
    pub county_code: String,
    pub year: i32,
    /// The year's flows.
    #[serde(flatten)]
    pub totals: Flows,
    /// Now.
    #[serde(flatten)]
    pub positions: Positions,
    pub use_ratio_bp: Option<i64>,
    pub claims: Vec<ClaimGroup>,
    pub months: Vec<MonthView>,
}

fn stored_month(text: &str) -> Result<Month, ApiError> {
    Month::parse(text).map_err(|_| ApiError::internal(format!("a month the database wrote as {text:?}")))
}

/// Adds `group` into `groups`, keyed by `med_type` and level.
fn add_group(groups: &mut BTreeMap<(String, String), ClaimGroup>, group: &ClaimGroup) -> Result<(), ApiError> {
    let overflow = || ApiError::internal("a claim total does not fit in an amount");
    let key = (group.med_type.clone(), group.level.clone());
    match groups.get_mut(&key) {
        None => {
            groups.insert(key, group.clone());
        }
        Some(sum) => {
            sum.claims = sum.claims.checked_add(group.claims).ok_or_else(overflow)?;
            sum.medfee_sumamt = sum.medfee_sumamt.checked_add(group.medfee_sumamt).ok_or_else(overflow)?;
            sum.hifp_pay = sum.hifp_pay.checked_add(group.hifp_pay).ok_or_else(overflow)?;
        }
    }
    Ok(())
}

fn summary(conn: &mut DbConnection, scope: &Scope, year: i32) -> Result<FundSummaryView, ApiError> {
    let sums = repo::entry_sums_by_month(conn, year, scope.county())?
        .into_iter()
        .map(|row| {
            Ok(MonthSum {
                month: stored_month(&row.month)?,
                kind: row.kind.parse().map_err(ApiError::internal)?,
                account: row.account.parse().map_err(ApiError::internal)?,
                amount: Fen(row.amount),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut claims_by_month: BTreeMap<Month, BTreeMap<(String, String), ClaimGroup>> = BTreeMap::new();
    let mut claims_of_year = BTreeMap::new();
    for ClaimGroupRow { month, med_type, level, claims, medfee_sumamt, hifp_pay } in
        repo::approved_claims_by_month(conn, year, scope.county())?
    {
        let group = ClaimGroup { med_type, level, claims, medfee_sumamt: Fen(medfee_sumamt), hifp_pay: Fen(hifp_pay) };
        add_group(claims_by_month.entry(stored_month(&month)?).or_default(), &group)?;
        add_group(&mut claims_of_year, &group)?;
    }
    let claim_months: Vec<Month> = claims_by_month.keys().copied().collect();
    let fund = figures(&sums, &claim_months).map_err(ApiError::internal)?;
    let months = fund
        .months
        .into_iter()
        .map(|figures| {
            let claims = claims_by_month.remove(&figures.month).map(|g| g.into_values().collect()).unwrap_or_default();
            MonthView { figures, claims }
        })
        .collect();
    Ok(FundSummaryView {
        county_code: scope.code().to_string(),
        year,
        totals: fund.totals,
        positions: fund.positions,
        use_ratio_bp: fund.use_ratio_bp,
        claims: claims_of_year.into_values().collect(),
        months,
    })
}

/// `GET /funds/{county}/summary?year=`.
#[tracing::instrument(skip_all)]
pub async fn get(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = scope(&caller, &path)?;
    let year = query.year.unwrap_or_else(|| china_time::today().year());
    if !YEARS.contains(&year) {
        return Err(ApiError::validation(vec![FieldError::new(
            "year",
            "year_invalid",
            "a fund year from 2003 to 2100",
        )]));
    }
    // One snapshot: the money and the claims are of the same moment.
    let view = pool.read(move |conn| summary(conn, &scope, year)).await?;
    Ok(HttpResponse::Ok().json(view))
}
