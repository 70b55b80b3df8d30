//! `PUT /batches/{id}/parts/{n}`: a part of a batch, streamed and checked row by row.
//! Re-sending part n replaces it, atomically: the new rows are staged under a new
//! upload id and take over only when the whole body has been read, so a failed
//! upload never loses the part that was there.

use std::sync::mpsc::SyncSender;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::batches::visible_batch;
use super::intake::{CHUNK, Intake, MAX_REPORTED_ERRORS, RowError, row_errors};
use super::parse::{self, PartError, PartFormat, Row, RowSink};
use super::repo::{self, PartRow, RecordRow};
use super::tallies::Deltas;
use crate::auth::{Caller, Role};
use crate::db::{DbPool, now};
use crate::domain::{BatchId, BatchState, CountyCode, RecordState, UploadId};
use crate::http::charset::{self, Charset, Decoding};
use crate::http::stream::{BodyReader, body_reader, refuse_declared_over};
use crate::http::{ApiError, FieldError};
use crate::pii::PiiKeys;

/// Chunks built ahead of the writer: enough to keep both threads busy, little memory.
const WRITE_QUEUE: usize = 2;

/// Largest part body. Bigger batches come in more parts.
pub const MAX_PART_BYTES: usize = 256 * 1024 * 1024;
/// Highest part number.
pub const MAX_PART_NO: i32 = 100_000;

#[derive(Debug, Deserialize)]
pub struct PartQuery {
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct RowWarning {
    pub row: u64,
    pub code: String,
}

/// The answer to an upload.
#[derive(Debug, Serialize)]
pub struct PartReport {
    pub part: i32,
    pub dry_run: bool,
    pub received: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// The first errors, per row and field; `rejected` counts them all.
    pub errors: Vec<RowError>,
    pub warnings: Vec<RowWarning>,
    pub ignored_columns: Vec<String>,
}

/// Rows of a part on their way from the parser to the writer, in the order read.
#[derive(Default)]
struct Chunk {
    /// Rows that could not be read as records, seen while filling this chunk.
    malformed: Vec<RowError>,
    /// Records built (checked, encrypted, hashed) from the other rows.
    records: Vec<RecordRow>,
}

/// The parser's side: builds records from rows and hands them to the writer a chunk at
/// a time, so that parsing and checking the next chunk overlap with storing this one.
struct Builder<'a> {
    intake: &'a Intake,
    chunk: Chunk,
    out: SyncSender<Chunk>,
    received: u64,
    ignored_columns: Vec<String>,
    failure: Option<ApiError>,
}

impl Builder<'_> {
    /// Hands the chunk to the writer; `false` when the writer has stopped (it failed,
    /// and its error is the upload's).
    fn send(&mut self) -> bool {
        if self.chunk.records.is_empty() && self.chunk.malformed.is_empty() {
            return true;
        }
        let chunk =
            std::mem::replace(&mut self.chunk, Chunk { malformed: Vec::new(), records: Vec::with_capacity(CHUNK) });
        if self.out.send(chunk).is_err() {
            self.failure = Some(ApiError::internal("the upload writer stopped"));
            return false;
        }
        true
    }
}

impl RowSink for Builder<'_> {
    fn row(&mut self, row_no: u64, row: Row) -> bool {
        self.received += 1;
        match row {
            Err(message) => self.chunk.malformed.push(RowError {
                row: row_no,
                field: String::new(),
                code: "row_malformed".into(),
                message,
            }),
            Ok(raw) => match self.intake.build(row_no, &raw) {
                Ok(record) => self.chunk.records.push(record),
                Err(e) => {
                    self.failure = Some(e);
                    return false;
                }
            },
        }
        if self.chunk.records.len() + self.chunk.malformed.len() >= CHUNK { self.send() } else { true }
    }

    fn ignored_columns(&mut self, columns: Vec<String>) {
        self.ignored_columns = columns;
    }
}

/// The writer's side: checks each chunk for duplicates, stores it and keeps the report.
struct Writer<'a> {
    pool: &'a DbPool,
    intake: &'a Intake,
    dry_run: bool,
    report: PartReport,
    /// The stored records by state and second, for the batch's tallies once the part
    /// completes.
    staged: Deltas,
}

