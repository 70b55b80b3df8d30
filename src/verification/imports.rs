//! Register imports: `POST /api/v1/registry/imports?kind=snapshot|delta` and reading
//! them back.
//!
//! The body is streamed: the handler forwards actix's payload chunk by chunk through a
//! small channel to a blocking thread, which decodes, parses and validates rows and
//! inserts the valid ones in chunks of [`CHUNK_ROWS`], one transaction per chunk, so
//! neither memory nor a transaction grows with the upload.
//!
//! Atomicity: the rows of an import are written under the import's own id as their
//! snapshot id, which matching never reads. When the whole body has been read, one
//! transaction makes a snapshot the active one (the previous one becomes `superseded`),
//! or applies a delta to the active snapshot (rows with an ID the delta holds are
//! replaced, new IDs are added). The rows of a superseded snapshot or of a failed
//! import are deleted afterwards in a transaction of their own, so the switch itself
//! is instant and matching never sees a half-deleted register. An upload that fails for
//! any reason (malformed input, body over the limit, the client going away) leaves the
//! active register untouched and the import `failed` with a code and a reason.
//!
//! On PostgreSQL the rows of each import are a partition of their own: loaded with no
//! index, indexed in one bulk build when the body has been read (before the switch), and
//! dropped as a table when dead (see migration `register_partitions`).
//!
//! A delta that holds an ID twice adds both rows, like a snapshot does: the register
//! then holds that ID twice and matching reports `register_duplicate`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::parse::{self, Format, RowSource, ValidRow};
use super::repo::{self, EntryToStore, ImportErrorRow, ImportRow};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, now};
use crate::domain::ImportState;
use crate::http::extract::UploadLimit;
use crate::http::input::{BODY_TOO_LARGE, InputError, UPLOAD_INTERRUPTED};
use crate::http::pagination::{Page, PageQuery};
use crate::http::stream::{BodyReader, body_channel, refuse_declared_over};
use crate::http::{ApiError, FieldError};
use crate::pii::PiiKeys;

/// Valid rows written per transaction: each chunk is a `COPY` and a commit, whose fixed
/// cost showed at 5,000 (a thousand of each for five million rows); in flight at once
/// (queue plus writers) they stay within tens of megabytes.
pub const CHUNK_ROWS: usize = 20_000;
/// Chunks parsed ahead of the writers: enough to keep every thread busy, little memory.
const WRITE_QUEUE: usize = 4;
/// Writers storing chunks at once, each on its own connection: with one, the COPY of a
/// chunk and the preparing and committing around it took turns instead of overlapping.
const WRITERS: usize = 3;
/// How often a running import's counts are written for clients polling it.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Row errors shown in an import's view (the first 1,000 are kept).
pub const SHOWN_ERRORS: i64 = 100;

/// Who may read imports: the registry admin, and the province-wide readers.
const READERS: [Role; 3] = [Role::RegistryAdmin, Role::ProvincialAdmin, Role::Auditor];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Snapshot,
    Delta,
}

