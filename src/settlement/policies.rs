//! Reimbursement policies per county and year, versioned (`PUT/GET
//! /policies/{county}/{year}`), and the lookups the rest of settlement computes claims
//! and debit runs with.
//!
//! A provincial admin publishes a version with the date it takes effect; versions are
//! numbered from 1 per county and year and never change, so a claim that records the
//! version it was computed with can always be recomputed and explained.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::repo::policies::{self as repo, PolicyVersionRow, VersionSummaryRow};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::policy::{self, EffectiveFromError, Policy, PolicyDraft, PolicyFieldError};
use crate::domain::{ClientId, CountyCode};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError, extract};

/// How often a publication is tried again when a concurrent one took its version
/// number. Each round of collisions lets at least one publisher through, so N
/// concurrent publications to one county and year need at most N attempts; beyond 32
/// at once the last ones get `409 policy_version_taken`.
const PUBLISH_ATTEMPTS: u32 = 32;

/// A version of a county's policy for a year, as claims and debit runs use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub county_code: String,
    pub year: i32,
    pub version: i32,
    pub effective_from: NaiveDate,
    pub policy: Policy,
}

/// The version of `county`'s `year` policy in force on `on`: the one with the latest
/// effective date on or before `on` (of two on the same date, the higher number, which
/// corrected the other). A year's first policy covers the year from its first day, so
/// a date before every effective date gets the version of the earliest date. `None`
/// when the county has no policy for the year. Runs in the caller's transaction.
pub fn in_force(
    conn: &mut DbConnection,
    county: &str,
    year: i32,
    on: NaiveDate,
) -> Result<Option<PolicyVersion>, ApiError> {
    let row = match repo::effective_on(conn, county, year, on)? {
        Some(row) => Some(row),
        None => repo::earliest(conn, county, year)?,
    };
    row.map(|row| decode(row).map(|(version, _)| version)).transpose()
}

/// Of a year's versions, the one in force on `on`, by the rule of [`in_force`].
fn choose(versions: &[PolicyVersion], on: NaiveDate) -> Option<&PolicyVersion> {
    let key = |v: &&PolicyVersion| (v.effective_from, v.version);
    versions.iter().filter(|v| v.effective_from <= on).max_by_key(key).or_else(|| {
        let first = versions.iter().map(|v| v.effective_from).min()?;
        versions.iter().filter(|v| v.effective_from == first).max_by_key(key)
    })
}

/// How long [`PolicyCache::in_force_recent`] answers from memory without asking the
/// table: the bound on how late a process sees a version another process (a replica)
/// published. A version published through this process is seen at once.
pub const POLICY_CACHE_TTL: Duration = Duration::from_secs(5);

/// The decoded versions of each county's year, kept in memory so that the hot paths
/// neither query the table for the version in force nor parse its JSON terms each time.
/// Versions never change once published, so an entry only ever lacks newer versions:
/// [`PolicyCache::invalidate`] drops an entry when this process publishes, and each
/// entry is reloaded after [`POLICY_CACHE_TTL`] (eligibility) or as soon as the table's
/// highest version number differs from the entry's (claims).
#[derive(Default)]
pub struct PolicyCache {
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// Raised by every invalidation: a load that began before one is not stored.
    generation: u64,
    years: HashMap<(String, i32), CachedYear>,
}

struct CachedYear {
    loaded: Instant,
    /// The highest version number; none when the year had no policy.
    latest: Option<i32>,
    versions: Arc<Vec<PolicyVersion>>,
}

impl PolicyCache {
    /// The version in force on `on`, as the table stood at most [`POLICY_CACHE_TTL`]
    /// ago: for reads that show the terms (eligibility). Runs in the caller's
    /// connection only when the entry is missing or old.
    pub fn in_force_recent(
        &self,
        conn: &mut DbConnection,
        county: &str,
        year: i32,
        on: NaiveDate,
    ) -> Result<Option<PolicyVersion>, ApiError> {
        let cached = self.cached(county, year, |entry| entry.loaded.elapsed() < POLICY_CACHE_TTL);
        let versions = match cached {
            Some(versions) => versions,
            None => self.load(conn, county, year)?,
        };
        Ok(choose(&versions, on).cloned())
    }

