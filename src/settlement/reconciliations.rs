//! Daily reconciliation with clinics in the national platform's terms: totals (3201,
//! `POST /reconciliations`) and detail (3202, `POST /reconciliations/detail`), read
//! back with `GET /reconciliations/{id}` and `GET /reconciliations/{id}/differences`.
//!
//! What is reconciled ([`crate::domain::reconciliation`] has the rules): the caller's
//! institution's settlements made in the period (the day of `created_at` in China,
//! both ends included, at most 31 days, not after today), of the clearing type's
//! `med_type`s. A cancelled settlement keeps its period and amounts and carries
//! `refd_setl_flag` `1` (cancelled by now, whenever the cancel was made); the negated
//! record of a cancel is not a row of its own. Totals compare the settlements that
//! stand (flag `0`): `medfee_sumamt`, `fund_pay_sumamt` (the fund's part, `hifp_pay`)
//! and their count; those since cancelled are shown beside them. A flagged or rejected
//! settlement counts with the amounts it was answered with: review is not a cancel.
//!
//! Detail: the body streams through a blocking thread that parses row by row (CSV or
//! a JSON array, see [`super::reconciliation_upload`]) and writes chunks of
//! [`CHUNK_ROWS`] into a scratch table on a second thread, so neither memory nor a
//! transaction grows with the upload. Any bad row fails the upload with every row
//! error (the first [`SHOWN_ERRORS`]); a `setl_id` sent twice is found in SQL once the
//! rows are in. Then one write transaction compares the rows with `claims` in one full
//! outer join, stores every settlement that differs (`1` only the scheme has it, `2`
//! only the clinic, `3` both, with another amount, cancel flag, `mdtrt_id` or
//! `psn_no`) and counts the rest; the scratch rows are deleted once it is answered.
//!
//! An `Idempotency-Key` replays the first answer: for a detail upload the request hash
//! covers the query and the whole body as it streamed, so the key is claimed once the
//! body has been read; a replay's rows are compared no further and deleted.

use std::io::Read;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::reconciliation_upload::{self as upload, Format, ReadFailure, RowOutcome, Stop};
use super::repo::reconciliations::{
    self as repo, DETAIL, DONE, DifferenceRow, RECEIVING, ReconciliationRow, Scope, TOTALS,
};
use crate::auth::{Caller, Role};
use crate::db::{DbConnection, DbPool, PageRequest, now};
use crate::domain::reconciliation::{
    AGREE, ClearingType, DIFFER, DetailRow, DifferenceKind, Figures, Period, ReconciliationFieldError, SettlementFacts,
    check_insutype,
};
use crate::domain::{ClientId, Fen, ReconciliationId, SetlId, china_time};
use crate::http::csv_output::{self, neutralise, wants_csv};
use crate::http::idempotency::{self, BodyHash, IdempotencyKey, REPLAYED};
use crate::http::input::{BODY_TOO_LARGE, InputError, UPLOAD_INTERRUPTED};
use crate::http::pagination::{MAX_LIMIT, Page, PageQuery};
use crate::http::stream::{BodyReader, body_channel, refuse_declared_over};
use crate::http::{ApiError, FieldError, extract};

/// Most rows of one detail upload.
pub const MAX_ROWS: u64 = 1_000_000;
/// Rows written to the scratch table per transaction.
pub const CHUNK_ROWS: usize = 20_000;
/// Row errors listed when an upload is refused.
pub const SHOWN_ERRORS: usize = 1000;
/// Chunks parsed ahead of the writer.
const WRITE_QUEUE: usize = 2;
/// A detail upload still `receiving` after this long was left by a process that ended:
/// the next upload deletes it and its rows. Far longer than any upload takes.
const ABANDONED_AFTER: TimeDelta = TimeDelta::hours(24);

/// Largest detail upload (`HEALTHCARD_RECONCILIATION_MAX_BODY_BYTES`); the gateway
/// lets this one route's bodies grow to it too.
#[derive(Debug, Clone, Copy)]
pub struct DetailLimit(pub usize);

/// Who may read reconciliations: the clinic its own, the province's readers every one.
const READERS: [Role; 3] = [Role::Clinic, Role::ProvincialAdmin, Role::Auditor];

