//! Enrollment per person and year (`POST /enrollments`, `GET /enrollments`). A county
//! office names each person by card number or by citizen ID; a citizen ID is hashed on
//! arrival with the shared key and never stored. Rows are judged one by one, with the
//! row errors in the same shape as a batch upload's; enrolling twice is a no-op that
//! says so.

use std::collections::{HashMap, HashSet};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::policies;
use super::repo::enrollments::{self as repo, EnrollmentFilter, EnrollmentRow};
use super::repo::holders::{self as holder_repo, PersonRow};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::{CardNo, CitizenId, CountyCode, Fen, Pan, PersonNo, china_time};
use crate::http::charset::{self, Charset, Decoding};
use crate::http::csv_input::CsvGuard;
use crate::http::csv_output::{neutralise, wants_csv};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::{Page, PageQuery};
use crate::http::{ApiError, FieldError, extract};
use crate::pii::PiiKeys;

/// Most rows one request enrolls.
pub const MAX_ROWS: usize = 10_000;
/// Largest body: 10,000 rows as JSON with room to spare.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The years a policy, an enrollment or a debit run may be for.
pub const YEARS: std::ops::RangeInclusive<i64> = 2003..=2100;

/// One row as sent: JSON object or CSV line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowInput {
    pub card_no: Option<String>,
    pub citizen_id: Option<String>,
    pub year: Option<serde_json::Value>,
}

/// How a row names its person.
#[derive(Debug, Clone)]
enum PersonKey {
    Card(CardNo),
    /// The keyed hash of the citizen ID.
    Citizen(String),
}

impl PersonKey {
    fn field(&self) -> &'static str {
        match self {
            PersonKey::Card(_) => "card_no",
            PersonKey::Citizen(_) => "citizen_id",
        }
    }
}

struct Wanted {
    row: u64,
    key: PersonKey,
    year: i32,
}

/// Parses the rows; what cannot be read becomes a row error.
fn parse_rows(rows: Vec<RowInput>, pii: &PiiKeys, errors: &mut Vec<FieldError>) -> Vec<Wanted> {
    let today = china_time::today();
    let mut wanted = Vec::with_capacity(rows.len());
    for (row, input) in (1_u64..).zip(rows) {
        let card = input.card_no.as_deref().map(str::trim).filter(|v| !v.is_empty());
        let citizen = input.citizen_id.as_deref().map(str::trim).filter(|v| !v.is_empty());
        let key = match (card, citizen) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::at_row(
                    row,
                    "card_no",
                    "person_named_twice",
                    "give a card number or a citizen ID, not both",
                ));
                None
            }
            (None, None) => {
                errors.push(FieldError::at_row(row, "card_no", "person_missing", "give a card number or a citizen ID"));
                None
            }
            (Some(card), None) => match Pan::parse(card) {
                Ok(pan) => Some(PersonKey::Card(CardNo::from(pan))),
                Err(e) => {
                    errors.push(FieldError::at_row(row, "card_no", e.code(), e.to_string()));
                    None
                }
            },
            (None, Some(citizen)) => match CitizenId::parse(citizen, today) {
                Ok(id) => Some(PersonKey::Citizen(pii.hash(id.id().as_str()))),
                Err(e) => {
                    errors.push(FieldError::at_row(row, "citizen_id", e.code(), e.to_string()));
                    None
                }
            },
        };
        let year = match &input.year {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let year = match year {
            Some(y) if YEARS.contains(&y) => i32::try_from(y).ok(),
            _ => {
                errors.push(FieldError::at_row(
                    row,
                    "year",
                    "year_invalid",
                    format!("a year from {} to {}", YEARS.start(), YEARS.end()),
                ));
                None
            }
        };
        if let (Some(key), Some(year)) = (key, year) {
            wanted.push(Wanted { row, key, year });
        }
    }
    wanted
}

