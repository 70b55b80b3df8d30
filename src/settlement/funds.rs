//! County funds over HTTP: balances (`GET /funds/{county}`), the ledger
//! (`GET /funds/{county}/ledger`, JSON or CSV) and government subsidies
//! (`POST /funds/{county}/subsidies`).
//!
//! Provincial admins and auditors read every county's fund, a county office only the
//! funds of its own county codes; another county's fund answers 404, as one that does
//! not exist would.

use actix_web::http::Method;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::ledger::{self, Posting, TransactionView, YearBalances};
use super::repo::ledger::{self as repo, SubsidyRow};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, PageRequest, now};
use crate::domain::ledger::{Account, Movement, PostingBuilder, SubsidySource};
use crate::domain::{ClientId, CountyCode, Fen};
use crate::http::pagination::{MAX_LIMIT, Page, PageQuery};
use crate::http::routes::RouteTable;
use crate::http::{ApiError, FieldError, csv_output, extract};

/// Largest subsidy one request posts: 10^12 fen (10 billion yuan).
pub const MAX_SUBSIDY_FEN: i64 = 1_000_000_000_000;

/// Fund years a subsidy may be for (NCMS began in 2003).
const SUBSIDY_YEARS: std::ops::RangeInclusive<i32> = 2003..=2100;

/// Adds the funds routes to `table`.
pub fn routes(table: RouteTable) -> RouteTable {
    table
        .public(Method::GET, "/api/v1/funds/{county}", balances)
        .public(Method::GET, "/api/v1/funds/{county}/ledger", ledger_list)
        .public(Method::POST, "/api/v1/funds/{county}/subsidies", subsidy)
}

/// The county of the path if the caller may read its fund; 404 otherwise, exactly as
/// for a code that names no county.
pub(super) fn visible_county(caller: &Caller, path: &str) -> Result<CountyCode, ApiError> {
    caller.require(&[Role::ProvincialAdmin, Role::Auditor, Role::CountyOffice])?;
    match CountyCode::parse(path) {
        Ok(county) if caller.may_see_county(county.as_str()) => Ok(county),
        _ => Err(ApiError::not_found("fund")),
    }
}

/// A county fund's balances.
#[derive(Debug, Serialize)]
pub struct FundView {
    pub county_code: String,
    /// By year; years without entries are absent.
    pub years: Vec<YearBalances>,
}

/// `?year=`: one fund year only.
#[derive(Debug, Deserialize)]
pub struct YearQuery {
    pub year: Option<i32>,
}

/// `GET /funds/{county}`: balances per year and account, derived from the entries.
#[tracing::instrument(skip_all)]
pub async fn balances(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    query: web::Query<YearQuery>,
) -> Result<HttpResponse, ApiError> {
    let county = visible_county(&caller, &path)?;
    let year = query.year;
    let years = pool
        .read({
            let county = county.clone();
            move |conn| ledger::balances(conn, &county, year)
        })
        .await?;
    Ok(HttpResponse::Ok().json(FundView { county_code: county.as_str().to_string(), years }))
}

/// `?year=&cursor=&limit=` of the ledger list.
#[derive(Debug, Deserialize)]
pub struct LedgerQuery {
    pub year: Option<i32>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The seq after which a page starts (0 for the first page).
fn after_seq(page: &PageRequest) -> Result<i64, ApiError> {
    match &page.after {
        None => Ok(0),
        Some(key) => key.parse().map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid")),
    }
}

fn wants_csv(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/csv"))
}

/// `GET /funds/{county}/ledger`: the county's transactions in seq order with their
/// lines, one page at a time; with `Accept: text/csv`, every entry (of the year, if
/// given) as one CSV line, streamed.
#[tracing::instrument(skip_all)]
pub async fn ledger_list(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    query: web::Query<LedgerQuery>,
) -> Result<HttpResponse, ApiError> {
    let county = visible_county(&caller, &path)?;
    let query = query.into_inner();
    if wants_csv(&req) {
        return Ok(export(pool.get_ref().clone(), county, query.year));
    }
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let after = after_seq(&page)?;
    let (year, fetch) = (query.year, page.limit.saturating_add(1));
    let views = pool.read(move |conn| ledger::transactions(conn, &county, year, after, fetch)).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |t| t.seq.to_string())))
}