/// The body of `POST /reconciliations` (3201).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TotalsBody {
    pub stmt_begndate: Option<String>,
    pub stmt_enddate: Option<String>,
    pub insutype: Option<String>,
    pub clr_type: Option<String>,
    pub medfee_sumamt: Option<i64>,
    pub fund_pay_sumamt: Option<i64>,
    pub fixmedins_setl_cnt: Option<i64>,
    /// The institution reconciled; needed only when the token names several.
    pub fixmedins_code: Option<String>,
}

/// The query of `POST /reconciliations/detail` (3202): the body holds only rows.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetailQuery {
    pub stmt_begndate: Option<String>,
    pub stmt_enddate: Option<String>,
    pub insutype: Option<String>,
    pub clr_type: Option<String>,
    pub fixmedins_code: Option<String>,
}

/// A reconciliation's scope, checked: the institution, the period, the clearing type.
#[derive(Debug, Clone)]
struct Reconciled {
    clinic: String,
    period: Period,
    clearing: ClearingType,
}

impl Reconciled {
    fn scope(&self) -> Scope {
        let (from, to) = self.period.stored_bounds();
        Scope { clinic: self.clinic.clone(), clearing: self.clearing, from, to }
    }

    /// A new reconciliation of this scope, every figure zero.
    fn row(&self, kind: &str, caller: &ClientId) -> ReconciliationRow {
        ReconciliationRow {
            id: ReconciliationId::new(),
            kind: kind.to_string(),
            clinic: self.clinic.clone(),
            insutype: crate::domain::claim::INSUTYPE_RESIDENT.to_string(),
            clr_type: self.clearing.code().to_string(),
            stmt_begndate: self.period.begin(),
            stmt_enddate: self.period.end(),
            state: RECEIVING.to_string(),
            stmt_rslt: None,
            clinic_medfee_sumamt: 0,
            clinic_fund_pay_sumamt: 0,
            clinic_setl_cnt: 0,
            scheme_medfee_sumamt: 0,
            scheme_fund_pay_sumamt: 0,
            scheme_setl_cnt: 0,
            cancelled_medfee_sumamt: 0,
            cancelled_fund_pay_sumamt: 0,
            cancelled_setl_cnt: 0,
            rows_received: None,
            rows_agreed: None,
            only_scheme: None,
            only_clinic: None,
            differing: None,
            created_by: caller.clone(),
            created_at: now(),
            finished_at: None,
        }
    }
}

fn field_errors(errors: Vec<ReconciliationFieldError>) -> impl Iterator<Item = FieldError> {
    errors.into_iter().map(|e| FieldError::new(e.field, e.code.code(), e.message))
}

/// The institution reconciled: the one named, if it is the caller's; else the caller's
/// only one.
fn institution(caller: &Caller, named: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    match named.map(str::trim).filter(|n| !n.is_empty()) {
        Some(code) if caller.scopes.iter().any(|s| s == code) => Some(code.to_string()),
        Some(_) => {
            errors.push(FieldError::new("fixmedins_code", "fixmedins_code_not_yours", "not an institution of yours"));
            None
        }
        None => match caller.scopes.as_slice() {
            [only] => Some(only.clone()),
            _ => {
                errors.push(FieldError::new(
                    "fixmedins_code",
                    "field_missing",
                    "the token names several institutions (or none): name the one reconciled",
                ));
                None
            }
        },
    }
}