impl Writer<'_> {
    fn store(&mut self, chunk: Chunk) -> Result<(), ApiError> {
        // Malformed rows first: they came before this chunk's records were stored.
        for e in chunk.malformed {
            self.report.rejected += 1;
            if self.report.errors.len() < MAX_REPORTED_ERRORS {
                self.report.errors.push(e);
            }
        }
        let mut rows = chunk.records;
        if rows.is_empty() {
            return Ok(());
        }
        let dry_run = self.dry_run;
        let intake = self.intake;
        self.pool.run_blocking(true, |conn| intake.store_chunk(conn, &mut rows, dry_run))?;
        if !dry_run {
            // Statistics as the table grows (each time it has about doubled).
            let refreshed =
                self.pool.run_blocking(false, |conn| repo::refresh_statistics_if_grown(conn).map_err(ApiError::from));
            if let Err(e) = refreshed {
                tracing::warn!(error = %e, "could not refresh the statistics of records");
            }
        }
        for row in &rows {
            if !dry_run {
                self.staged.add(&row.batch_id, row.state, row.state_changed_at, 1);
            }
            if row.state == RecordState::Received {
                self.report.accepted += 1;
                let warnings: Vec<String> = serde_json::from_str(&row.warnings).unwrap_or_default();
                for code in warnings {
                    if self.report.warnings.len() < MAX_REPORTED_ERRORS {
                        self.report.warnings.push(RowWarning { row: row.row_no as u64, code });
                    }
                }
            } else {
                self.report.rejected += 1;
                for e in row_errors(row) {
                    if self.report.errors.len() < MAX_REPORTED_ERRORS {
                        self.report.errors.push(e);
                    }
                }
            }
        }
        Ok(())
    }
}

fn part_error(e: PartError) -> ApiError {
    match e {
        PartError::ColumnMissing(ref missing) => ApiError::validation(
            missing
                .iter()
                .map(|c| FieldError::new(c, "column_missing", format!("the part has no {c} column")))
                .collect(),
        ),
        other => ApiError::unprocessable(other.code(), other.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all)]
pub async fn upload(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    pii: web::Data<PiiKeys>,
    path: web::Path<(BatchId, i32)>,
    query: web::Query<PartQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::CountyOffice])?;
    let (batch_id, part_no) = path.into_inner();
    let batch = visible_batch(&pool, &caller, &batch_id).await?;
    if !(1..=MAX_PART_NO).contains(&part_no) {
        return Err(ApiError::unprocessable("invalid_part_number", format!("parts are numbered 1 to {MAX_PART_NO}")));
    }
    if batch.state != BatchState::Open {
        return Err(ApiError::conflict("batch_not_open", "the batch has been submitted; correct records instead"));
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = PartFormat::from_content_type(content_type).ok_or_else(|| ApiError::UnsupportedMediaType {
        detail: format!("send text/csv, application/x-ndjson, application/json or {}", parse::XLSX),
    })?;
    let declared = charset::declared(content_type)
        .map_err(|other| ApiError::UnsupportedMediaType { detail: format!("charset {other} is not supported") })?;
    refuse_declared_over(&req, MAX_PART_BYTES)?;
    let batch_county =
        CountyCode::parse(&batch.county_code).map_err(|_| ApiError::internal("stored batch has a bad county"))?;
    let intake = Intake {
        pii: pii.get_ref().clone(),
        batch_id: batch.id.clone(),
        batch_county,
        allowed_counties: caller.scopes.clone(),
        part_no,
        upload_id: UploadId::new(),
        today: chrono::Utc::now().date_naive(),
    };
    let reader = body_reader(payload, MAX_PART_BYTES);
    let probe = reader.failure_probe();
    let dry_run = query.dry_run;
    let pool = pool.get_ref().clone();
    let span = tracing::Span::current();
    let report = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        receive(pool, intake, format, declared, reader, dry_run)
    })
    .await
    .map_err(ApiError::internal)?;
    match report {
        Ok(report) => Ok(HttpResponse::Ok().json(report)),
        // However the parser worded it, a body that did not arrive whole is 413 or 400.
        Err(e) => Err(probe.get().map_or(e, ApiError::from)),
    }
}

/// Copies the body to a temporary file. A body that did not arrive whole is told by the
/// reader's failure probe; any other failure here is the disk's.
fn spool(mut reader: BodyReader) -> Result<tempfile::NamedTempFile, ApiError> {
    let mut file = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
    std::io::copy(&mut reader, file.as_file_mut())
        .map_err(|e| ApiError::internal(format!("spooling a workbook: {e}")))?;
    Ok(file)
}

/// Reads, checks and stores a whole part: parsing and building records on this
/// blocking thread, storing them on a second one (see [`Builder`]).
fn receive(
    pool: DbPool,
    intake: Intake,
    format: PartFormat,
    charset: Charset,
    reader: BodyReader,
    dry_run: bool,
) -> Result<PartReport, ApiError> {
    let stored = read_and_store(&pool, &intake, format, charset, reader, dry_run);
    if dry_run {
        return stored.map(|(report, _)| report);
    }
    let completed = stored.and_then(|(report, staged)| complete(&pool, &intake, &report, staged).map(|()| report));
    if completed.is_err() {
        discard(&pool, &intake);
    }
    completed
}