/// Reads the body: a JSON array of rows, or CSV (UTF-8 or GB18030) with a header of
/// `card_no`, `citizen_id`, `year` (or 卡号, 身份证号, 年度).
fn read_rows(req: &HttpRequest, body: &[u8]) -> Result<Vec<RowInput>, ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let rows: Vec<RowInput> = if content_type.starts_with("text/csv") {
        let charset = charset::declared(content_type).map_err(|c| {
            ApiError::bad_request("charset_unsupported", format!("charset {c} is not read; send utf-8 or gb18030"))
        })?;
        read_csv(body, charset)?
    } else {
        extract::parse_json_up_to(req, body, MAX_BODY_BYTES)?
    };
    if rows.is_empty() || rows.len() > MAX_ROWS {
        return Err(ApiError::validation(vec![FieldError::new(
            "rows",
            "rows_out_of_range",
            format!("send 1 to {MAX_ROWS} rows"),
        )]));
    }
    Ok(rows)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    CardNo,
    CitizenId,
    Year,
}

fn column(name: &str) -> Option<Column> {
    match name.trim().to_ascii_lowercase().as_str() {
        "card_no" | "卡号" => Some(Column::CardNo),
        "citizen_id" | "身份证号" => Some(Column::CitizenId),
        "year" | "年度" => Some(Column::Year),
        _ => None,
    }
}