/// Checks the members every reconciliation has, adding each problem to `errors`.
fn reconciled(
    caller: &Caller,
    begin: Option<&str>,
    end: Option<&str>,
    insutype: Option<&str>,
    clr_type: Option<&str>,
    fixmedins_code: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<Reconciled> {
    let period = Period::parse(begin, end, china_time::today()).map_err(|e| errors.extend(field_errors(e))).ok();
    if let Err(e) = check_insutype(insutype) {
        errors.extend(field_errors(vec![e]));
    }
    let clearing = ClearingType::parse(clr_type).map_err(|e| errors.extend(field_errors(vec![e]))).ok();
    let clinic = institution(caller, fixmedins_code, errors);
    match (period, clearing, clinic) {
        (Some(period), Some(clearing), Some(clinic)) if errors.is_empty() => {
            Some(Reconciled { clinic, period, clearing })
        }
        _ => None,
    }
}

/// The counts of a detail reconciliation's rows.
#[derive(Debug, Serialize)]
pub struct RowCounts {
    /// The clinic's rows.
    pub received: i64,
    /// The scheme's settlements in scope, cancelled ones included.
    pub scheme: i64,
    /// Settlements on both sides with the same values.
    pub agreed: i64,
    /// Differences of code `1`, `2` and `3`.
    pub only_scheme: i64,
    pub only_clinic: i64,
    pub differing: i64,
}

/// A reconciliation as clients see it.
#[derive(Debug, Serialize)]
pub struct ReconciliationView {
    pub id: ReconciliationId,
    /// `totals` (3201) or `detail` (3202).
    pub kind: String,
    pub fixmedins_code: String,
    pub insutype: String,
    pub clr_type: String,
    pub stmt_begndate: NaiveDate,
    pub stmt_enddate: NaiveDate,
    /// `0` agree, `1` differ.
    pub stmt_rslt: String,
    pub stmt_rslt_dscr: String,
    /// The clinic's totals: as sent, or over its detail rows that stand.
    pub clinic: Figures,
    /// The scheme's: the settlements of the period that stand.
    pub scheme: Figures,
    /// The scheme's settlements of the period since cancelled (not in `scheme`).
    pub scheme_cancelled: Figures,
    /// The totals in which `clinic` and `scheme` differ.
    pub differing_totals: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<RowCounts>,
    pub created_at: DateTime<Utc>,
}

fn view(row: &ReconciliationRow) -> ReconciliationView {
    let (clinic, scheme) = (row.clinic_figures(), row.scheme_figures());
    let differing_totals = clinic.differing(&scheme);
    let rows = match (row.rows_received, row.rows_agreed, row.only_scheme, row.only_clinic, row.differing) {
        (Some(received), Some(agreed), Some(only_scheme), Some(only_clinic), Some(differing)) => Some(RowCounts {
            received,
            scheme: row.scheme_setl_cnt.saturating_add(row.cancelled_setl_cnt),
            agreed,
            only_scheme,
            only_clinic,
            differing,
        }),
        _ => None,
    };
    let stmt_rslt = row.stmt_rslt.clone().unwrap_or_else(|| DIFFER.to_string());
    let stmt_rslt_dscr = match (&rows, stmt_rslt == AGREE) {
        (Some(_), true) => "every settlement agrees".to_string(),
        (Some(r), false) => {
            let n = r.only_scheme + r.only_clinic + r.differing;
            format!(
                "{n} {}: {} only in the scheme (1), {} only at the clinic (2), {} with other values (3)",
                if n == 1 { "settlement differs" } else { "settlements differ" },
                r.only_scheme,
                r.only_clinic,
                r.differing
            )
        }
        (None, true) => "the totals agree".to_string(),
        (None, false) => format!("{} differ", differing_totals.join(", ")),
    };
    ReconciliationView {
        id: row.id.clone(),
        kind: row.kind.clone(),
        fixmedins_code: row.clinic.clone(),
        insutype: row.insutype.clone(),
        clr_type: row.clr_type.clone(),
        stmt_begndate: row.stmt_begndate,
        stmt_enddate: row.stmt_enddate,
        stmt_rslt,
        stmt_rslt_dscr,
        clinic,
        scheme,
        scheme_cancelled: row.cancelled_figures(),
        differing_totals,
        rows,
        created_at: row.created_at.and_utc(),
    }
}

fn set_figures(row: &mut ReconciliationRow, clinic: Figures, scheme: Figures, cancelled: Figures) {
    row.clinic_medfee_sumamt = clinic.medfee_sumamt.get();
    row.clinic_fund_pay_sumamt = clinic.fund_pay_sumamt.get();
    row.clinic_setl_cnt = clinic.fixmedins_setl_cnt;
    row.scheme_medfee_sumamt = scheme.medfee_sumamt.get();
    row.scheme_fund_pay_sumamt = scheme.fund_pay_sumamt.get();
    row.scheme_setl_cnt = scheme.fixmedins_setl_cnt;
    row.cancelled_medfee_sumamt = cancelled.medfee_sumamt.get();
    row.cancelled_fund_pay_sumamt = cancelled.fund_pay_sumamt.get();
    row.cancelled_setl_cnt = cancelled.fixmedins_setl_cnt;
}

/// `POST /reconciliations` (3201): the clinic's totals of a period against the scheme's.
#[tracing::instrument(skip_all)]
pub async fn totals(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic])?;
    let key = IdempotencyKey::from_request(&req, &caller.client_id, &body)?;
    let body: TotalsBody = extract::parse_json(&req, &body)?;
    let mut errors = Vec::new();
    let scope = reconciled(
        &caller,
        body.stmt_begndate.as_deref(),
        body.stmt_enddate.as_deref(),
        body.insutype.as_deref(),
        body.clr_type.as_deref(),
        body.fixmedins_code.as_deref(),
        &mut errors,
    );
    let figures = Figures::parse(body.medfee_sumamt, body.fund_pay_sumamt, body.fixmedins_setl_cnt)
        .map_err(|e| errors.extend(field_errors(e)))
        .ok();
    let (Some(scope), Some(clinic)) = (scope, figures) else {
        return Err(ApiError::validation(errors));
    };
    idempotency::run(&pool, key, StatusCode::CREATED, move |conn| {
        let (scheme, cancelled) = repo::scheme_figures(conn, &scope.scope())?;
        let mut row = scope.row(TOTALS, &caller.client_id);
        set_figures(&mut row, clinic, scheme, cancelled);
        row.state = DONE.to_string();
        row.stmt_rslt = Some(if clinic.differing(&scheme).is_empty() { AGREE } else { DIFFER }.to_string());
        row.finished_at = Some(row.created_at);
        repo::insert(conn, &row)?;
        tracing::info!(reconciliation_id = %row.id, stmt_rslt = ?row.stmt_rslt, "totals reconciled");
        Ok(view(&row))
    })
    .await
}