impl Kind {
    fn parse(value: Option<&str>) -> Result<Kind, ApiError> {
        match value {
            Some("snapshot") => Ok(Kind::Snapshot),
            Some("delta") => Ok(Kind::Delta),
            _ => Err(ApiError::bad_request("invalid_kind", "kind must be snapshot or delta")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Snapshot => "snapshot",
            Kind::Delta => "delta",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    pub kind: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FailureView {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct ImportView {
    pub id: String,
    pub kind: String,
    pub state: ImportState,
    pub rows_total: i64,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_invalid: i64,
    /// The first 100 row errors (absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureView>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl ImportView {
    fn new(row: ImportRow, errors: Option<Vec<ImportErrorRow>>) -> ImportView {
        let failure = match (row.failure_code, row.failure_reason) {
            (Some(code), reason) => Some(FailureView { code, message: reason.unwrap_or_default() }),
            _ => None,
        };
        ImportView {
            id: row.id,
            kind: row.kind,
            state: row.state,
            rows_total: row.rows_total,
            rows_inserted: row.rows_inserted,
            rows_updated: row.rows_updated,
            rows_invalid: row.rows_invalid,
            errors: errors.map(|rows| {
                rows.into_iter()
                    .map(|e| FieldError {
                        row: u64::try_from(e.row_no).ok(),
                        field: e.field,
                        code: e.code,
                        message: e.message,
                    })
                    .collect()
            }),
            failure,
            created_at: row.created_at.and_utc(),
            finished_at: row.finished_at.map(|t| t.and_utc()),
        }
    }
}

fn load_view(conn: &mut DbConnection, id: &str) -> Result<Option<ImportView>, ApiError> {
    let Some(row) = repo::find_import(conn, id)? else {
        return Ok(None);
    };
    let errors = repo::import_errors(conn, id, SHOWN_ERRORS)?;
    Ok(Some(ImportView::new(row, Some(errors))))
}

#[tracing::instrument(skip_all)]
pub async fn get(caller: Caller, pool: web::Data<DbPool>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(&READERS)?;
    let id = path.into_inner();
    let view = pool.read(move |conn| load_view(conn, &id)).await?;
    view.map(|v| HttpResponse::Ok().json(v)).ok_or_else(|| ApiError::not_found("import"))
}

#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&READERS)?;
    let page = query.parse()?;
    let rows = pool
        .read({
            let page = page.clone();
            move |conn| repo::list_imports(conn, &page).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<ImportView> = rows.into_iter().map(|r| ImportView::new(r, None)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |v| v.id.clone())))
}

/// Why an import failed: what is stored on the import, and what the client is told.
struct Failure {
    code: &'static str,
    reason: String,
    error: ApiError,
}

impl Failure {
    fn input(import_id: &str, limit: usize, e: InputError) -> Failure {
        let error = match e.code {
            BODY_TOO_LARGE => ApiError::too_large(Some(limit)),
            UPLOAD_INTERRUPTED => ApiError::bad_request(UPLOAD_INTERRUPTED, e.message.clone()),
            "no_active_snapshot" => ApiError::conflict("no_active_snapshot", e.message.clone()),
            code => ApiError::unprocessable(code, format!("import {import_id}: {}", e.message)),
        };
        Failure { code: e.code, reason: e.message, error }
    }

    fn internal(error: ApiError) -> Failure {
        Failure { code: "internal_error", reason: "internal error; the service log has the cause".into(), error }
    }
}

/// Counts of an import while it runs.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    total: i64,
    invalid: i64,
    valid: i64,
    kept_errors: i64,
}

/// Rows handed from the parser to a writer, with the counts as of their last row.
struct Chunk {
    /// Checked rows; the writer encrypts and hashes them (that work is spread over the
    /// writers instead of lengthening the parser's).
    rows: Vec<ValidRow>,
    errors: Vec<ImportErrorRow>,
    stats: Stats,
}

/// Everything the blocking side of an import needs.
struct Job {
    pool: DbPool,
    pii: PiiKeys,
    import_id: String,
    kind: Kind,
    format: Format,
    today: NaiveDate,
    limit: usize,
    /// When the import's progress was last written (see [`PROGRESS_EVERY`]).
    progress_written: std::sync::Mutex<Instant>,
}

impl Job {
    fn input(&self, e: InputError) -> Failure {
        Failure::input(&self.import_id, self.limit, e)
    }

    /// Reads, validates and stores every row, then applies the import; marks it failed
    /// on any error. Returns the snapshot whose rows are now dead (superseded or failed).
    fn run(&self, body: BodyReader) -> (Option<String>, Result<(), Failure>) {
        let mut stats = Stats::default();
        match self.load(body, &mut stats).and_then(|()| self.apply(stats)) {
            Ok(dead) => (dead, Ok(())),
            Err(failure) => {
                if let ApiError::Internal(cause) = &failure.error {
                    let cause = crate::http::problem::cause_chain(cause.as_ref());
                    tracing::error!(import_id = %self.import_id, error.cause = %cause, "import failed");
                }
                let (id, code, reason) = (self.import_id.clone(), failure.code, failure.reason.clone());
                let marked = self.pool.run_blocking(true, |conn| {
                    repo::mark_failed(conn, &id, stats.total, stats.invalid, code, &reason, now())
                        .map_err(ApiError::from)
                });
                if let Err(e) = marked {
                    tracing::error!(import_id = %self.import_id, error = %e, "could not mark the import failed");
                }
                (Some(self.import_id.clone()), Err(failure))
            }
        }
    }

    /// Parses on this thread and writes on [`WRITERS`] others, so that decoding,
    /// checking, encrypting and hashing the next chunk overlap with storing the last
    /// ones, and one writer's COPY runs while another prepares its rows or commits.
    /// Chunks may be stored in any order (each row carries its row number). If a writer
    /// fails, the others and the parser stop at their next chunk and that writer's error
    /// is the import's.
    fn load(&self, body: BodyReader, stats: &mut Stats) -> Result<(), Failure> {
        let (chunks, inbox) = std::sync::mpsc::sync_channel::<Chunk>(WRITE_QUEUE);
        let inbox = std::sync::Mutex::new(inbox);
        let stopped = AtomicBool::new(false);
        let (parsed, written) = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..WRITERS)
                .map(|_| {
                    scope.spawn(|| {
                        loop {
                            // The lock is held only while waiting for the next chunk.
                            let next = match inbox.lock() {
                                Ok(inbox) => inbox.recv(),
                                Err(_) => {
                                    return Err(Failure::internal(ApiError::internal("an import writer panicked")));
                                }
                            };
                            let Ok(chunk) = next else { return Ok(()) };
                            if stopped.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            if let Err(failure) = self.flush(chunk) {
                                stopped.store(true, Ordering::Relaxed);
                                return Err(failure);
                            }
                        }
                    })
                })
                .collect();
            let parsed = self.parse(body, stats, &chunks, &stopped);
            drop(chunks);
            let written = writers.into_iter().try_for_each(|writer| {
                writer
                    .join()
                    .unwrap_or_else(|_| Err(Failure::internal(ApiError::internal("an import writer panicked"))))
            });
            (parsed, written)
        });
        // A writer failure is the cause when both failed (the parser then only saw the
        // channel close).
        written?;
        parsed?;
        if stats.total == 0 {
            return Err(self.input(InputError::new("empty_import", "the body holds no rows")));
        }
        if self.kind == Kind::Snapshot && stats.valid == 0 {
            // Activating it would empty the register.
            return Err(self.input(InputError::new("no_valid_rows", "no row of the snapshot is valid")));
        }
        Ok(())
    }

