//! Public disclosure of reimbursements (补偿公示): `GET /disclosures?county=&village=&month=`,
//! read by anyone without a token; this is how villagers supervise the fund.
//!
//! For one village and month (of admission, in China): every approved settlement of
//! the village's people with the holder's masked name and sex, the institution and
//! its level, the admission and discharge, the total and what the fund paid, and the
//! totals. A confidential claim shows neither institution nor level; cancelled,
//! flagged and rejected claims are left out; no citizen ID, card number or diagnosis
//! is read, let alone shown. A claim belongs to the village its holder lived in when
//! it was settled, so a notice once posted does not change when someone moves.
//!
//! As JSON, CSV, XLSX ([`formats`]) or a printable HTML notice for the village board
//! ([`notice`]), chosen by `?format=` or else by `Accept`; every answer carries a
//! strong `ETag` and `Cache-Control`, and a matching `If-None-Match` answers `304`.
//! The gateway lets the route through without a token and rate-limits it per client
//! address.

pub mod formats;
pub mod notice;

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::repo::disclosures::{self as repo, DisclosedClaim};
use crate::db::{DbConnection, DbPool};
use crate::domain::month::Month;
use crate::domain::normalize::normalize_text;
use crate::domain::record::MAX_VILLAGE_CHARS;
use crate::domain::{CountyCode, Fen, PersonNo, china_time};
use crate::http::etag::{self, Cacheable};
use crate::http::{ApiError, FieldError};
use formats::Format;
pub use notice::NoticeSettings;

/// Most claims one disclosure lists (a village sees a few hundred a month).
pub const MAX_CLAIMS: usize = 20_000;

/// How long a client or a cache may keep an answer without asking again.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The platform's time format: `yyyy-MM-dd HH:mm:ss`, China Standard Time.
const PLATFORM_TIME: &str = "%Y-%m-%d %H:%M:%S";

/// `?county=&village=&month=&format=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureQuery {
    pub county: Option<String>,
    pub village: Option<String>,
    /// `yyyy-MM`.
    pub month: Option<String>,
    /// `json`, `csv`, `xlsx` or `html`; overrides `Accept`.
    pub format: Option<String>,
}

/// A disclosure request the service trusts.
#[derive(Debug, Clone)]
pub struct DisclosureRequest {
    pub county: CountyCode,
    pub village: String,
    pub month: Month,
    pub format: Format,
}

impl DisclosureRequest {
    /// Every parameter checked, every error reported at once; the month must not be
    /// after `this_month`.
    pub fn parse(
        query: &DisclosureQuery,
        accept: Option<&str>,
        this_month: Month,
    ) -> Result<DisclosureRequest, ApiError> {
        let mut errors = Vec::new();
        let county = match query.county.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => {
                errors.push(FieldError::new("county", "county_missing", "give the six-digit county code"));
                None
            }
            Some(raw) => {
                CountyCode::parse(raw).map_err(|e| errors.push(FieldError::new("county", e.code(), e.to_string()))).ok()
            }
        };
        let village = normalize_text(query.village.as_deref().unwrap_or_default());
        if village.is_empty() {
            errors.push(FieldError::new("village", "village_missing", "give the village's name or code"));
        } else if village.chars().count() > MAX_VILLAGE_CHARS {
            errors.push(FieldError::new(
                "village",
                "village_too_long",
                format!("at most {MAX_VILLAGE_CHARS} characters"),
            ));
        }
        let month = match query.month.as_deref() {
            None | Some("") => {
                errors.push(FieldError::new("month", "month_missing", "give the month as yyyy-MM"));
                None
            }
            Some(raw) => match Month::parse(raw) {
                Ok(month) if month > this_month => {
                    errors.push(FieldError::new(
                        "month",
                        "month_in_future",
                        format!("{month} has not begun; the latest month is {this_month}"),
                    ));
                    None
                }
                Ok(month) => Some(month),
                Err(e) => {
                    errors.push(FieldError::new("month", e.code(), e.to_string()));
                    None
                }
            },
        };
        let format = match query.format.as_deref() {
            None | Some("") => Some(Format::negotiate(accept)),
            Some(name) => Format::from_name(name)
                .map_err(|_| errors.push(FieldError::new("format", "format_unknown", "one of json, csv, xlsx, html")))
                .ok(),
        };
        match (county, month, format) {
            (Some(county), Some(month), Some(format)) if errors.is_empty() => {
                Ok(DisclosureRequest { county, village, month, format })
            }
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// One reimbursement as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosedItem {
    /// Masked: 王*明.
    pub name: String,
    /// GB/T 2261.1 code, `1` or `2`.
    pub sex: String,
    /// The institution's code; `null` for a confidential claim.
    pub institution: Option<String>,
    /// `village` ... `provincial`; `null` for a confidential claim.
    pub level: Option<String>,
    /// Admission, `yyyy-MM-dd HH:mm:ss` in China.
    pub begntime: String,
    /// Discharge.
    pub endtime: String,
    pub medfee_sumamt: Fen,
    pub hifp_pay: Fen,
}

/// What a disclosure adds up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub claims: u64,
    pub medfee_sumamt: Fen,
    pub hifp_pay: Fen,
}