/// What a detail upload's load found: how many rows, and the body's hash.
struct Loaded {
    received: u64,
    hash: BodyHash,
}

/// Counts the body into its request hash as the parser reads it.
struct Hashed<'h, R> {
    inner: R,
    hash: &'h mut BodyHash,
}

impl<R: Read> Read for Hashed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// The blocking side of a detail upload: parse, check and store its rows.
struct Load {
    pool: DbPool,
    id: ReconciliationId,
    format: Format,
    limit: usize,
}

impl Load {
    fn input(&self, e: InputError) -> ApiError {
        match e.code {
            BODY_TOO_LARGE => ApiError::too_large(Some(self.limit)),
            UPLOAD_INTERRUPTED => ApiError::bad_request(UPLOAD_INTERRUPTED, e.message),
            code @ ("malformed_json" | "invalid_body" | "unreadable_body") => ApiError::bad_request(code, e.message),
            code => ApiError::unprocessable(code, e.message),
        }
    }

    /// Reads every row into the scratch table; on any failure deletes what it stored
    /// and the reconciliation with it.
    fn run(&self, body: BodyReader, hash: BodyHash) -> Result<Loaded, ApiError> {
        let loaded = self.load(body, hash);
        if loaded.is_err() {
            self.discard();
        }
        loaded
    }

    fn discard(&self) {
        if let Err(e) = self.pool.run_blocking(true, |conn| repo::delete(conn, &self.id).map_err(ApiError::from)) {
            tracing::warn!(reconciliation_id = %self.id, error = %e, "could not delete a refused reconciliation");
        }
    }

    /// Parses on this thread and writes on another, so that reading the next chunk
    /// overlaps with storing the last.
    fn load(&self, body: BodyReader, mut hash: BodyHash) -> Result<Loaded, ApiError> {
        let (chunks, inbox) = std::sync::mpsc::sync_channel::<Vec<(u64, DetailRow)>>(WRITE_QUEUE);
        let (read, written, tally) = std::thread::scope(|scope| {
            let writer = scope.spawn(move || {
                for chunk in inbox {
                    self.pool
                        .run_blocking(true, |conn| repo::insert_rows(conn, &self.id, &chunk).map_err(ApiError::from))?;
                }
                Ok::<_, ApiError>(())
            });
            let mut tally = Tally::default();
            let body = Hashed { inner: body, hash: &mut hash };
            let read = upload::read_rows(body, self.format, &mut |row, outcome| tally.take(row, outcome, &chunks));
            let read = read.and_then(|()| tally.flush(&chunks).map_err(|Stop| ReadFailure::Stopped));
            drop(chunks);
            let written =
                writer.join().unwrap_or_else(|_| Err(ApiError::internal("the reconciliation writer panicked")));
            (read, written, tally)
        });
        // A writer failure is the cause when both failed (the parser then only saw it stop).
        written?;
        match read {
            Ok(()) => {}
            Err(ReadFailure::Input(e)) => return Err(self.input(e)),
            Err(ReadFailure::Stopped) if tally.too_many => {
                return Err(ApiError::validation(vec![FieldError::new(
                    "rows",
                    "too_many_rows",
                    format!("at most {MAX_ROWS} rows in one upload"),
                )]));
            }
            Err(ReadFailure::Stopped) => return Err(ApiError::internal("the reconciliation writer stopped")),
        }
        if !tally.errors.is_empty() {
            return Err(ApiError::validation(tally.errors));
        }
        let repeated = self.pool.run_blocking(true, |conn| {
            repo::analyze_rows(conn)?;
            repo::repeated_rows(conn, &self.id, SHOWN_ERRORS as i64).map_err(ApiError::from)
        })?;
        if !repeated.is_empty() {
            return Err(ApiError::validation(
                repeated
                    .into_iter()
                    .map(|(row, first)| {
                        FieldError::at_row(
                            u64::try_from(row).unwrap_or_default(),
                            "setl_id",
                            "setl_id_duplicate",
                            format!("the setl_id of row {first} again"),
                        )
                    })
                    .collect(),
            ));
        }
        Ok(Loaded { received: tally.rows, hash })
    }
}

