//! Records as the county sees them: listed by state and village (JSON, or CSV for the
//! villages), one record with its history, and corrections.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::batches::visible_batch;
use super::intake::Intake;
use super::repo::{self, RecordRow, VersionRow};
use crate::auth::{Caller, Role};
use crate::config::Service;
use crate::contracts::messages::MismatchReason;
use crate::db::{DbConnection, DbPool, now};
use crate::domain::record::{FieldIssue, RawRecord};
use crate::domain::{
    BatchId, CardStage, ClientId, CountyCode, OrderId, PersonName, RecordId, RecordState, StateMachine,
};
use crate::http::csv_output::{self, neutralise, wants_csv};
use crate::http::pagination::{MAX_LIMIT, Page, PageQuery, PageRequest};
use crate::http::{ApiError, extract};
use crate::outbox::{self, OutboxWaker};
use crate::pii::PiiKeys;

#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    pub state: Option<String>,
    pub village: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// A record as listed: personal data masked.
#[derive(Debug, Serialize)]
pub struct RecordView {
    pub id: RecordId,
    pub batch_id: BatchId,
    pub part: i32,
    pub row: i64,
    pub county_code: String,
    pub village: String,
    pub version: i32,
    pub state: RecordState,
    pub name: String,
    pub id_number: Option<String>,
    pub issues: Vec<FieldIssue>,
    pub warnings: Vec<String>,
    pub reasons: Vec<MismatchReason>,
    pub state_changed_at: DateTime<Utc>,
}

fn mask_name(name: &str) -> String {
    PersonName::parse(name).map(|p| p.name().mask()).unwrap_or_else(|_| {
        // An invalid name is shown as the county sent it, masked the same way.
        let chars: Vec<char> = name.chars().collect();
        match chars.len() {
            0 => String::new(),
            1 => "*".into(),
            2 => format!("{}*", chars[0]),
            n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
        }
    })
}

impl From<RecordRow> for RecordView {
    fn from(r: RecordRow) -> Self {
        RecordView {
            name: mask_name(&r.name),
            id_number: r.id_masked,
            issues: serde_json::from_str(&r.issues).unwrap_or_default(),
            warnings: serde_json::from_str(&r.warnings).unwrap_or_default(),
            reasons: serde_json::from_str(&r.reasons).unwrap_or_default(),
            state_changed_at: r.state_changed_at.and_utc(),
            id: r.id,
            batch_id: r.batch_id,
            part: r.part_no,
            row: r.row_no,
            county_code: r.county_code,
            village: r.village,
            version: r.version,
            state: r.state,
        }
    }
}

const CSV_HEADER: [&str; 10] = ["记录号", "分包", "行", "村", "姓名", "身份证号", "状态", "字段", "原因代码", "说明"];

/// The correction-list lines of `rows`: one line per problem of each record, cells
/// neutralised.
fn problem_lines(rows: &[RecordRow]) -> Vec<[String; 10]> {
    let mut lines = Vec::new();
    for r in rows {
        let view = RecordView::from(r.clone());
        let mut problems: Vec<(String, String, String)> =
            view.issues.iter().map(|i| (i.field.clone(), i.code.clone(), i.message.clone())).collect();
        problems.extend(view.reasons.iter().map(|reason| {
            let detail = reason.register_value.as_ref().map(|v| format!("户籍登记: {v}")).unwrap_or_default();
            (String::new(), reason.code.clone(), detail)
        }));
        if problems.is_empty() {
            problems.push((String::new(), String::new(), String::new()));
        }
        for (field, code, message) in problems {
            lines.push(
                [
                    view.id.to_string(),
                    view.part.to_string(),
                    view.row.to_string(),
                    view.village.clone(),
                    view.name.clone(),
                    view.id_number.clone().unwrap_or_default(),
                    view.state.to_string(),
                    field,
                    code,
                    message,
                ]
                .map(|c| neutralise(&c)),
            );
        }
    }
    lines
}

fn csv_lines(rows: &[RecordRow]) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for line in problem_lines(rows) {
        out.write_record(&line).map_err(ApiError::internal)?;
    }
    out.into_inner().map_err(ApiError::internal)
}

fn wants_xlsx(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(super::parse::XLSX))
}

/// Most records an XLSX correction list holds (a worksheet has 1,048,576 rows).
const XLSX_MAX_RECORDS: i64 = 200_000;