/// A village's reimbursements of one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosureView {
    pub county_code: String,
    pub village: String,
    pub month: Month,
    pub items: Vec<DisclosedItem>,
    pub totals: Totals,
}

fn platform_time(stored: NaiveDateTime) -> String {
    china_time::from_utc(stored).format(PLATFORM_TIME).to_string()
}

fn item(claim: DisclosedClaim, holders: &HashMap<PersonNo, (String, String)>) -> Result<DisclosedItem, ApiError> {
    let (name, sex) =
        holders.get(&claim.person_no).ok_or_else(|| ApiError::internal("a claim's holder is not a person"))?;
    let (institution, level) = if claim.confidential { (None, None) } else { (Some(claim.clinic), Some(claim.level)) };
    Ok(DisclosedItem {
        name: name.clone(),
        sex: sex.clone(),
        institution,
        level,
        begntime: platform_time(claim.admitted_at),
        endtime: platform_time(claim.discharged_at),
        medfee_sumamt: Fen(claim.medfee_sumamt),
        hifp_pay: Fen(claim.hifp_pay),
    })
}

/// The disclosure, or `None` when the village is not one of the county's.
fn disclosure(conn: &mut DbConnection, request: &DisclosureRequest) -> Result<Option<DisclosureView>, ApiError> {
    let (county, village) = (request.county.as_str(), request.village.as_str());
    let (from, to) = request.month.stored_range();
    let limit = i64::try_from(MAX_CLAIMS + 1).unwrap_or(i64::MAX);
    let claims = repo::approved_in(conn, county, village, from, to, limit)?;
    if claims.is_empty() && !repo::village_known(conn, county, village)? {
        return Ok(None);
    }
    if claims.len() > MAX_CLAIMS {
        return Err(ApiError::unprocessable(
            "disclosure_too_large",
            format!("more than {MAX_CLAIMS} claims in one village and month"),
        ));
    }
    let mut numbers: Vec<PersonNo> = claims.iter().map(|c| c.person_no.clone()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let holders: HashMap<PersonNo, (String, String)> =
        repo::masked_holders(conn, &numbers)?.into_iter().map(|(no, name, sex)| (no, (name, sex))).collect();
    let overflow = || ApiError::internal("a disclosure total does not fit in an amount");
    let mut totals = Totals::default();
    let mut items = Vec::with_capacity(claims.len());
    for claim in claims {
        let item = item(claim, &holders)?;
        totals.claims += 1;
        totals.medfee_sumamt = totals.medfee_sumamt.checked_add(item.medfee_sumamt).ok_or_else(overflow)?;
        totals.hifp_pay = totals.hifp_pay.checked_add(item.hifp_pay).ok_or_else(overflow)?;
        items.push(item);
    }
    Ok(Some(DisclosureView {
        county_code: county.to_string(),
        village: request.village.clone(),
        month: request.month,
        items,
        totals,
    }))
}

/// The answer in the format asked for.
async fn render(view: DisclosureView, format: Format, notice: &NoticeSettings) -> Result<Cacheable, ApiError> {
    let name = format!("disclosure-{}-{}", view.county_code, view.month);
    let attachment = |ext: &str| {
        HeaderValue::from_str(&format!("attachment; filename=\"{name}.{ext}\"")).map_err(ApiError::internal)
    };
    let mut headers = Vec::new();
    let body = match format {
        Format::Json => serde_json::to_vec(&view).map_err(ApiError::internal)?,
        Format::Csv => {
            headers.push((header::CONTENT_DISPOSITION, attachment("csv")?));
            formats::csv(&view)?
        }
        Format::Xlsx => {
            headers.push((header::CONTENT_DISPOSITION, attachment("xlsx")?));
            // A zip is built whole and compressed: off the async workers.
            web::block(move || formats::xlsx(&view)).await.map_err(ApiError::internal)??
        }
        Format::Html => {
            // The page names no outside resource and runs no script; say so to the browser.
            headers.push((
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            ));
            headers.push((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
            notice::page(&view, notice, china_time::today()).into_bytes()
        }
    };
    Ok(Cacheable {
        content_type: format.content_type(),
        body,
        cache_control: CACHE_CONTROL,
        vary: Some("Accept"),
        headers,
    })
}

/// `GET /disclosures?county=&village=&month=&format=`: no token.
#[tracing::instrument(skip_all)]
pub async fn get(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    notice: web::Data<NoticeSettings>,
    query: web::Query<DisclosureQuery>,
) -> Result<HttpResponse, ApiError> {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let request = DisclosureRequest::parse(&query, accept, Month::of(china_time::today()))?;
    let format = request.format;
    let county = request.county.as_str().to_string();
    let view = pool.read(move |conn| disclosure(conn, &request)).await?;
    let Some(view) = view else {
        return Err(ApiError::NotFound {
            code: "village_unknown",
            detail: format!("no village of this name in county {county}"),
        });
    };
    Ok(etag::respond(&req, render(view, format, &notice).await?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn query(county: &str, village: &str, month: &str, format: Option<&str>) -> DisclosureQuery {
        let some = |s: &str| Some(s.to_string());
        DisclosureQuery {
            county: some(county),
            village: some(village),
            month: some(month),
            format: format.map(String::from),
        }
    }

    fn codes(result: Result<DisclosureRequest, ApiError>) -> Vec<(String, String)> {
        match result {
            Err(ApiError::Validation { errors }) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_request_is_read_whole_and_every_error_named() {
        let may = Month::parse("2026-05").unwrap();
        let ok =
            DisclosureRequest::parse(&query("210804", " 前进村 ", "2026-05", None), Some("text/csv"), may).unwrap();
        assert_eq!(
            (ok.county.as_str(), ok.village.as_str(), ok.month, ok.format),
            ("210804", "前进村", may, Format::Csv)
        );
        let earlier = DisclosureRequest::parse(&query("210804", "前进村", "2026-04", Some("html")), None, may).unwrap();
        assert_eq!(earlier.format, Format::Html, "?format= decides");
        let pair = |f: &str, c: &str| (f.to_string(), c.to_string());
        assert_eq!(
            codes(DisclosureRequest::parse(&query("210804", "前进村", "2026-06", None), None, may)),
            [pair("month", "month_in_future")]
        );
        assert_eq!(
            codes(DisclosureRequest::parse(&query("210804", "前进村", "2026-5", None), None, may)),
            [pair("month", "month_invalid")]
        );
        assert_eq!(
            codes(DisclosureRequest::parse(&query("2108", "", "May", Some("pdf")), None, may)),
            [
                pair("county", "county_code_invalid"),
                pair("village", "village_missing"),
                pair("month", "month_invalid"),
                pair("format", "format_unknown")
            ]
        );
        let none = DisclosureQuery { county: None, village: None, month: None, format: None };
        assert_eq!(
            codes(DisclosureRequest::parse(&none, None, may)),
            [pair("county", "county_missing"), pair("village", "village_missing"), pair("month", "month_missing")]
        );
        let long = "村".repeat(MAX_VILLAGE_CHARS + 1);
        assert_eq!(
            codes(DisclosureRequest::parse(&query("210804", &long, "2026-05", None), None, may)),
            [pair("village", "village_too_long")]
        );
    }
}