/// What the parser has seen so far, and the chunk it fills.
#[derive(Default)]
struct Tally {
    rows: u64,
    chunk: Vec<(u64, DetailRow)>,
    errors: Vec<FieldError>,
    too_many: bool,
}

impl Tally {
    fn take(
        &mut self,
        row: u64,
        outcome: RowOutcome,
        chunks: &std::sync::mpsc::SyncSender<Vec<(u64, DetailRow)>>,
    ) -> Result<(), Stop> {
        self.rows = row;
        if row > MAX_ROWS {
            self.too_many = true;
            return Err(Stop);
        }
        match outcome {
            // Once a row is refused the upload is, and its rows need not be stored;
            // the body is still read to the end for every error in it.
            Ok(_) if !self.errors.is_empty() => {}
            Ok(parsed) => {
                self.chunk.push((row, parsed));
                if self.chunk.len() >= CHUNK_ROWS {
                    self.flush(chunks)?;
                }
            }
            Err(errors) => {
                let room = SHOWN_ERRORS.saturating_sub(self.errors.len());
                self.errors.extend(errors.into_iter().take(room));
                self.chunk.clear();
            }
        }
        Ok(())
    }

    fn flush(&mut self, chunks: &std::sync::mpsc::SyncSender<Vec<(u64, DetailRow)>>) -> Result<(), Stop> {
        if self.chunk.is_empty() || !self.errors.is_empty() {
            return Ok(());
        }
        chunks.send(std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_ROWS))).map_err(|_| Stop)
    }
}

/// Compares a loaded upload with the scheme's settlements and stores the result, in
/// the caller's transaction.
fn compare(
    conn: &mut DbConnection,
    id: &ReconciliationId,
    scope: &Scope,
    received: u64,
) -> Result<ReconciliationView, ApiError> {
    let mut row = repo::find(conn, id)?
        .filter(|r| r.state == RECEIVING)
        .ok_or_else(|| ApiError::internal("the reconciliation was removed while its rows were read"))?;
    repo::store_differences(conn, id, scope)?;
    let counts = repo::difference_counts(conn, id)?;
    let count = |kind: DifferenceKind| counts.iter().find(|(code, _)| code == kind.code()).map_or(0, |(_, n)| *n);
    let (only_scheme, only_clinic, differing) =
        (count(DifferenceKind::OnlyScheme), count(DifferenceKind::OnlyClinic), count(DifferenceKind::Differs));
    let (scheme, cancelled) = repo::scheme_figures(conn, scope)?;
    let clinic = repo::clinic_figures(conn, id)?;
    set_figures(&mut row, clinic, scheme, cancelled);
    let received = i64::try_from(received).map_err(ApiError::internal)?;
    row.rows_received = Some(received);
    row.rows_agreed = Some(received - only_clinic - differing);
    row.only_scheme = Some(only_scheme);
    row.only_clinic = Some(only_clinic);
    row.differing = Some(differing);
    let agree = only_scheme + only_clinic + differing == 0;
    row.stmt_rslt = Some(if agree { AGREE } else { DIFFER }.to_string());
    row.state = DONE.to_string();
    row.finished_at = Some(now());
    repo::finish(conn, &row)?;
    tracing::info!(reconciliation_id = %row.id, received, only_scheme, only_clinic, differing, "detail reconciled");
    Ok(view(&row))
}