    /// Reads and checks every row, handing chunks of [`CHUNK_ROWS`] valid rows (and
    /// the row errors met meanwhile) to the writers.
    fn parse(
        &self,
        body: BodyReader,
        stats: &mut Stats,
        chunks: &SyncSender<Chunk>,
        stopped: &AtomicBool,
    ) -> Result<(), Failure> {
        let mut source = RowSource::open(body, self.format).map_err(|e| self.input(e))?;
        let mut rows: Vec<ValidRow> = Vec::with_capacity(CHUNK_ROWS);
        let mut errors: Vec<ImportErrorRow> = Vec::new();
        let send = |rows: &mut Vec<ValidRow>, errors: &mut Vec<ImportErrorRow>, stats: Stats| {
            if rows.is_empty() && errors.is_empty() {
                return Ok(());
            }
            let chunk = Chunk {
                rows: std::mem::replace(rows, Vec::with_capacity(CHUNK_ROWS)),
                errors: std::mem::take(errors),
                stats,
            };
            // A writer failed: its error is reported instead.
            if stopped.load(Ordering::Relaxed) {
                return Err(Failure::internal(ApiError::internal("the import writers stopped")));
            }
            chunks.send(chunk).map_err(|_| Failure::internal(ApiError::internal("the import writers stopped")))
        };
        while let Some(raw) = source.next_row().map_err(|e| self.input(e))? {
            stats.total += 1;
            match parse::validate(&raw, self.today) {
                Ok(valid) => {
                    stats.valid += 1;
                    rows.push(valid);
                }
                Err(row_errors) => {
                    stats.invalid += 1;
                    for e in row_errors {
                        if stats.kept_errors >= repo::MAX_KEPT_ERRORS {
                            break;
                        }
                        errors.push(ImportErrorRow {
                            import_id: self.import_id.clone(),
                            seq: i32::try_from(stats.kept_errors).unwrap_or(i32::MAX),
                            row_no: i64::try_from(e.row.unwrap_or_default()).unwrap_or(i64::MAX),
                            field: e.field,
                            code: e.code,
                            message: e.message,
                        });
                        stats.kept_errors += 1;
                    }
                }
            }
            if rows.len() >= CHUNK_ROWS {
                send(&mut rows, &mut errors, *stats)?;
            }
        }
        send(&mut rows, &mut errors, *stats)
    }