    /// The version in force on `on` as the caller's transaction sees the table: the
    /// highest version number is read (one index lookup) and the entry used only when
    /// it has that version; for claims, which record the version they were computed
    /// with.
    pub fn in_force_current(
        &self,
        conn: &mut DbConnection,
        county: &str,
        year: i32,
        on: NaiveDate,
    ) -> Result<Option<PolicyVersion>, ApiError> {
        let latest = repo::latest_number(conn, county, year)?;
        let cached = self.cached(county, year, |entry| entry.latest == latest);
        let versions = match cached {
            Some(versions) => versions,
            None => self.load(conn, county, year)?,
        };
        Ok(choose(&versions, on).cloned())
    }

    /// Forgets `county`'s `year`: called once a publication has committed.
    pub fn invalidate(&self, county: &str, year: i32) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.generation = state.generation.wrapping_add(1);
        state.years.remove(&(county.to_string(), year));
    }

    fn cached(&self, county: &str, year: i32, usable: impl Fn(&CachedYear) -> bool) -> Option<Arc<Vec<PolicyVersion>>> {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.years.get(&(county.to_string(), year)).filter(|entry| usable(entry)).map(|entry| entry.versions.clone())
    }

    fn load(&self, conn: &mut DbConnection, county: &str, year: i32) -> Result<Arc<Vec<PolicyVersion>>, ApiError> {
        let generation = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).generation;
        let loaded = Instant::now();
        let versions: Vec<PolicyVersion> = repo::all_of_year(conn, county, year)?
            .into_iter()
            .map(|row| decode(row).map(|(version, _)| version))
            .collect::<Result<_, _>>()?;
        let latest = versions.iter().map(|v| v.version).max();
        let versions = Arc::new(versions);
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.generation == generation {
            state.years.insert((county.to_string(), year), CachedYear { loaded, latest, versions: versions.clone() });
        }
        Ok(versions)
    }
}

/// Version `version` of `county`'s `year` policy: the terms a recorded claim was
/// computed with. Runs in the caller's transaction.
pub fn version(
    conn: &mut DbConnection,
    county: &str,
    year: i32,
    version: i32,
) -> Result<Option<PolicyVersion>, ApiError> {
    repo::find(conn, county, year, version)?.map(|row| decode(row).map(|(version, _)| version)).transpose()
}

/// Whether `county` has a policy for `year`. Runs in the caller's transaction.
pub fn exists(conn: &mut DbConnection, county: &str, year: i32) -> Result<bool, ApiError> {
    Ok(repo::exists(conn, county, year)?)
}

/// Who published a version and when.
struct Publication {
    created_by: ClientId,
    created_at: DateTime<Utc>,
}

/// A stored row as a version. The terms were checked before they were stored, so a
/// row that no longer parses is a defect (or a hand edit), reported as such.
fn decode(row: PolicyVersionRow) -> Result<(PolicyVersion, Publication), ApiError> {
    let context = |what: String| {
        ApiError::internal(format!("stored policy {}/{} version {}: {what}", row.county_code, row.year, row.version))
    };
    let draft: PolicyDraft = serde_json::from_str(&row.terms).map_err(|e| context(e.to_string()))?;
    let policy = Policy::parse(draft).map_err(|errors| {
        let fields: Vec<String> = errors.into_iter().map(|e| format!("{} {}", e.field, e.code.code())).collect();
        context(format!("terms no longer valid: {}", fields.join(", ")))
    })?;
    let publication = Publication { created_by: row.created_by, created_at: row.created_at.and_utc() };
    let version = PolicyVersion {
        county_code: row.county_code,
        year: row.year,
        version: row.version,
        effective_from: row.effective_from,
        policy,
    };
    Ok((version, publication))
}

/// A version as the API shows it: who published it and when, then the terms.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    pub county_code: String,
    pub year: i32,
    pub version: i32,
    pub effective_from: NaiveDate,
    pub created_by: ClientId,
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub policy: Policy,
}

impl PolicyView {
    fn of(row: PolicyVersionRow) -> Result<PolicyView, ApiError> {
        let (v, p) = decode(row)?;
        Ok(PolicyView {
            county_code: v.county_code,
            year: v.year,
            version: v.version,
            effective_from: v.effective_from,
            created_by: p.created_by,
            created_at: p.created_at,
            policy: v.policy,
        })
    }
}

/// One line of the list of versions.
#[derive(Debug, Serialize)]
pub struct VersionSummary {
    pub version: i32,
    pub effective_from: NaiveDate,
    pub created_by: ClientId,
    pub created_at: DateTime<Utc>,
}