/// `POST /reconciliations/detail` (3202): the clinic's settlements of a period one by
/// one against the scheme's; the period and clearing type in the query, the rows in
/// the body.
#[tracing::instrument(skip_all, fields(reconciliation_id))]
pub async fn detail(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    limit: web::Data<DetailLimit>,
    query: web::Query<DetailQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Clinic])?;
    let key = IdempotencyKey::before_streamed_body(&req, &caller.client_id)?;
    let query = query.into_inner();
    let mut errors = Vec::new();
    let scope = reconciled(
        &caller,
        query.stmt_begndate.as_deref(),
        query.stmt_enddate.as_deref(),
        query.insutype.as_deref(),
        query.clr_type.as_deref(),
        query.fixmedins_code.as_deref(),
        &mut errors,
    )
    .ok_or_else(|| ApiError::validation(errors))?;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let format = Format::from_content_type(content_type).map_err(|detail| ApiError::UnsupportedMediaType { detail })?;
    let limit = limit.0;
    refuse_declared_over(&req, limit)?;

    let row = scope.row(DETAIL, &caller.client_id);
    let id = row.id.clone();
    tracing::Span::current().record("reconciliation_id", id.as_str());
    pool.write(move |conn| {
        for abandoned in repo::abandoned(conn, now() - ABANDONED_AFTER)? {
            repo::delete(conn, &abandoned)?;
            tracing::warn!(reconciliation_id = %abandoned, "abandoned detail upload deleted");
        }
        repo::insert(conn, &row).map_err(ApiError::from)
    })
    .await?;

    let (sender, body) = body_channel(limit);
    let load = Load { pool: pool.get_ref().clone(), id: id.clone(), format, limit };
    let hash = BodyHash::of_request(&req);
    let (done, loaded) = tokio::sync::oneshot::channel();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        // Nobody to finish it when the request went away meanwhile: its rows go.
        if let Err(Ok(_)) = done.send(load.run(body, hash)) {
            load.discard();
        }
    });
    sender.forward(payload).await;
    let loaded = loaded.await.map_err(|_| ApiError::internal("the reconciliation load ended without an answer"))??;

    // The comparison and the deletion of the rows run as a task of their own: they end
    // even when the client goes away meanwhile.
    let key = key.map(|k| k.with_body(loaded.hash));
    let (answer, answered) = tokio::sync::oneshot::channel();
    let pool = pool.get_ref().clone();
    actix_web::rt::spawn(async move {
        let scope = scope.scope();
        let compared = {
            let id = id.clone();
            idempotency::run(&pool, key, StatusCode::CREATED, move |conn| compare(conn, &id, &scope, loaded.received))
                .await
        };
        let stored = compared.as_ref().is_ok_and(|r| !r.headers().contains_key(REPLAYED));
        let _ = answer.send(compared);
        let purged = pool
            .write(move |conn| {
                if stored { repo::delete_rows(conn, &id) } else { repo::delete(conn, &id) }.map_err(ApiError::from)
            })
            .await;
        if let Err(e) = purged {
            tracing::warn!(error = %e, "could not delete a reconciliation's scratch rows");
        }
    });
    answered.await.map_err(|_| ApiError::internal("the reconciliation ended without an answer"))?
}

fn visible(caller: &Caller, row: &ReconciliationRow) -> bool {
    row.state == DONE
        && match caller.role {
            Role::Clinic => caller.scopes.contains(&row.clinic),
            _ => true,
        }
}

async fn visible_row(pool: &DbPool, caller: &Caller, id: String) -> Result<ReconciliationRow, ApiError> {
    let id = ReconciliationId::from(id);
    let row = pool.read(move |conn| repo::find(conn, &id).map_err(ApiError::from)).await?;
    row.filter(|r| visible(caller, r)).ok_or_else(|| ApiError::not_found("reconciliation"))
}