/// Reads the part and stores its records as they come (a writer thread takes chunks
/// from the parser); returns the report and the tallies of what was staged.
fn read_and_store(
    pool: &DbPool,
    intake: &Intake,
    format: PartFormat,
    charset: Charset,
    reader: BodyReader,
    dry_run: bool,
) -> Result<(PartReport, Deltas), ApiError> {
    let (out, inbox) = std::sync::mpsc::sync_channel::<Chunk>(WRITE_QUEUE);
    let (read, written, received, ignored_columns) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let report = PartReport {
                part: intake.part_no,
                dry_run,
                received: 0,
                accepted: 0,
                rejected: 0,
                errors: Vec::new(),
                warnings: Vec::new(),
                ignored_columns: Vec::new(),
            };
            let mut writer = Writer { pool, intake, dry_run, report, staged: Deltas::default() };
            for chunk in inbox {
                writer.store(chunk)?;
            }
            Ok::<_, ApiError>((writer.report, writer.staged))
        });
        let mut builder = Builder {
            intake,
            chunk: Chunk { malformed: Vec::new(), records: Vec::with_capacity(CHUNK) },
            out,
            received: 0,
            ignored_columns: Vec::new(),
            failure: None,
        };
        let read = parse_into(&mut builder, format, charset, reader);
        let Builder { received, ignored_columns, out, .. } = builder;
        // Closing the channel ends the writer once it has stored what it holds.
        drop(out);
        let written = writer.join().unwrap_or_else(|_| Err(ApiError::internal("the upload writer panicked")));
        (read, written, received, ignored_columns)
    });
    // A writer failure is the cause when both failed (the parser then only saw the
    // channel close).
    match (read, written) {
        (_, Err(e)) | (Err(e), _) => Err(e),
        (Ok(()), Ok((report, staged))) => Ok((PartReport { received, ignored_columns, ..report }, staged)),
    }
}

/// Parses the body in its format into `builder`, which hands the rows on in chunks.
fn parse_into(
    builder: &mut Builder<'_>,
    format: PartFormat,
    charset: Charset,
    reader: BodyReader,
) -> Result<(), ApiError> {
    let parsed = if format == PartFormat::Xlsx {
        // A workbook is a zip archive, read from its end: spool it to a temporary file
        // (never to memory) and read the first sheet a row at a time.
        spool(reader).map(|file| parse::read_xlsx(file.path(), builder))
    } else {
        Ok(parse::read_part(format, Decoding::new(reader, charset), builder))
    };
    parsed.and_then(|result| match result {
        Ok(_) if builder.send() => Ok(()),
        Ok(_) | Err(PartError::Stopped) => {
            Err(builder.failure.take().unwrap_or_else(|| ApiError::internal("upload stopped without a cause")))
        }
        Err(e) => Err(part_error(e)),
    })
}

/// Makes the stored upload the part's current one, unless the batch was submitted
/// meanwhile.
fn complete(pool: &DbPool, intake: &Intake, report: &PartReport, staged: Deltas) -> Result<(), ApiError> {
    let part = PartRow {
        batch_id: intake.batch_id.clone(),
        part_no: intake.part_no,
        upload_id: intake.upload_id.clone(),
        received: report.received as i64,
        accepted: report.accepted as i64,
        rejected: report.rejected as i64,
        errors: serde_json::to_string(&report.errors).map_err(ApiError::internal)?,
        uploaded_at: now(),
    };
    pool.run_blocking(true, |conn| {
        // The batch may have been submitted while this part was uploading; held open
        // until this transaction ends, so that a submission counts the part.
        if repo::lock_open_batch(conn, &part.batch_id)? {
            Ok(repo::complete_part(conn, &part, staged)?)
        } else {
            Err(ApiError::conflict("batch_not_open", "the batch was submitted during the upload"))
        }
    })
}

/// Removes what a failed upload stored; the part's earlier upload stays current.
fn discard(pool: &DbPool, intake: &Intake) {
    let discarded = pool.run_blocking(true, |conn| {
        repo::discard_upload(conn, &intake.batch_id, intake.part_no, &intake.upload_id).map_err(ApiError::from)
    });
    if let Err(e) = discarded {
        tracing::warn!(error = %e, "could not discard a failed upload's rows");
    }
}