const CSV_HEADER: [&str; 11] = [
    "seq",
    "transaction_id",
    "created_at",
    "year",
    "kind",
    "reference",
    "line",
    "account",
    "amount",
    "prev_hash",
    "hash",
];

/// A cell a spreadsheet would run as a formula gets a leading quote (CSV injection).
/// Only the caller-chosen reference needs it; the other cells are ours (and a negative
/// amount must stay a number).
fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_string() }
}

fn csv_lines(transactions: &[TransactionView]) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for tx in transactions {
        for line in &tx.lines {
            out.write_record([
                tx.seq.to_string(),
                tx.id.clone(),
                tx.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
                tx.year.to_string(),
                tx.kind.as_str().to_string(),
                neutralise(&tx.reference),
                line.line.to_string(),
                line.account.as_str().to_string(),
                line.amount.get().to_string(),
                tx.prev_hash.clone(),
                tx.hash.clone(),
            ])
            .map_err(ApiError::internal)?;
        }
    }
    out.into_inner().map_err(ApiError::internal)
}

/// The ledger as CSV (UTF-8 with a byte order mark, so that spreadsheets read it
/// right), a page of transactions at a time.
fn export(pool: DbPool, county: CountyCode, year: Option<i32>) -> HttpResponse {
    csv_output::paged_download("ledger.csv", &CSV_HEADER, 0_i64, move |after| {
        let (pool, county) = (pool.clone(), county.clone());
        async move {
            let rows = pool.read(move |conn| ledger::transactions(conn, &county, year, after, MAX_LIMIT)).await?;
            let next = if (rows.len() as i64) < MAX_LIMIT { None } else { rows.last().map(|t| t.seq) };
            Ok((csv_lines(&rows)?, next))
        }
    })
}

/// The body of `POST /funds/{county}/subsidies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsidyBody {
    pub year: i32,
    pub source: String,
    /// Fen, 1 to 10^12.
    pub amount: i64,
    /// The subsidy's document or transfer number; one reference is one subsidy.
    pub reference: String,
}

/// A subsidy request the service trusts.
#[derive(Debug, Clone)]
pub struct SubsidyCommand {
    pub county: CountyCode,
    pub year: i32,
    pub source: SubsidySource,
    pub amount: Fen,
    pub reference: String,
}