    /// The row as it is stored: the citizen ID only hashed and encrypted.
    fn entry<'r>(&self, row: &'r ValidRow) -> Result<EntryToStore<'r>, Failure> {
        let id = row.id.as_str();
        Ok(EntryToStore {
            row_no: i64::try_from(row.row).unwrap_or(i64::MAX),
            id_hash: self.pii.hash_bytes(id),
            id_enc: self.pii.seal(id).map_err(|e| Failure::internal(ApiError::internal(e)))?,
            name: row.name.as_str(),
            sex: row.sex.code(),
            birth_date: row.birth_date,
            ethnicity: row.ethnicity.code(),
            address: &row.address,
            household_number: row.household_number.as_deref(),
            status: row.status.as_str(),
        })
    }

    /// Writes one chunk of rows and errors in one transaction, then the progress.
    ///
    /// The progress is its own statement: every writer updates the import's one row, and
    /// inside the chunk's transaction that row stayed locked until the commit, so the
    /// writers waited on each other's commits.
    fn flush(&self, chunk: Chunk) -> Result<(), Failure> {
        if chunk.rows.is_empty() && chunk.errors.is_empty() {
            return Ok(());
        }
        let entries = chunk.rows.iter().map(|row| self.entry(row)).collect::<Result<Vec<EntryToStore<'_>>, _>>()?;
        let (errors, stats) = (chunk.errors, chunk.stats);
        self.pool
            .run_blocking(true, |conn| {
                repo::insert_entries(conn, &self.import_id, &entries)?;
                repo::insert_errors(conn, &errors)?;
                Ok::<_, ApiError>(())
            })
            .map_err(Failure::internal)?;
        if !self.progress_due() {
            return Ok(());
        }
        self.pool
            .run_blocking(true, |conn| {
                repo::record_progress(conn, &self.import_id, stats.total, stats.invalid).map_err(ApiError::from)
            })
            .map(|_| ())
            .map_err(Failure::internal)
    }

    /// Whether this chunk's writer writes the progress: one a [`PROGRESS_EVERY`] is
    /// enough for a client polling the import, and the final counts are written when
    /// it is applied or fails.
    fn progress_due(&self) -> bool {
        let Ok(mut written) = self.progress_written.lock() else {
            return true;
        };
        if written.elapsed() < PROGRESS_EVERY {
            return false;
        }
        *written = Instant::now();
        true
    }

    /// Activates a snapshot or applies a delta, in one transaction. Returns the snapshot
    /// whose rows are now dead: the superseded one, or the delta's emptied partition.
    fn apply(&self, stats: Stats) -> Result<Option<String>, Failure> {
        let id = self.import_id.as_str();
        let kind = self.kind;
        if kind == Kind::Snapshot {
            // Seconds at millions of rows: done before the switch, not inside it.
            self.pool
                .run_blocking(true, |conn| repo::index_partition(conn, id).map_err(ApiError::from))
                .map_err(Failure::internal)?;
        }
        let applied = self.pool.run_blocking(true, |conn| {
            if repo::lock_import_state(conn, id)? != Some(ImportState::Receiving) {
                return Ok(Err(InputError::new("import_not_receiving", "the import was ended elsewhere")));
            }
            let active = repo::lock_active(conn)?;
            let at = now();
            let dead = match (kind, active) {
                (Kind::Snapshot, previous) => {
                    repo::activate(conn, previous.as_deref(), id, at)?;
                    repo::mark_applied(conn, id, (stats.total, stats.valid, 0, stats.invalid), at)?;
                    previous
                }
                (Kind::Delta, Some(active)) => {
                    let (inserted, updated) = repo::apply_delta(conn, &active, id)?;
                    repo::mark_applied(conn, id, (stats.total, inserted, updated, stats.invalid), at)?;
                    // The planner must know the active snapshot changed before the next
                    // match query runs against it.
                    repo::refresh_statistics(conn, &active)?;
                    Some(id.to_string())
                }
                (Kind::Delta, None) => {
                    return Ok(Err(InputError::new(
                        "no_active_snapshot",
                        "a delta needs a snapshot to apply to; import a snapshot first",
                    )));
                }
            };
            Ok::<_, ApiError>(Ok(dead))
        });
        match applied {
            Ok(Ok(dead)) => Ok(dead),
            Ok(Err(input)) => Err(self.input(input)),
            Err(e) => Err(Failure::internal(e)),
        }
    }
}