fn read_csv(body: &[u8], charset: Charset) -> Result<Vec<RowInput>, ApiError> {
    let input_error = |e: crate::http::input::InputError| ApiError::unprocessable(e.code, e.message);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(CsvGuard::new(Decoding::new(body, charset)));
    let csv_error = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(io) => input_error(crate::http::input::InputError::from_io(io)),
        other => ApiError::unprocessable("csv_invalid", format!("{other:?}")),
    };
    let mut header = csv::StringRecord::new();
    if !reader.read_record(&mut header).map_err(csv_error)? {
        return Err(ApiError::unprocessable("empty_upload", "the body holds no rows"));
    }
    let names: Vec<&str> = header.iter().collect();
    let columns = crate::http::csv_input::map_header(&names, column, &[Column::Year]).map_err(|_| {
        ApiError::unprocessable("header_invalid", "the header names card_no or citizen_id, and year, each once")
    })?;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error)? {
        if rows.len() >= MAX_ROWS {
            return Err(ApiError::validation(vec![FieldError::new(
                "rows",
                "rows_out_of_range",
                format!("send 1 to {MAX_ROWS} rows"),
            )]));
        }
        let mut row = RowInput::default();
        for (value, column) in record.iter().zip(columns.columns.iter()) {
            match column {
                Some(Column::CardNo) => row.card_no = Some(value.to_string()),
                Some(Column::CitizenId) => row.citizen_id = Some(value.to_string()),
                Some(Column::Year) => row.year = Some(serde_json::Value::String(value.to_string())),
                None => {}
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

#[derive(Debug, Clone, Serialize)]
pub struct AlreadyEnrolled {
    pub row: u64,
    pub psn_no: PersonNo,
    pub year: i32,
}

#[derive(Debug, Serialize)]
pub struct EnrollmentReport {
    pub received: u64,
    pub enrolled: u64,
    pub already_enrolled: Vec<AlreadyEnrolled>,
    pub rejected: u64,
    pub errors: Vec<FieldError>,
}

/// `POST /enrollments`.
#[tracing::instrument(skip_all)]
pub async fn post(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    pii: web::Data<PiiKeys>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice])?;
    let body = extract::read_body(body, MAX_BODY_BYTES).await?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let rows = read_rows(&req, &body)?;
    let received = rows.len() as u64;
    let mut errors = Vec::new();
    let wanted = parse_rows(rows, &pii, &mut errors);
    idempotency::run(&pool, key, StatusCode::OK, move |conn| {
        let report = enroll(conn, &caller, wanted, errors, received)?;
        tracing::info!(received, enrolled = report.enrolled, rejected = report.rejected, "enrollments");
        Ok(report)
    })
    .await
}

fn enroll(
    conn: &mut DbConnection,
    caller: &Caller,
    wanted: Vec<Wanted>,
    mut errors: Vec<FieldError>,
    received: u64,
) -> Result<EnrollmentReport, ApiError> {
    crate::db::plan_for_parameters(conn)?;
    let cards: Vec<CardNo> =
        wanted.iter().filter_map(|w| if let PersonKey::Card(c) = &w.key { Some(c.clone()) } else { None }).collect();
    let hashes: Vec<String> =
        wanted.iter().filter_map(|w| if let PersonKey::Citizen(h) = &w.key { Some(h.clone()) } else { None }).collect();
    let by_card: HashMap<CardNo, PersonRow> =
        holder_repo::cards_with_holders(conn, &cards)?.into_iter().map(|(c, p)| (c.card_no, p)).collect();
    let by_hash: HashMap<String, PersonRow> =
        holder_repo::persons_by_hash(conn, &hashes)?.into_iter().map(|p| (p.id_hash.clone(), p)).collect();
    let mut policies_known: HashMap<(String, i32), bool> = HashMap::new();
    let mut found: Vec<(u64, PersonRow, i32)> = Vec::with_capacity(wanted.len());
    for w in wanted {
        let person = match &w.key {
            PersonKey::Card(c) => by_card.get(c),
            PersonKey::Citizen(h) => by_hash.get(h),
        }
        .filter(|p| caller.scopes.contains(&p.county_code));
        let Some(person) = person else {
            errors.push(FieldError::at_row(
                w.row,
                w.key.field(),
                "person_not_found",
                "no card holder of yours by this number",
            ));
            continue;
        };
        let known = match policies_known.get(&(person.county_code.clone(), w.year)) {
            Some(known) => *known,
            None => {
                let known = policies::exists(conn, &person.county_code, w.year)?;
                policies_known.insert((person.county_code.clone(), w.year), known);
                known
            }
        };
        if !known {
            errors.push(FieldError::at_row(
                w.row,
                "year",
                "no_policy",
                format!("county {} has no policy for {}", person.county_code, w.year),
            ));
            continue;
        }
        found.push((w.row, person.clone(), w.year));
    }
    let mut already = Vec::new();
    let mut new_rows = Vec::new();
    let mut seen: HashSet<(PersonNo, i32)> = HashSet::new();
    let mut years: HashMap<i32, Vec<PersonNo>> = HashMap::new();
    for (_, person, year) in &found {
        years.entry(*year).or_default().push(person.person_no.clone());
    }
    for (year, persons) in years {
        for person in repo::enrolled(conn, &persons, year)? {
            seen.insert((person, year));
        }
    }
    let at = now();
    for (row, person, year) in found {
        if !seen.insert((person.person_no.clone(), year)) {
            already.push(AlreadyEnrolled { row, psn_no: person.person_no, year });
            continue;
        }
        new_rows.push(EnrollmentRow {
            person_no: person.person_no,
            year,
            county_code: person.county_code,
            village: person.village,
            enrolled_by: caller.client_id.clone(),
            enrolled_at: at,
            paid_at: None,
            paid_amount: None,
            paid_by: None,
        });
    }
    repo::insert(conn, &new_rows)?;
    errors.sort_by_key(|e| e.row);
    Ok(EnrollmentReport {
        received,
        enrolled: new_rows.len() as u64,
        already_enrolled: already,
        rejected: errors.iter().filter_map(|e| e.row).collect::<HashSet<_>>().len() as u64,
        errors,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub card_no: Option<String>,
    pub county: Option<String>,
    pub year: Option<i32>,
    pub village: Option<String>,
    pub paid: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct EnrollmentView {
    pub psn_no: PersonNo,
    pub card_no: CardNo,
    /// 王*明.
    pub name: String,
    pub county_code: String,
    pub village: String,
    pub year: i32,
    pub enrolled_at: DateTime<Utc>,
    pub paid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_amount: Option<Fen>,
}

fn view(e: EnrollmentRow, p: PersonRow) -> EnrollmentView {
    EnrollmentView {
        psn_no: e.person_no,
        card_no: p.card_no,
        name: p.name_masked,
        county_code: e.county_code,
        village: e.village,
        year: e.year,
        enrolled_at: e.enrolled_at.and_utc(),
        paid: e.paid_at.is_some(),
        paid_at: e.paid_at.map(|t| t.and_utc()),
        paid_amount: e.paid_amount.map(Fen),
    }
}

/// `GET /enrollments?card_no=&year=` (one person's enrollment) or
/// `GET /enrollments?county=&year=&village=&paid=` (a county's list, paginated; CSV
/// with `Accept: text/csv`).
#[tracing::instrument(skip_all)]
pub async fn get(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice, Role::ProvincialAdmin, Role::Auditor])?;
    let query = query.into_inner();
    let year = query.year.filter(|y| YEARS.contains(&i64::from(*y))).ok_or_else(|| {
        ApiError::validation(vec![FieldError::new("year", "year_invalid", "give the year, from 2003 to 2100")])
    })?;
    if let Some(raw) = &query.card_no {
        let card_no = CardNo::from(Pan::parse(raw).map_err(|_| ApiError::not_found("enrollment"))?);
        let found = pool
            .read(move |conn| {
                let Some((_, person)) = holder_repo::card_with_holder(conn, &card_no)? else {
                    return Ok::<_, ApiError>(None);
                };
                Ok(repo::enrollment(conn, &person.person_no, year)?.map(|e| (e, person)))
            })
            .await?;
        return match found.filter(|(e, _)| caller.may_see_county(&e.county_code)) {
            Some((e, p)) => Ok(HttpResponse::Ok().json(view(e, p))),
            None => Err(ApiError::not_found("enrollment")),
        };
    }
    let county = query.county.as_deref().and_then(|c| CountyCode::parse(c).ok()).ok_or_else(|| {
        ApiError::validation(vec![FieldError::new("county", "county_invalid", "give card_no, or a county code")])
    })?;
    if !caller.may_see_county(county.as_str()) {
        return Err(ApiError::not_found("county"));
    }
    let csv = wants_csv(&req);
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let filter =
        EnrollmentFilter { county_code: county.as_str().to_string(), year, village: query.village, paid: query.paid };
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::page(conn, &filter, &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<EnrollmentView> = rows.into_iter().map(|(e, p)| view(e, p)).collect();
    let page: Page<EnrollmentView> = Page::from_rows(views, &page, |v| v.psn_no.to_string());
    if csv {
        return csv_page(&page);
    }
    Ok(HttpResponse::Ok().json(page))
}

fn csv_page(page: &Page<EnrollmentView>) -> Result<HttpResponse, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "psn_no",
        "card_no",
        "name",
        "county_code",
        "village",
        "year",
        "enrolled_at",
        "paid",
        "paid_at",
        "paid_amount",
    ])
    .map_err(ApiError::internal)?;
    for v in &page.items {
        out.write_record([
            v.psn_no.to_string(),
            v.card_no.to_string(),
            neutralise(&v.name),
            v.county_code.clone(),
            neutralise(&v.village),
            v.year.to_string(),
            v.enrolled_at.to_rfc3339(),
            v.paid.to_string(),
            v.paid_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            v.paid_amount.map(|a| a.get().to_string()).unwrap_or_default(),
        ])
        .map_err(ApiError::internal)?;
    }
    let body = out.into_inner().map_err(ApiError::internal)?;
    let mut response = HttpResponse::Ok();
    response.content_type("text/csv; charset=utf-8");
    if let Some(next) = &page.next_cursor {
        response.insert_header(("X-Next-Cursor", next.as_str()));
    }
    Ok(response.body(body))
}