/// `GET /reconciliations/{id}`.
#[tracing::instrument(skip_all)]
pub async fn get(caller: Caller, pool: web::Data<DbPool>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(&READERS)?;
    let row = visible_row(&pool, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&row)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifferencesQuery {
    pub stmt_rslt: Option<String>,
    /// `csv` or `json`; else by `Accept`.
    pub format: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// One settlement that differs, with both sides as they are.
#[derive(Debug, Serialize)]
pub struct DifferenceView {
    pub setl_id: SetlId,
    /// `1` only the scheme has it, `2` only the clinic, `3` both, with other values.
    pub stmt_rslt: String,
    /// The clinic's row (codes `2` and `3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<i64>,
    /// For code `3`, the members that differ.
    pub fields: Vec<&'static str>,
    pub scheme: Option<SettlementFacts>,
    pub clinic: Option<SettlementFacts>,
}

fn facts(
    mdtrt_id: Option<String>,
    psn_no: Option<String>,
    medfee: Option<i64>,
    fund: Option<i64>,
    flag: Option<String>,
) -> Option<SettlementFacts> {
    Some(SettlementFacts {
        mdtrt_id: mdtrt_id?,
        psn_no: psn_no?,
        medfee_sumamt: Fen(medfee?),
        fund_pay_sumamt: Fen(fund?),
        refd_setl_flag: flag?,
    })
}

impl From<DifferenceRow> for DifferenceView {
    fn from(d: DifferenceRow) -> Self {
        let scheme = facts(
            d.scheme_mdtrt_id,
            d.scheme_psn_no,
            d.scheme_medfee_sumamt,
            d.scheme_fund_pay_sumamt,
            d.scheme_refd_setl_flag,
        );
        let clinic = facts(
            d.clinic_mdtrt_id,
            d.clinic_psn_no,
            d.clinic_medfee_sumamt,
            d.clinic_fund_pay_sumamt,
            d.clinic_refd_setl_flag,
        );
        let fields = match (&scheme, &clinic) {
            (Some(s), Some(c)) => s.differing(c),
            _ => Vec::new(),
        };
        DifferenceView { setl_id: d.setl_id, stmt_rslt: d.stmt_rslt, row: d.row_no, fields, scheme, clinic }
    }
}

/// `GET /reconciliations/{id}/differences?stmt_rslt=`: a detail reconciliation's
/// differences in `setl_id` order, a page at a time; every one as CSV, streamed, with
/// `Accept: text/csv` or `format=csv`.
#[tracing::instrument(skip_all)]
pub async fn differences(
    req: HttpRequest,
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    query: web::Query<DifferencesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&READERS)?;
    let query = query.into_inner();
    let code = match query.stmt_rslt.as_deref() {
        None => None,
        Some(c) => Some(
            DifferenceKind::parse(c)
                .ok_or_else(|| ApiError::bad_request("invalid_query", "stmt_rslt must be 1, 2 or 3"))?
                .code(),
        ),
    };
    let csv = match query.format.as_deref() {
        None => wants_csv(&req),
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(ApiError::bad_request("invalid_query", "format must be csv or json")),
    };
    let page = PageQuery { cursor: query.cursor, limit: query.limit }.parse()?;
    let row = visible_row(&pool, &caller, path.into_inner()).await?;
    if row.kind != DETAIL {
        return Err(ApiError::NotFound {
            code: "not_found",
            detail: "a totals reconciliation lists no differences; a detail one (3202) does".into(),
        });
    }
    if csv {
        return Ok(export(pool.get_ref().clone(), row.id, code));
    }
    let (id, request) = (row.id, page.clone());
    let rows = pool.read(move |conn| repo::differences(conn, &id, code, &request).map_err(ApiError::from)).await?;
    let views: Vec<DifferenceView> = rows.into_iter().map(DifferenceView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, &page, |d| d.setl_id.to_string())))
}

const CSV_HEADER: [&str; 14] = [
    "setl_id",
    "stmt_rslt",
    "row",
    "fields",
    "scheme_mdtrt_id",
    "scheme_psn_no",
    "scheme_medfee_sumamt",
    "scheme_fund_pay_sumamt",
    "scheme_refd_setl_flag",
    "clinic_mdtrt_id",
    "clinic_psn_no",
    "clinic_medfee_sumamt",
    "clinic_fund_pay_sumamt",
    "clinic_refd_setl_flag",
];

fn side_cells(side: Option<&SettlementFacts>) -> [String; 5] {
    match side {
        // The ids came from the clinic: a spreadsheet must not run them.
        Some(s) => [
            neutralise(&s.mdtrt_id),
            neutralise(&s.psn_no),
            s.medfee_sumamt.get().to_string(),
            s.fund_pay_sumamt.get().to_string(),
            s.refd_setl_flag.clone(),
        ],
        None => Default::default(),
    }
}

fn csv_lines(rows: Vec<DifferenceRow>) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for d in rows.into_iter().map(DifferenceView::from) {
        let mut record = vec![
            d.setl_id.to_string(),
            d.stmt_rslt,
            d.row.map(|r| r.to_string()).unwrap_or_default(),
            d.fields.join(";"),
        ];
        record.extend(side_cells(d.scheme.as_ref()));
        record.extend(side_cells(d.clinic.as_ref()));
        out.write_record(&record).map_err(ApiError::internal)?;
    }
    out.into_inner().map_err(ApiError::internal)
}