fn upload_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<UploadLimit>>().map(|l| l.0).unwrap_or(UploadLimit::DEFAULT)
}

/// Deletes the rows of a superseded snapshot or a failed import, in a transaction of
/// its own after the import has been answered.
fn delete_dead_rows(pool: &DbPool, snapshot_id: &str) {
    match pool.run_blocking(true, |conn| repo::delete_snapshot_rows(conn, snapshot_id).map_err(ApiError::from)) {
        Ok(()) => tracing::info!(snapshot_id, "register rows removed"),
        Err(e) => tracing::warn!(snapshot_id, error = %e, "could not delete register rows"),
    }
}

#[tracing::instrument(skip_all, fields(import_id))]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    pii: web::Data<PiiKeys>,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::RegistryAdmin])?;
    let kind = Kind::parse(query.kind.as_deref())?;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let format = Format::from_content_type(content_type).map_err(|detail| ApiError::UnsupportedMediaType { detail })?;
    let limit = upload_limit(&req);
    refuse_declared_over(&req, limit)?;
    if kind == Kind::Delta && pool.read(|conn| repo::active_snapshot(conn).map_err(ApiError::from)).await?.is_none() {
        return Err(ApiError::conflict(
            "no_active_snapshot",
            "a delta needs a snapshot to apply to; import a snapshot first",
        ));
    }

    let import = ImportRow {
        id: uuid::Uuid::now_v7().to_string(),
        kind: kind.as_str().into(),
        state: ImportState::Receiving,
        content_type: content_type.unwrap_or_default().chars().take(200).collect(),
        rows_total: 0,
        rows_inserted: 0,
        rows_updated: 0,
        rows_invalid: 0,
        failure_code: None,
        failure_reason: None,
        created_by: caller.client_id.clone(),
        created_at: now(),
        finished_at: None,
    };
    let import_id = import.id.clone();
    tracing::Span::current().record("import_id", import_id.as_str());
    pool.write(move |conn| {
        repo::insert_import(conn, &import)?;
        repo::open_partition(conn, &import.id).map_err(ApiError::from)
    })
    .await?;

    let (sender, body) = body_channel(limit);
    let job = Job {
        pool: pool.get_ref().clone(),
        pii: pii.get_ref().clone(),
        import_id: import_id.clone(),
        kind,
        format,
        today: Utc::now().date_naive(),
        limit,
        progress_written: std::sync::Mutex::new(Instant::now()),
    };
    // The worker answers through `done` and then deletes dead rows on its own: that
    // happens even when actix drops this handler because the client went away.
    let (done, answer) = tokio::sync::oneshot::channel();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let (dead, result) = job.run(body);
        let _ = done.send(result);
        if let Some(dead) = dead {
            delete_dead_rows(&job.pool, &dead);
        }
    });
    sender.forward(payload).await;
    let result = answer.await.map_err(|_| ApiError::internal("the import worker ended without an answer"))?;
    result.map_err(|f| f.error)?;
    let id = import_id.clone();
    let view =
        pool.read(move |conn| load_view(conn, &id)).await?.ok_or_else(|| ApiError::internal("import vanished"))?;
    Ok(HttpResponse::Accepted().json(view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(Kind::parse(Some("snapshot")).unwrap(), Kind::Snapshot);
        assert_eq!(Kind::parse(Some("delta")).unwrap(), Kind::Delta);
        assert_eq!(Kind::parse(Some("full")).unwrap_err().code(), "invalid_kind");
        assert_eq!(Kind::parse(None).unwrap_err().code(), "invalid_kind");
    }

    #[test]
    fn failures_map_to_precise_problems() {
        let f = Failure::input("i1", 10, InputError::new("body_too_large", "x"));
        assert_eq!(f.error.code(), "body_too_large");
        let f =
            Failure::input("i1", 10, InputError::new("csv_unclosed_quote", "line 3: a quoted field is never closed"));
        assert_eq!(f.error.code(), "csv_unclosed_quote");
        assert!(f.error.to_string().contains("line 3"));
        assert_eq!(f.reason, "line 3: a quoted field is never closed");
    }
}