/// The correction list as an XLSX workbook. Built whole (the format is a zip), so it is
/// capped; the CSV list streams any size.
async fn export_xlsx(
    pool: DbPool,
    batch_id: BatchId,
    state: Option<RecordState>,
    village: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let rows = pool
        .read(move |conn| {
            repo::list_records(conn, &batch_id, state, village.as_deref(), &PageRequest::first(XLSX_MAX_RECORDS))
                .map_err(ApiError::from)
        })
        .await?;
    if rows.len() as i64 > XLSX_MAX_RECORDS {
        return Err(ApiError::unprocessable(
            "export_too_large",
            format!("more than {XLSX_MAX_RECORDS} records: filter by state or village, or ask for text/csv"),
        ));
    }
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        let xlsx = |e: rust_xlsxwriter::XlsxError| ApiError::internal(e);
        for (col, title) in CSV_HEADER.iter().enumerate() {
            sheet.write_string(0, col as u16, *title).map_err(xlsx)?;
        }
        for (i, line) in problem_lines(&rows).iter().enumerate() {
            for (col, cell) in line.iter().enumerate() {
                sheet.write_string(i as u32 + 1, col as u16, cell).map_err(xlsx)?;
            }
        }
        workbook.save_to_buffer().map_err(xlsx)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok()
        .content_type(super::parse::XLSX)
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"records.xlsx\""))
        .body(bytes))
}

#[tracing::instrument(skip_all)]
pub async fn list(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<BatchId>,
    query: web::Query<RecordQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice, Role::ProvincialAdmin, Role::Auditor])?;
    let batch = visible_batch(&pool, &caller, &path.into_inner()).await?;
    let query = query.into_inner();
    let state: Option<RecordState> = query.state.as_deref().map(str::parse).transpose().map_err(|_| {
        let names: Vec<&str> = RecordState::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::bad_request("invalid_state", format!("state must be one of {}", names.join(", ")))
    })?;
    if wants_csv(&req) {
        return Ok(export(pool.get_ref().clone(), batch.id, state, query.village));
    }
    if wants_xlsx(&req) {
        return export_xlsx(pool.get_ref().clone(), batch.id, state, query.village).await;
    }
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let (village, request) = (query.village, page.clone());
    let rows = pool
        .read(move |conn| {
            repo::list_records(conn, &batch.id, state, village.as_deref(), &request).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<RecordView> = rows.into_iter().map(RecordView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |r| r.id.to_string())))
}

/// The correction list for the villages as CSV (UTF-8 with a byte order mark, so that
/// Excel opens it right), streamed a page at a time.
fn export(pool: DbPool, batch_id: BatchId, state: Option<RecordState>, village: Option<String>) -> HttpResponse {
    csv_output::paged_download("records.csv", &CSV_HEADER, PageRequest::first(MAX_LIMIT), move |page| {
        let (pool, batch, village) = (pool.clone(), batch_id.clone(), village.clone());
        async move {
            let request = page.clone();
            let mut rows = pool
                .read(move |conn| {
                    repo::list_records(conn, &batch, state, village.as_deref(), &request).map_err(ApiError::from)
                })
                .await?;
            // The page holds one row more than it shows when another page follows.
            let more = rows.len() as i64 > page.limit;
            rows.truncate(page.limit as usize);
            let next = if more { rows.last().map(|r| page.after(r.id.clone())) } else { None };
            Ok((csv_lines(&rows)?, next))
        }
    })
}

/// One earlier version of a record.
#[derive(Debug, Serialize)]
pub struct VersionView {
    pub version: i32,
    pub state: RecordState,
    pub issues: Vec<FieldIssue>,
    pub warnings: Vec<String>,
    pub reasons: Vec<MismatchReason>,
    pub created_at: DateTime<Utc>,
    pub superseded_at: DateTime<Utc>,
}

impl From<VersionRow> for VersionView {
    fn from(v: VersionRow) -> Self {
        VersionView {
            version: v.version,
            state: v.state,
            issues: serde_json::from_str(&v.issues).unwrap_or_default(),
            warnings: serde_json::from_str(&v.warnings).unwrap_or_default(),
            reasons: serde_json::from_str(&v.reasons).unwrap_or_default(),
            created_at: v.created_at.and_utc(),
            superseded_at: v.superseded_at.and_utc(),
        }
    }
}

/// A record with every earlier version.
#[derive(Debug, Serialize)]
pub struct RecordDetail {
    #[serde(flatten)]
    pub record: RecordView,
    pub history: Vec<VersionView>,
    /// The card once the record is registered, as card making last reported it.
    pub card: Option<CardView>,
}

#[derive(Debug, Serialize)]
pub struct CardView {
    pub order_id: OrderId,
    pub state: CardStage,
    pub state_changed_at: DateTime<Utc>,
}

async fn visible_record(pool: &DbPool, caller: &Caller, id: RecordId) -> Result<RecordRow, ApiError> {
    let row = pool.read(move |conn| repo::find_record(conn, &id).map_err(ApiError::from)).await?;
    match row {
        Some(r) if caller.may_see_county(&r.county_code) => Ok(r),
        _ => Err(ApiError::not_found("record")),
    }
}