impl From<VersionSummaryRow> for VersionSummary {
    fn from(row: VersionSummaryRow) -> Self {
        VersionSummary {
            version: row.version,
            effective_from: row.effective_from,
            created_by: row.created_by,
            created_at: row.created_at.and_utc(),
        }
    }
}

/// A publication the service can carry out: a real county, a year of the scheme, a
/// date and terms that passed every check that needs no storage.
#[derive(Debug)]
struct PublishCommand {
    county: CountyCode,
    year: i32,
    effective_from: NaiveDate,
    policy: Policy,
}

fn field_errors(errors: Vec<PolicyFieldError>) -> impl Iterator<Item = FieldError> {
    errors.into_iter().map(|e| FieldError::new(&e.field, e.code.code(), e.message))
}

fn effective_from_error(e: EffectiveFromError) -> FieldError {
    FieldError::new("effective_from", e.code(), e.to_string())
}

impl PublishCommand {
    /// Reads the body (`effective_from` plus the terms of [`PolicyDraft`]) and checks
    /// it with the path; every problem is reported together.
    fn parse(req: &HttpRequest, body: &[u8], county: &str, year: &str) -> Result<PublishCommand, ApiError> {
        let mut members: serde_json::Map<String, Value> = extract::parse_json(req, body)?;
        // The date belongs to the version, not to its terms: taken out here so that the
        // terms keep refusing unknown members.
        let effective_from = members.remove("effective_from");
        let draft: PolicyDraft = serde_json::from_value(Value::Object(members))
            .map_err(|e| ApiError::bad_request("invalid_body", format!("request body: {e}")))?;

        let mut errors = Vec::new();
        let county = CountyCode::parse(county)
            .map_err(|e| {
                errors.push(FieldError::new("county", e.code(), "not a six-digit county-level code (GB/T 2260)"))
            })
            .ok();
        let year = year.trim().parse::<i32>().ok().filter(|y| policy::YEARS.contains(y));
        if year.is_none() {
            errors.push(FieldError::new(
                "year",
                "year_out_of_range",
                format!("a year from {} to {}", policy::YEARS.start(), policy::YEARS.end()),
            ));
        }
        let effective_from = match effective_from {
            None | Some(Value::Null) => {
                errors.push(FieldError::new("effective_from", "field_missing", "required"));
                None
            }
            Some(Value::String(text)) => {
                let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok();
                if date.is_none() {
                    errors.push(FieldError::new("effective_from", "date_invalid", "a date as yyyy-mm-dd"));
                }
                date
            }
            Some(_) => {
                errors.push(FieldError::new("effective_from", "date_invalid", "a date as yyyy-mm-dd"));
                None
            }
        };
        // The rules that hold whatever the earlier versions are; the one against the
        // previous version is checked again when it is read, in the transaction.
        if let (Some(year), Some(date)) = (year, effective_from)
            && let Err(e) = policy::check_effective_from(year, date, None)
        {
            errors.push(effective_from_error(e));
        }
        let policy = Policy::parse(draft).map_err(|e| errors.extend(field_errors(e))).ok();
        match (county, year, effective_from, policy) {
            (Some(county), Some(year), Some(effective_from), Some(policy)) if errors.is_empty() => {
                Ok(PublishCommand { county, year, effective_from, policy })
            }
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// Stores `command` as the next version. Inside the caller's transaction, each attempt
/// in a savepoint: a concurrent publication that took the number makes the insert fail
/// on the primary key, and the attempt is rolled back and made again on the new latest
/// version.
fn publish(conn: &mut DbConnection, command: &PublishCommand, created_by: &ClientId) -> Result<PolicyView, ApiError> {
    let terms = serde_json::to_string(&command.policy).map_err(ApiError::internal)?;
    let county = command.county.as_str();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = conn.transaction(|conn| {
            let previous = repo::latest(conn, county, command.year)?;
            let previous_date = previous.as_ref().map(|p| p.effective_from);
            if let Err(e) = policy::check_effective_from(command.year, command.effective_from, previous_date) {
                return Ok(Err(e));
            }
            let row = PolicyVersionRow {
                county_code: county.to_string(),
                year: command.year,
                version: previous.map_or(1, |p| p.version.saturating_add(1)),
                effective_from: command.effective_from,
                terms: terms.clone(),
                created_by: created_by.clone(),
                created_at: now(),
            };
            repo::insert(conn, &row)?;
            Ok::<_, DieselError>(Ok(row))
        });
        match outcome {
            Ok(Ok(row)) => return PolicyView::of(row),
            Ok(Err(e)) => return Err(ApiError::validation(vec![effective_from_error(e)])),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) if attempt < PUBLISH_ATTEMPTS => {
                tracing::debug!(county, year = command.year, attempt, "version number taken meanwhile, trying again");
            }
            Err(e) => return Err(ApiError::from(e)),
        }
    }
}

/// `PUT /policies/{county}/{year}` (provincial_admin): publishes a new version.
#[tracing::instrument(skip_all)]
pub async fn put(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    cache: web::Data<PolicyCache>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let (county, year) = path.into_inner();
    let command = PublishCommand::parse(&req, &body, &county, &year)?;
    let created_by = caller.client_id.clone();
    let (cached_county, cached_year) = (command.county.as_str().to_string(), command.year);
    let answer = idempotency::run(&pool, key, StatusCode::CREATED, move |conn| {
        let view = publish(conn, &command, &created_by)?;
        tracing::info!(
            county = %view.county_code,
            year = view.year,
            version = view.version,
            effective_from = %view.effective_from,
            "policy version published"
        );
        Ok(view)
    })
    .await;
    // After the commit (or a failure, which changed nothing): this process's next
    // lookup reads the new version.
    cache.invalidate(&cached_county, cached_year);
    answer
}

/// The county and year a read names, or `None` when the path cannot name a policy (it
/// then answers 404 like a policy that does not exist).
fn county_year(path: (String, String)) -> Option<(String, i32)> {
    let county = CountyCode::parse(&path.0).ok()?;
    let year = path.1.trim().parse::<i32>().ok().filter(|y| policy::YEARS.contains(y))?;
    Some((county.as_str().to_string(), year))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    pub version: Option<i32>,
}

/// `GET /policies/{county}/{year}` (every role): the latest version, or `?version=`.
#[tracing::instrument(skip_all)]
pub async fn get(
    _caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<(String, String)>,
    query: web::Query<VersionQuery>,
) -> Result<HttpResponse, ApiError> {
    let (county, year) = county_year(path.into_inner()).ok_or_else(|| ApiError::not_found("policy"))?;
    let version = query.version;
    let row = pool
        .read(move |conn| {
            let row = match version {
                Some(v) => repo::find(conn, &county, year, v)?,
                None => repo::latest(conn, &county, year)?,
            };
            Ok::<_, ApiError>(row)
        })
        .await?;
    let row = row.ok_or_else(|| ApiError::not_found(if version.is_some() { "policy version" } else { "policy" }))?;
    Ok(HttpResponse::Ok().json(PolicyView::of(row)?))
}

/// `GET /policies/{county}/{year}/versions` (every role): every version, oldest first.
#[tracing::instrument(skip_all)]
pub async fn versions(
    _caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse()?;
    let after = match &page.after {
        None => None,
        Some(key) => {
            Some(key.parse::<i32>().map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid"))?)
        }
    };
    let (county, year) = county_year(path.into_inner()).ok_or_else(|| ApiError::not_found("policy"))?;
    let limit = page.limit;
    let rows = pool
        .read(move |conn| {
            if !repo::exists(conn, &county, year)? {
                return Ok(None);
            }
            Ok::<_, ApiError>(Some(repo::versions(conn, &county, year, after, limit)?))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("policy"))?;
    let items: Vec<VersionSummary> = rows.into_iter().map(VersionSummary::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(items, &page, |v| v.version.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use serde_json::json;

    fn body() -> Value {
        json!({
            "effective_from": "2027-01-01",
            "levels": {
                "village": {"deductible": 10000, "ratio": 8500},
                "township": {"deductible": 10000, "ratio": 8500},
                "county": {"deductible": 30000, "ratio": 7500},
                "municipal": {"deductible": 60000, "ratio": 6000},
                "provincial": {"deductible": 100000, "ratio": 5000}
            },
            "inpatient_annual_cap": 15_000_000,
            "outpatient": {"ratio": 5000, "deductible_per_visit": 0, "annual_cap": 40000},
            "chronic": {"ratio": 6000, "annual_cap": 300_000},
            "premium_per_person": 38000,
            "subsidy_per_person": 61000
        })
    }

    fn parse(body: &Value, county: &str, year: &str) -> Result<PublishCommand, ApiError> {
        let req = TestRequest::put().insert_header(("content-type", "application/json")).to_http_request();
        PublishCommand::parse(&req, body.to_string().as_bytes(), county, year)
    }

    fn field_codes(err: ApiError) -> Vec<(String, String)> {
        match err {
            ApiError::Validation { errors } => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_good_body_is_a_command() {
        let c = parse(&body(), "210804", "2027").unwrap();
        assert_eq!((c.county.as_str(), c.year), ("210804", 2027));
        assert_eq!(c.effective_from, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
    }

    #[test]
    fn path_date_and_terms_are_reported_together() {
        let mut b = body();
        b["effective_from"] = json!("2027-02-30");
        b["levels"]["county"]["ratio"] = json!(12000);
        let got = field_codes(parse(&b, "210800", "1999").unwrap_err());
        let want = [
            ("county", "county_code_invalid"),
            ("year", "year_out_of_range"),
            ("effective_from", "date_invalid"),
            ("levels.county.ratio", "ratio_out_of_range"),
        ];
        assert_eq!(got, want.map(|(f, c)| (f.to_string(), c.to_string())));
    }

    #[test]
    fn the_effective_date_must_fit_the_year() {
        let mut b = body();
        b["effective_from"] = json!("2028-01-01");
        assert_eq!(
            field_codes(parse(&b, "210804", "2027").unwrap_err()),
            [("effective_from".to_string(), "effective_from_outside_year".to_string())]
        );
        b["effective_from"] = json!(20270101);
        assert_eq!(field_codes(parse(&b, "210804", "2027").unwrap_err())[0].1, "date_invalid");
        b.as_object_mut().unwrap().remove("effective_from");
        assert_eq!(field_codes(parse(&b, "210804", "2027").unwrap_err())[0].1, "field_missing");
    }

    #[test]
    fn unknown_members_and_wrong_shapes_are_unreadable() {
        let mut b = body();
        b["deductible"] = json!(1);
        assert_eq!(parse(&b, "210804", "2027").unwrap_err().code(), "invalid_body");
        assert_eq!(parse(&json!([1]), "210804", "2027").unwrap_err().code(), "invalid_body");
    }

    /// A migrated settlement database in a fresh SQLite file.
    fn database() -> (tempfile::TempDir, DbPool) {
        let dir = tempfile::tempdir().unwrap();
        let pool = DbPool::open(&dir.path().join("settlement.db").display().to_string(), 1).unwrap();
        crate::db::migrations::run(&pool, crate::config::Service::Settlement).unwrap();
        (dir, pool)
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// Publishes the sample policy for `county` in 2027 with `premium` as its mark.
    fn publish_on(conn: &mut DbConnection, county: &str, effective_from: &str, premium: i64) -> i32 {
        let mut b = body();
        b["effective_from"] = json!(effective_from);
        b["premium_per_person"] = json!(premium);
        let command = parse(&b, county, "2027").unwrap();
        publish(conn, &command, &ClientId::random()).unwrap().version
    }

    #[test]
    fn the_version_in_force_on_a_date() {
        let (_dir, pool) = database();
        pool.run_blocking(true, |conn| {
            assert_eq!(publish_on(conn, "210804", "2027-01-01", 1), 1);
            assert_eq!(publish_on(conn, "210804", "2027-07-01", 2), 2);
            // The same date again: a correction of version 2.
            assert_eq!(publish_on(conn, "210804", "2027-07-01", 3), 3);
            let on = |conn: &mut DbConnection, day: &str| {
                let v = in_force(conn, "210804", 2027, date(day)).unwrap().unwrap();
                (v.version, v.policy.premium_per_person().get())
            };
            assert_eq!(on(conn, "2026-12-15"), (1, 1)); // before every version: the first
            assert_eq!(on(conn, "2027-01-01"), (1, 1));
            assert_eq!(on(conn, "2027-06-30"), (1, 1));
            assert_eq!(on(conn, "2027-07-01"), (3, 3));
            assert_eq!(on(conn, "2028-02-01"), (3, 3));
            let v2 = version(conn, "210804", 2027, 2).unwrap().unwrap();
            assert_eq!((v2.county_code.as_str(), v2.year, v2.effective_from), ("210804", 2027, date("2027-07-01")));
            assert_eq!(v2.policy.premium_per_person().get(), 2);
            assert!(version(conn, "210804", 2027, 4).unwrap().is_none());
            assert!(exists(conn, "210804", 2027).unwrap());
            assert!(!exists(conn, "210804", 2028).unwrap());
            assert!(!exists(conn, "210805", 2027).unwrap());
            assert!(in_force(conn, "210805", 2027, date("2027-03-01")).unwrap().is_none());

            // Two versions of the first date: the correction covers the days before too.
            assert_eq!(publish_on(conn, "210881", "2027-02-01", 10), 1);
            assert_eq!(publish_on(conn, "210881", "2027-02-01", 11), 2);
            let early = in_force(conn, "210881", 2027, date("2027-01-10")).unwrap().unwrap();
            assert_eq!(early.version, 2);
            Ok::<_, ApiError>(())
        })
        .unwrap();
    }

    #[test]
    fn the_cache_answers_as_the_table_and_sees_new_versions() {
        let (_dir, pool) = database();
        let cache = PolicyCache::default();
        pool.run_blocking(true, |conn| {
            assert!(cache.in_force_recent(conn, "210804", 2027, date("2027-03-01")).unwrap().is_none());
            assert!(cache.in_force_current(conn, "210804", 2027, date("2027-03-01")).unwrap().is_none());
            publish_on(conn, "210804", "2027-01-01", 1);
            // A version the cache has not heard of: the claims' read sees it at once,
            // the eligibility read once told (or after the TTL).
            assert_eq!(cache.in_force_current(conn, "210804", 2027, date("2027-03-01")).unwrap().unwrap().version, 1);
            publish_on(conn, "210804", "2027-07-01", 2);
            publish_on(conn, "210804", "2027-07-01", 3);
            publish_on(conn, "210881", "2027-02-01", 10);
            publish_on(conn, "210881", "2027-02-01", 11);
            cache.invalidate("210804", 2027);
            for (county, day) in [
                ("210804", "2026-12-15"),
                ("210804", "2027-06-30"),
                ("210804", "2027-07-01"),
                ("210804", "2028-02-01"),
                ("210881", "2027-01-10"),
                ("210881", "2027-03-01"),
            ] {
                let table = in_force(conn, county, 2027, date(day)).unwrap();
                assert_eq!(cache.in_force_current(conn, county, 2027, date(day)).unwrap(), table, "{county} {day}");
                assert_eq!(cache.in_force_recent(conn, county, 2027, date(day)).unwrap(), table, "{county} {day}");
            }
            Ok::<_, ApiError>(())
        })
        .unwrap();
    }

    #[test]
    fn a_version_before_the_previous_one_is_refused_and_nothing_is_stored() {
        let (_dir, pool) = database();
        pool.run_blocking(true, |conn| {
            publish_on(conn, "210804", "2027-03-01", 1);
            let mut b = body();
            b["effective_from"] = json!("2027-02-28");
            let command = parse(&b, "210804", "2027").unwrap();
            let err = publish(conn, &command, &ClientId::random()).unwrap_err();
            assert_eq!(
                field_codes(err),
                [("effective_from".to_string(), "effective_from_before_previous".to_string())]
            );
            assert_eq!(repo::latest(conn, "210804", 2027).unwrap().unwrap().version, 1);
            Ok::<_, ApiError>(())
        })
        .unwrap();
    }

    #[test]
    fn a_taken_version_number_is_a_conflict_with_its_own_code() {
        let (_dir, pool) = database();
        pool.run_blocking(true, |conn| {
            publish_on(conn, "210804", "2027-01-01", 1);
            let mut row = repo::latest(conn, "210804", 2027).unwrap().unwrap();
            row.created_at = now();
            let err = ApiError::from(repo::insert(conn, &row).unwrap_err());
            assert_eq!(err.code(), "policy_version_taken");
            Ok::<_, ApiError>(())
        })
        .unwrap();
    }

    #[test]
    fn reads_name_a_policy_only_with_a_county_and_a_year_of_the_scheme() {
        assert_eq!(county_year(("210804".into(), "2027".into())), Some(("210804".to_string(), 2027)));
        assert_eq!(county_year(("x1".into(), "2027".into())), None);
        assert_eq!(county_year(("210804".into(), "x1".into())), None);
        assert_eq!(county_year(("210804".into(), "2101".into())), None);
    }
}