/// Every difference as CSV (UTF-8 with a byte order mark, so that spreadsheets read it
/// right), a page at a time.
fn export(pool: DbPool, id: ReconciliationId, code: Option<&'static str>) -> HttpResponse {
    csv_output::paged_download("differences.csv", &CSV_HEADER, PageRequest::first(MAX_LIMIT), move |page| {
        let (pool, id) = (pool.clone(), id.clone());
        async move {
            let request = page.clone();
            let mut rows =
                pool.read(move |conn| repo::differences(conn, &id, code, &request).map_err(ApiError::from)).await?;
            // The page holds one row more than it shows when another page follows.
            let more = rows.len() as i64 > page.limit;
            rows.truncate(page.limit as usize);
            let next = if more { rows.last().map(|r| page.after(r.setl_id.to_string())) } else { None };
            Ok((csv_lines(rows)?, next))
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn row(n: u64) -> RowOutcome {
        Ok(DetailRow {
            setl_id: SetlId::from(format!("019a9a10-3b4c-7d5e-8f60-{n:012}")),
            mdtrt_id: "m".into(),
            psn_no: "p".into(),
            medfee_sumamt: Fen(100),
            fund_pay_sumamt: Fen(40),
            cancelled: false,
        })
    }

    fn bad(n: u64, errors: usize) -> RowOutcome {
        Err((0..errors).map(|_| FieldError::at_row(n, "setl_id", "setl_id_invalid", "x")).collect())
    }

    #[test]
    fn rows_go_out_in_chunks_until_one_is_refused() {
        let (tx, rx) = std::sync::mpsc::sync_channel(100);
        let mut tally = Tally::default();
        for n in 1..=(CHUNK_ROWS as u64 + 5) {
            tally.take(n, row(n), &tx).unwrap();
        }
        assert_eq!(rx.try_recv().unwrap().len(), CHUNK_ROWS);
        assert_eq!(tally.chunk.len(), 5);
        tally.take(CHUNK_ROWS as u64 + 6, bad(1, 1), &tx).unwrap();
        tally.take(CHUNK_ROWS as u64 + 7, row(7), &tx).unwrap();
        tally.flush(&tx).unwrap();
        assert!(tally.chunk.is_empty() && rx.try_recv().is_err(), "nothing more is stored once a row is refused");
        assert_eq!(tally.rows, CHUNK_ROWS as u64 + 7);
    }

    #[test]
    fn errors_are_capped_and_too_many_rows_stop_the_read() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let mut tally = Tally::default();
        for n in 1..=600 {
            tally.take(n, bad(n, 2), &tx).unwrap();
        }
        assert_eq!(tally.errors.len(), SHOWN_ERRORS);
        assert_eq!(tally.take(MAX_ROWS, row(1), &tx), Ok(()));
        assert_eq!(tally.take(MAX_ROWS + 1, row(1), &tx), Err(Stop));
        assert!(tally.too_many);
    }

    #[test]
    fn a_view_says_what_differs() {
        let caller = ClientId::from("c");
        let scope = Reconciled {
            clinic: "H21080400001".into(),
            period: Period::parse(
                Some("2026-12-01"),
                Some("2026-12-01"),
                NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
            )
            .unwrap(),
            clearing: ClearingType::All,
        };
        let mut r = scope.row(TOTALS, &caller);
        let clinic = Figures { medfee_sumamt: Fen(10), fund_pay_sumamt: Fen(4), fixmedins_setl_cnt: 1 };
        set_figures(&mut r, clinic, Figures { fixmedins_setl_cnt: 2, ..clinic }, Figures::default());
        r.stmt_rslt = Some(DIFFER.into());
        let v = view(&r);
        assert_eq!(
            (v.differing_totals.as_slice(), v.stmt_rslt_dscr.as_str()),
            (&["fixmedins_setl_cnt"][..], "fixmedins_setl_cnt differ")
        );
        assert!(v.rows.is_none());
        (r.rows_received, r.rows_agreed, r.only_scheme, r.only_clinic, r.differing) =
            (Some(5), Some(3), Some(1), Some(1), Some(1));
        let v = view(&r);
        assert_eq!(v.rows.as_ref().map(|c| (c.received, c.scheme)), Some((5, 2)));
        assert!(v.stmt_rslt_dscr.starts_with("3 settlements differ"), "{}", v.stmt_rslt_dscr);
    }
}