#[tracing::instrument(skip_all)]
pub async fn get(caller: Caller, pool: web::Data<DbPool>, path: web::Path<RecordId>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice, Role::ProvincialAdmin, Role::Auditor])?;
    let record = visible_record(&pool, &caller, path.into_inner()).await?;
    let id = record.id.clone();
    let (versions, card) =
        pool.read(move |conn| Ok::<_, ApiError>((repo::versions_of(conn, &id)?, repo::card_of(conn, &id)?))).await?;
    Ok(HttpResponse::Ok().json(RecordDetail {
        record: RecordView::from(record),
        history: versions.into_iter().map(VersionView::from).collect(),
        card: card.map(|(order_id, state, at)| CardView { order_id, state, state_changed_at: at.and_utc() }),
    }))
}

fn record_changed() -> ApiError {
    ApiError::conflict("record_changed", "the record changed meanwhile; read it again")
}

/// `PUT /records/{id}`: a corrected version (the whole record, as a JSON object of its
/// fields); the old version is kept, and a valid correction goes to verification.
#[tracing::instrument(skip_all)]
pub async fn correct(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    pii: web::Data<PiiKeys>,
    waker: web::Data<OutboxWaker>,
    path: web::Path<RecordId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice])?;
    let raw = correction_fields(&req, &body)?;
    let current = visible_record(&pool, &caller, path.into_inner()).await?;
    if !current.state.is_correctable() {
        return Err(ApiError::conflict(
            "record_not_correctable",
            format!("a record in state {} cannot be corrected", current.state),
        ));
    }
    let intake = Intake {
        pii: pii.get_ref().clone(),
        batch_id: current.batch_id.clone(),
        batch_county: CountyCode::parse(&current.county_code).map_err(ApiError::internal)?,
        allowed_counties: caller.scopes.clone(),
        part_no: current.part_no,
        upload_id: current.upload_id.clone(),
        today: Utc::now().date_naive(),
    };
    let mut next = intake.build(current.row_no as u64, &raw)?;
    next.id = current.id.clone();
    next.version = current.version + 1;
    next.created_at = current.created_at;
    let who = caller.client_id.clone();
    let saved = pool.write(move |conn| save_correction(conn, &intake, &current, next, who)).await?;
    waker.wake();
    Ok(HttpResponse::Ok().json(RecordView::from(saved)))
}

/// The fields of a correction: a JSON object of record fields (by their English or
/// Chinese names), each a string (a number is taken as its digits).
fn correction_fields(req: &HttpRequest, body: &[u8]) -> Result<RawRecord, ApiError> {
    let fields: serde_json::Map<String, serde_json::Value> = extract::parse_json(req, body)?;
    let mut raw = RawRecord::default();
    for (key, value) in fields {
        let Some(field) = crate::domain::record::field_for_header(&key) else {
            return Err(ApiError::validation(vec![crate::http::FieldError::new(
                &key,
                "field_unknown",
                "not a record field",
            )]));
        };
        match value {
            serde_json::Value::String(s) => raw.set(field, s),
            serde_json::Value::Number(n) => raw.set(field, n.to_string()),
            serde_json::Value::Null => {}
            _ => {
                return Err(ApiError::validation(vec![crate::http::FieldError::new(
                    field,
                    "field_not_text",
                    "give the field as a string",
                )]));
            }
        }
    }
    Ok(raw)
}

/// Saves `next` as the record's new version in the caller's transaction: the version
/// it replaces goes to the history, and a valid correction goes to verification.
fn save_correction(
    conn: &mut DbConnection,
    intake: &Intake,
    current: &RecordRow,
    mut next: RecordRow,
    who: ClientId,
) -> Result<RecordRow, ApiError> {
    // Re-read in the transaction; the update below holds only if the record is still
    // as read here, so that a concurrent correction is never lost.
    let latest = repo::find_record(conn, &current.id)?.ok_or_else(|| ApiError::not_found("record"))?;
    if latest.version != current.version || !latest.state.is_correctable() {
        return Err(record_changed());
    }
    intake.mark_duplicates(conn, std::slice::from_mut(&mut next))?;
    if next.state == RecordState::Received {
        next.state = RecordState::PendingVerification;
    }
    let step = latest.state.transition(next.state).map_err(ApiError::internal)?;
    let at = now();
    next.state_changed_at = at;
    if !repo::replace_record(conn, &next, latest.version, step)? {
        return Err(record_changed());
    }
    repo::save_version(
        conn,
        &VersionRow {
            record_id: latest.id.clone(),
            version: latest.version,
            state: latest.state,
            submitted_enc: latest.submitted_enc.clone(),
            issues: latest.issues.clone(),
            warnings: latest.warnings.clone(),
            reasons: latest.reasons.clone(),
            created_at: latest.state_changed_at,
            superseded_at: at,
            superseded_by: who,
        },
    )?;
    if next.state == RecordState::PendingVerification {
        let message = super::feeder::request(&next.batch_id, &next.county_code, std::slice::from_ref(&next));
        outbox::enqueue(conn, Service::Verification, &message)?;
    }
    Ok(next)
}