impl SubsidyCommand {
    /// Every field checked, every error reported at once.
    pub fn parse(county: &str, body: SubsidyBody) -> Result<SubsidyCommand, ApiError> {
        let mut errors = Vec::new();
        let county = CountyCode::parse(county)
            .map_err(|e| errors.push(FieldError::new("county_code", e.code(), "not a six-digit county-level code")))
            .ok();
        if !SUBSIDY_YEARS.contains(&body.year) {
            errors.push(FieldError::new("year", "year_invalid", "a fund year from 2003 to 2100"));
        }
        let source = body
            .source
            .parse::<SubsidySource>()
            .map_err(|_| {
                errors.push(FieldError::new(
                    "source",
                    "source_unknown",
                    "one of central, provincial, municipal, county",
                ))
            })
            .ok();
        if body.amount <= 0 {
            errors.push(FieldError::new("amount", "amount_not_positive", "the amount in fen must be at least 1"));
        } else if body.amount > MAX_SUBSIDY_FEN {
            errors.push(FieldError::new("amount", "amount_too_large", "at most 1000000000000 fen in one subsidy"));
        }
        let reference = body.reference.trim().to_string();
        if reference.is_empty()
            || reference.chars().count() > ledger::MAX_REFERENCE_CHARS
            || reference.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "reference",
                "reference_invalid",
                "1 to 128 characters after trimming, no control characters",
            ));
        }
        match (county, source) {
            (Some(county), Some(source)) if errors.is_empty() => {
                Ok(SubsidyCommand { county, year: body.year, source, amount: Fen(body.amount), reference })
            }
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// A posted subsidy and its ledger transaction.
#[derive(Debug, Serialize)]
pub struct SubsidyView {
    pub county_code: String,
    pub year: i32,
    pub source: SubsidySource,
    pub amount: Fen,
    pub reference: String,
    pub created_by: ClientId,
    pub created_at: DateTime<Utc>,
    pub transaction: TransactionView,
}

impl SubsidyView {
    fn new(row: SubsidyRow, transaction: TransactionView) -> Result<SubsidyView, ApiError> {
        Ok(SubsidyView {
            source: row.source.parse().map_err(ApiError::internal)?,
            county_code: row.county_code,
            year: row.year,
            amount: Fen(row.amount),
            reference: row.reference,
            created_by: ClientId::from(row.created_by),
            created_at: row.created_at.and_utc(),
            transaction,
        })
    }
}

/// `POST /funds/{county}/subsidies`: `201` with the posted subsidy the first time,
/// `200` with the same answer when the same request comes again, `409
/// subsidy_reference_reused` when the reference was used for another year, source or
/// amount.
#[tracing::instrument(skip_all)]
pub async fn subsidy(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::ProvincialAdmin])?;
    let body: SubsidyBody = extract::parse_json(&req, &body)?;
    let command = SubsidyCommand::parse(&path, body)?;
    let created_by = caller.client_id.clone();
    let (created, view) = pool.write(move |conn| record_subsidy(conn, &command, &created_by)).await?;
    if created {
        tracing::info!(county = %view.county_code, reference = %view.reference, amount = view.amount.get(), "subsidy posted");
        Ok(HttpResponse::Created().json(view))
    } else {
        Ok(HttpResponse::Ok().json(view))
    }
}

fn reused(reference: &str) -> ApiError {
    ApiError::conflict(
        "subsidy_reference_reused",
        format!("subsidy {reference} was already posted with another year, source or amount"),
    )
}

/// Posts the subsidy unless its reference was posted before; `true` when it was new.
fn record_subsidy(
    conn: &mut DbConnection,
    command: &SubsidyCommand,
    created_by: &ClientId,
) -> Result<(bool, SubsidyView), ApiError> {
    let county = command.county.as_str();
    // The chain's lock first: two requests with one reference then see each other.
    ledger::lock_county(conn, &command.county)?;
    if let Some(existing) = repo::find_subsidy(conn, county, &command.reference)? {
        let same = existing.year == command.year
            && existing.source == command.source.as_str()
            && existing.amount == command.amount.get();
        if !same {
            return Err(reused(&command.reference));
        }
        let transaction = ledger::transaction(conn, &existing.transaction_id)?
            .ok_or_else(|| ApiError::internal("a subsidy without its ledger transaction"))?;
        return Ok((false, SubsidyView::new(existing, transaction)?));
    }
    let at = now();
    let lines = PostingBuilder::new()
        .transfer(Account::FundPool, Account::SubsidyIncome, command.amount)
        .build()
        .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    let posting = Posting {
        county_code: county.to_string(),
        year: command.year,
        kind: Movement::SubsidyReceived,
        reference: command.reference.clone(),
        lines: lines.into_lines(),
        at,
    };
    let posted = ledger::post(conn, &posting).map_err(|e| match e {
        ApiError::Conflict { code: "ledger_reference_reused", .. } => reused(&command.reference),
        other => other,
    })?;
    let row = SubsidyRow {
        county_code: county.to_string(),
        reference: command.reference.clone(),
        year: command.year,
        source: command.source.as_str().to_string(),
        amount: command.amount.get(),
        transaction_id: posted.transaction_id().to_string(),
        created_by: created_by.as_str().to_string(),
        created_at: at,
    };
    repo::insert_subsidy(conn, &row)?;
    // Chained at once (the county's lock is held already), so that the answer shows
    // the subsidy's place in the chain.
    while ledger::chain(conn, county)? == ledger::CHAIN_BATCH {}
    let transaction = ledger::transaction(conn, posted.transaction_id())?
        .ok_or_else(|| ApiError::internal("a subsidy's transaction vanished"))?;
    Ok((true, SubsidyView::new(row, transaction)?))
}
