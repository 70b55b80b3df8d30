//! Collection's tables.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::tallies::Deltas;
use crate::db::binary_copy::BinaryCopy;
use crate::db::bulk::Copy;
use crate::db::{DbConnection, PageRequest, claim, copy_many, insert_many, keyset};
use crate::domain::{BatchId, BatchState, CardStage, ClientId, OrderId, RecordId, RecordState, Transition, UploadId};

diesel::table! {
    batches (id) {
        id -> Text,
        county_code -> Text,
        title -> Text,
        state -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        submitted_at -> Nullable<Timestamp>,
        /// The last record the verification feeder has sent (records go in id order).
        fed_through -> Nullable<Text>,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = batches)]
pub struct BatchRow {
    pub id: BatchId,
    pub county_code: String,
    pub title: String,
    pub state: BatchState,
    pub created_by: ClientId,
    pub created_at: NaiveDateTime,
    pub submitted_at: Option<NaiveDateTime>,
    pub fed_through: Option<RecordId>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_batch(conn: &mut DbConnection, row: &BatchRow) -> QueryResult<()> {
    diesel::insert_into(batches::table).values(row).execute(conn).map(|_| ())
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn find_batch(conn: &mut DbConnection, id: &BatchId) -> QueryResult<Option<BatchRow>> {
    batches::table.find(id).select(BatchRow::as_select()).first(conn).optional()
}

/// Batches of `counties` (all counties when `None`), newest last, after the cursor.
#[tracing::instrument(level = "debug", skip_all)]
pub fn list_batches(
    conn: &mut DbConnection,
    counties: Option<&[String]>,
    page: &PageRequest,
) -> QueryResult<Vec<BatchRow>> {
    let mut query = batches::table.select(BatchRow::as_select()).into_boxed();
    if let Some(counties) = counties {
        query = query.filter(batches::county_code.eq_any(counties.to_vec()));
    }
    keyset(query, batches::id, page).load(conn)
}

diesel::table! {
    parts (batch_id, part_no) {
        batch_id -> Text,
        part_no -> Integer,
        upload_id -> Text,
        received -> BigInt,
        accepted -> BigInt,
        rejected -> BigInt,
        errors -> Text,
        uploaded_at -> Timestamp,
    }
}

diesel::table! {
    records (id) {
        id -> Text,
        batch_id -> Text,
        part_no -> Integer,
        upload_id -> Text,
        row_no -> BigInt,
        county_code -> Text,
        village -> Text,
        version -> Integer,
        state -> Text,
        id_hash -> Nullable<Text>,
        id_enc -> Nullable<Text>,
        id_masked -> Nullable<Text>,
        name -> Text,
        sex -> Nullable<Text>,
        birth_date -> Nullable<Date>,
        ethnicity -> Nullable<Text>,
        ncms_number -> Nullable<Text>,
        submitted_enc -> Text,
        issues -> Text,
        warnings -> Text,
        reasons -> Text,
        created_at -> Timestamp,
        state_changed_at -> Timestamp,
        /// When the record entered the state it left at its last change: what a moving
        /// statement returns for the tallies (a statement cannot return old values).
        previous_state_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    record_versions (record_id, version) {
        record_id -> Text,
        version -> Integer,
        state -> Text,
        submitted_enc -> Text,
        issues -> Text,
        warnings -> Text,
        reasons -> Text,
        created_at -> Timestamp,
        superseded_at -> Timestamp,
        superseded_by -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(records, parts, batches);

/// A record row (the current version).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = records)]
pub struct RecordRow {
    pub id: RecordId,
    pub batch_id: BatchId,
    pub part_no: i32,
    pub upload_id: UploadId,
    pub row_no: i64,
    pub county_code: String,
    pub village: String,
    pub version: i32,
    pub state: RecordState,
    pub id_hash: Option<String>,
    pub id_enc: Option<String>,
    pub id_masked: Option<String>,
    pub name: String,
    pub sex: Option<String>,
    pub birth_date: Option<chrono::NaiveDate>,
    pub ethnicity: Option<String>,
    pub ncms_number: Option<String>,
    pub submitted_enc: String,
    pub issues: String,
    pub warnings: String,
    pub reasons: String,
    pub created_at: NaiveDateTime,
    pub state_changed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = record_versions)]
pub struct VersionRow {
    pub record_id: RecordId,
    pub version: i32,
    pub state: RecordState,
    pub submitted_enc: String,
    pub issues: String,
    pub warnings: String,
    pub reasons: String,
    pub created_at: NaiveDateTime,
    pub superseded_at: NaiveDateTime,
    pub superseded_by: ClientId,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = parts)]
pub struct PartRow {
    pub batch_id: BatchId,
    pub part_no: i32,
    pub upload_id: UploadId,
    pub received: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub errors: String,
    pub uploaded_at: NaiveDateTime,
}

/// Inserts many records in the caller's transaction (a binary `COPY` on PostgreSQL:
/// a multi-row INSERT has to bind and plan 23 parameters a row).
#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_records(conn: &mut DbConnection, rows: &[RecordRow]) -> QueryResult<usize> {
    use records::dsl as r;
    let columns = (
        r::id,
        r::batch_id,
        r::part_no,
        r::upload_id,
        r::row_no,
        r::county_code,
        r::village,
        r::version,
        r::state,
        r::id_hash,
        r::id_enc,
        r::id_masked,
        r::name,
        r::sex,
        r::birth_date,
        r::ethnicity,
        r::ncms_number,
        r::submitted_enc,
        r::issues,
        r::warnings,
        r::reasons,
        r::created_at,
        r::state_changed_at,
    );
    copy_many(conn, rows, Copy { table: records::table, columns, write_row: write_record }, |chunk| {
        diesel::insert_into(records::table).values(chunk)
    })
}

/// Writes a record as a row of the `COPY` in [`insert_records`] (every column but
/// `previous_state_at`, which a new record does not have).
fn write_record(copy: &mut BinaryCopy<'_>, r: &RecordRow) -> std::io::Result<()> {
    copy.row(23)?;
    copy.text(r.id.as_str())?;
    copy.text(r.batch_id.as_str())?;
    copy.int4(r.part_no)?;
    copy.text(r.upload_id.as_str())?;
    copy.int8(r.row_no)?;
    copy.text(&r.county_code)?;
    copy.text(&r.village)?;
    copy.int4(r.version)?;
    copy.text(r.state.as_str())?;
    copy.opt_text(r.id_hash.as_deref())?;
    copy.opt_text(r.id_enc.as_deref())?;
    copy.opt_text(r.id_masked.as_deref())?;
    copy.text(&r.name)?;
    copy.opt_text(r.sex.as_deref())?;
    match r.birth_date {
        Some(date) => copy.date(date)?,
        None => copy.null()?,
    }
    copy.opt_text(r.ethnicity.as_deref())?;
    copy.opt_text(r.ncms_number.as_deref())?;
    copy.text(&r.submitted_enc)?;
    copy.text(&r.issues)?;
    copy.text(&r.warnings)?;
    copy.text(&r.reasons)?;
    copy.timestamp(r.created_at)?;
    copy.timestamp(r.state_changed_at)?;
    Ok(())
}

/// The `parts` row whose current upload a record came with.
#[diesel::dsl::auto_type]
fn its_current_upload() -> _ {
    parts::batch_id
        .eq(records::batch_id)
        .and(parts::part_no.eq(records::part_no))
        .and(parts::upload_id.eq(records::upload_id))
}

/// Records that are the current upload of their part. Rows an upload is still staging,
/// and rows of an upload that was replaced or failed, are not.
#[diesel::dsl::auto_type]
fn live() -> _ {
    records::table.inner_join(parts::table.on(its_current_upload()))
}

/// A live record that already holds a key (citizen ID hash or NCMS number).
#[derive(Debug, Clone, Queryable)]
pub struct Holder {
    pub key: Option<String>,
    pub batch_id: BatchId,
    pub part_no: i32,
    pub row_no: i64,
    pub state: RecordState,
}

/// What a duplicate is looked up by.
#[derive(Debug, Clone, Copy)]
pub enum HeldKey<'a> {
    /// Keyed hashes of citizen IDs, anywhere in the province.
    Citizens(&'a [String]),
    /// NCMS numbers, unique within one county.
    NcmsNumbers { county: &'a str, numbers: &'a [String] },
}

/// Live records (current upload of their part, not format-invalid) holding one of the
/// keys, except those of `(batch, part)` that the upload `upload_id` is replacing; the
/// rows `upload_id` has staged so far count as live. One look-up per key finds both:
/// the rows of other uploads and the ones this upload staged.
#[tracing::instrument(level = "debug", skip_all)]
pub fn holders(
    conn: &mut DbConnection,
    key: HeldKey<'_>,
    batch: &BatchId,
    part: i32,
    upload_id: &UploadId,
) -> QueryResult<Vec<Holder>> {
    use diesel::dsl::not;
    let place = (records::batch_id, records::part_no, records::row_no, records::state);
    let candidates = records::table.left_join(parts::table.on(its_current_upload()));
    let query = match key {
        HeldKey::Citizens(hashes) => candidates
            .select((records::id_hash, place.0, place.1, place.2, place.3))
            .filter(records::id_hash.eq_any(hashes))
            .into_boxed(),
        HeldKey::NcmsNumbers { county, numbers } => candidates
            .select((records::ncms_number, place.0, place.1, place.2, place.3))
            .filter(records::county_code.eq(county))
            .filter(records::ncms_number.eq_any(numbers))
            .into_boxed(),
    };
    let live_elsewhere =
        parts::upload_id.nullable().is_not_null().and(not(records::batch_id.eq(batch).and(records::part_no.eq(part))));
    query
        .filter(records::state.ne(RecordState::FormatInvalid))
        .filter(live_elsewhere.or(records::upload_id.eq(upload_id)))
        .load(conn)
}

/// Makes `part` the part of its batch: drops the records of the upload it replaces,
/// and the staged records of `part`'s upload (`staged`: their tallies, as the upload
/// counted them while storing them) count from now on.
#[tracing::instrument(level = "debug", skip_all)]
pub fn complete_part(conn: &mut DbConnection, part: &PartRow, mut staged: Deltas) -> QueryResult<()> {
    // Every other upload of the part, as two ranges of the (batch, part, upload)
    // index: `upload_id <> $3` was a filter over the new upload's rows, read from the
    // heap one by one (a tenth of a second for a part of 100,000).
    let of_part = || records::batch_id.eq(&part.batch_id).and(records::part_no.eq(part.part_no));
    let mut replaced: Vec<(RecordState, NaiveDateTime)> =
        diesel::delete(records::table.filter(of_part()).filter(records::upload_id.lt(&part.upload_id)))
            .returning((records::state, records::state_changed_at))
            .get_results(conn)?;
    replaced.extend(
        diesel::delete(records::table.filter(of_part()).filter(records::upload_id.gt(&part.upload_id)))
            .returning((records::state, records::state_changed_at))
            .get_results::<(RecordState, NaiveDateTime)>(conn)?,
    );
    for (state, at) in &replaced {
        staged.add(&part.batch_id, *state, *at, -1);
    }
    staged.save(conn)?;
    let updated = diesel::update(parts::table.find((&part.batch_id, part.part_no))).set(part).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(parts::table).values(part).execute(conn)?;
    }
    Ok(())
}

/// Removes what a failed upload of part `part` of `batch` staged (found by the part:
/// an index on the upload id alone would cost every stored record an entry for this).
#[tracing::instrument(level = "debug", skip_all)]
pub fn discard_upload(conn: &mut DbConnection, batch: &BatchId, part: i32, upload_id: &UploadId) -> QueryResult<usize> {
    diesel::delete(
        records::table
            .filter(records::batch_id.eq(batch))
            .filter(records::part_no.eq(part))
            .filter(records::upload_id.eq(upload_id)),
    )
    .execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn set_batch_submitted(conn: &mut DbConnection, id: &BatchId, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(batches::table.find(id).filter(batches::state.eq(BatchState::Open)))
        .set((batches::state.eq(BatchState::Submitted), batches::submitted_at.eq(Some(at))))
        .execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn part_count(conn: &mut DbConnection, batch: &BatchId) -> QueryResult<i64> {
    parts::table.filter(parts::batch_id.eq(batch)).count().get_result(conn)
}

/// A record as everyone but the verification feeder sees it. The feeder does not
/// rewrite the records it sends (see the migration `feeder_cursor`): a record still
/// `received` in a submitted batch has been waiting for verification since the batch
/// was submitted.
#[tracing::instrument(level = "debug", skip_all)]
pub fn as_seen(mut row: RecordRow, submitted_at: Option<NaiveDateTime>) -> RecordRow {
    if let Some(at) = submitted_at {
        let seen = row.state.as_seen(true);
        if seen != row.state {
            row.state = seen;
            row.state_changed_at = at;
        }
    }
    row
}

/// Live records of a batch, optionally of one state and village, by id after the
/// cursor, as seen (see [`as_seen`]).
#[tracing::instrument(level = "debug", skip_all)]
pub fn list_records(
    conn: &mut DbConnection,
    batch: &BatchId,
    state: Option<RecordState>,
    village: Option<&str>,
    page: &PageRequest,
) -> QueryResult<Vec<RecordRow>> {
    let submitted_at: Option<NaiveDateTime> =
        batches::table.find(batch).select(batches::submitted_at).first(conn).optional()?.flatten();
    let mut query = live().filter(records::batch_id.eq(batch)).select(RecordRow::as_select()).into_boxed();
    if let Some(state) = state {
        query = query.filter(records::state.eq_any(state.stored_as(submitted_at.is_some())));
    }
    if let Some(village) = village {
        query = query.filter(records::village.eq(village.to_string()));
    }
    Ok(keyset(query, records::id, page).load(conn)?.into_iter().map(|row| as_seen(row, submitted_at)).collect())
}

/// A record as seen (see [`as_seen`]).
#[tracing::instrument(level = "debug", skip_all)]
pub fn find_record(conn: &mut DbConnection, id: &RecordId) -> QueryResult<Option<RecordRow>> {
    let found: Option<(RecordRow, Option<NaiveDateTime>)> = records::table
        .inner_join(batches::table.on(batches::id.eq(records::batch_id)))
        .filter(records::id.eq(id))
        .select((RecordRow::as_select(), batches::submitted_at))
        .first(conn)
        .optional()?;
    Ok(found.map(|(row, submitted_at)| as_seen(row, submitted_at)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn versions_of(conn: &mut DbConnection, id: &RecordId) -> QueryResult<Vec<VersionRow>> {
    record_versions::table
        .filter(record_versions::record_id.eq(id))
        .order(record_versions::version.asc())
        .select(VersionRow::as_select())
        .load(conn)
}

/// Submitted batches whose records are still being fed to verification, each with the
/// last record sent so far.
#[tracing::instrument(level = "debug", skip_all)]
pub fn batches_to_feed(conn: &mut DbConnection) -> QueryResult<Vec<(BatchId, Option<RecordId>)>> {
    batches::table
        .filter(batches::state.eq(BatchState::Submitted))
        .select((batches::id, batches::fed_through))
        .order(batches::id.asc())
        .limit(16)
        .load(conn)
}

/// Moves the feeder's place in `batch` from `from` to `to`; `false` if another feeder
/// moved it meanwhile.
#[tracing::instrument(level = "debug", skip_all)]
pub fn advance_feeder(
    conn: &mut DbConnection,
    batch: &BatchId,
    from: Option<&RecordId>,
    to: &RecordId,
) -> QueryResult<bool> {
    let moved = batches::fed_through.eq(to);
    let n = match from {
        Some(from) => {
            diesel::update(batches::table.find(batch).filter(batches::fed_through.eq(from))).set(moved).execute(conn)?
        }
        None => diesel::update(batches::table.find(batch).filter(batches::fed_through.is_null()))
            .set(moved)
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Locks `batch` against submission until the caller's transaction ends; `false` if it
/// is no longer open. A part completed while the batch is being submitted is counted
/// either before the submission or not at all.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_open_batch(conn: &mut DbConnection, batch: &BatchId) -> QueryResult<bool> {
    let n = diesel::update(batches::table.find(batch).filter(batches::state.eq(BatchState::Open)))
        .set(batches::state.eq(BatchState::Open))
        .execute(conn)?;
    Ok(n == 1)
}

/// What the feeder sends of a record: the fields verification compares, and no more
/// (the encrypted columns are the bulk of a row and verification never sees them).
#[derive(Debug, Clone, QueryableByName)]
pub struct ToVerify {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub id: RecordId,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub version: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub county_code: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub id_hash: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub sex: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    pub birth_date: Option<chrono::NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub ethnicity: Option<String>,
    /// The part and upload the record came with: it is live if that upload is its
    /// part's current one ([`current_uploads`]); the others are passed over.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub part_no: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub upload_id: UploadId,
}

/// The current upload of each part of `batch`, by part number. Liveness was an EXISTS
/// over `parts` for each row the feeder read (a million look-ups for a batch of a
/// million); a submitted batch's parts no longer change, so one read serves a chunk.
#[tracing::instrument(level = "debug", skip_all)]
pub fn current_uploads(conn: &mut DbConnection, batch: &BatchId) -> QueryResult<HashMap<i32, UploadId>> {
    Ok(parts::table
        .filter(parts::batch_id.eq(batch))
        .select((parts::part_no, parts::upload_id))
        .load::<(i32, UploadId)>(conn)?
        .into_iter()
        .collect())
}

/// The range is read from an index (`(batch_id, id)` on PostgreSQL, where no index
/// holds `state` so that state changes are heap-only updates; `(batch_id, state, id)`
/// on SQLite) and liveness is checked by the caller: written as a join with `parts`,
/// PostgreSQL misjudged how many rows the join keeps and scanned the whole table, dead
/// rows included, for every chunk (so a batch took time quadratic in its size).
const TO_VERIFY_COLUMNS: &str = "SELECT r.id, r.version, r.county_code, r.id_hash, r.name, r.sex, r.birth_date, \
     r.ethnicity, r.part_no, r.upload_id FROM";

/// The statement on each backend, its placeholders (`$n` or `?`) given in order. The
/// state is written out, as it was when the plans were tuned.
fn to_verify_statement(placeholders: [&str; 3]) -> String {
    let [batch, after, limit] = placeholders;
    format!(
        "{TO_VERIFY_COLUMNS} (SELECT id, version, county_code, id_hash, name, sex, birth_date, ethnicity, \
         batch_id, part_no, upload_id FROM records WHERE batch_id = {batch} AND state = '{received}' AND id > {after} \
         ORDER BY id LIMIT {limit}) r ORDER BY r.id",
        received = RecordState::Received.as_str(),
    )
}
static TO_VERIFY_PG: LazyLock<String> = LazyLock::new(|| to_verify_statement(["$1", "$2", "$3"]));
static TO_VERIFY_SQLITE: LazyLock<String> = LazyLock::new(|| to_verify_statement(["?", "?", "?"]));

/// Up to `limit` records of `batch` in state `received` after the record `after` (from
/// the first when `None`), in
/// id order, each with the upload it came with, with only the columns the feeder
/// sends: one ordered range of the batch's index, so the feeder never rescans what it
/// has sent.
#[tracing::instrument(level = "debug", skip_all)]
pub fn to_verify_in_batch(
    conn: &mut DbConnection,
    batch: &BatchId,
    after: Option<&RecordId>,
    limit: i64,
) -> QueryResult<Vec<ToVerify>> {
    use diesel::sql_types::{BigInt, Text};
    // No id is below the empty text: the statement stays one range either way.
    let after = after.map_or("", RecordId::as_str);
    match conn {
        DbConnection::Pg(pg) => diesel::sql_query(TO_VERIFY_PG.as_str())
            .bind::<Text, _>(batch.as_str())
            .bind::<Text, _>(after)
            .bind::<BigInt, _>(limit)
            .load(pg),
        DbConnection::Sqlite(sqlite) => diesel::sql_query(TO_VERIFY_SQLITE.as_str())
            .bind::<Text, _>(batch.as_str())
            .bind::<Text, _>(after)
            .bind::<BigInt, _>(limit)
            .load(sqlite),
    }
}

/// The columns the upload's duplicate queries and the liveness join filter on: their
/// statistics are what the planner needs; sampling the long encrypted columns too
/// made each ANALYZE cost half as much again.
const RECORDS_KEYS: &str = "batch_id, part_no, upload_id, state, id_hash, county_code, ncms_number";

/// During bulk uploads, refreshes PostgreSQL's statistics of `records` as it grows
/// (a table that looked empty would be scanned whole for every chunk's duplicate
/// check); see [`crate::db::statistics`]. True if it refreshed them.
#[tracing::instrument(level = "debug", skip_all)]
pub fn refresh_statistics_if_grown(conn: &mut DbConnection) -> QueryResult<bool> {
    crate::db::statistics::analyze_if_grown(conn, "records", Some(RECORDS_KEYS), 100_000)
}

/// Moves a batch from one state to another; `false` if it was not in the move's
/// `from`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn move_batch(conn: &mut DbConnection, id: &BatchId, moved: Transition<BatchState>) -> QueryResult<bool> {
    let n = diesel::update(batches::table.find(id).filter(batches::state.eq(moved.from())))
        .set(batches::state.eq(moved.to()))
        .execute(conn)?;
    Ok(n == 1)
}

/// What a statement moving records returns: each record's id, its batch and when it
/// entered the state it left.
type Moved = Vec<(RecordId, BatchId, Option<NaiveDateTime>)>;

/// The columns that make a [`Moved`] row.
const MOVED: (records::id, records::batch_id, records::previous_state_at) =
    (records::id, records::batch_id, records::previous_state_at);

/// Counts the records a statement moved by `step` at `at` in the batches' tallies;
/// returns their ids.
fn tally_moved(
    conn: &mut DbConnection,
    moved: Moved,
    step: Transition<RecordState>,
    at: NaiveDateTime,
) -> QueryResult<Vec<RecordId>> {
    let (ids, entered): (Vec<RecordId>, Vec<(BatchId, Option<NaiveDateTime>)>) =
        moved.into_iter().map(|(id, batch, at)| (id, (batch, at))).unzip();
    Deltas::default().moved(&entered, step, at).save(conn)?;
    Ok(ids)
}

/// Applies one verification outcome (`outcome`, a move from `pending_verification`)
/// to the records `ids`, each at the version it was
/// about (a later correction makes an old outcome moot); returns the ids of the
/// records it applied to. A record the feeder sent is still stored as `received`,
/// waiting since `submitted_at`, its batch's submission (see [`as_seen`]); before
/// submission only corrected records, stored as `pending_verification`, have been sent.
#[tracing::instrument(level = "debug", skip_all)]
pub fn apply_outcomes(
    conn: &mut DbConnection,
    ids: &[RecordId],
    version: i32,
    outcome: Transition<RecordState>,
    reasons: &str,
    submitted_at: Option<NaiveDateTime>,
    at: NaiveDateTime,
) -> QueryResult<Vec<RecordId>> {
    use diesel::dsl::case_when;
    use diesel::sql_types::{Nullable, Timestamp};
    let waiting = outcome.from().stored_as(submitted_at.is_some());
    let waiting_since =
        case_when(records::state.eq(RecordState::Received), submitted_at.into_sql::<Nullable<Timestamp>>())
            .otherwise(records::state_changed_at.nullable());
    let moved: Moved = diesel::update(
        records::table
            .filter(records::id.eq_any(ids))
            .filter(records::version.eq(version))
            .filter(records::state.eq_any(waiting)),
    )
    .set((
        records::state.eq(outcome.to()),
        records::reasons.eq(reasons),
        records::previous_state_at.eq(waiting_since),
        records::state_changed_at.eq(at),
    ))
    .returning(MOVED)
    .get_results(conn)?;
    tally_moved(conn, moved, outcome, at)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn save_version(conn: &mut DbConnection, version: &VersionRow) -> QueryResult<usize> {
    diesel::insert_into(record_versions::table).values(version).execute(conn)
}

/// Replaces a record's current version (a correction) by `row`, moving it by `step`
/// (to `row`'s state), if it is still at version `version` in `step`'s starting state,
/// as the caller read it: an optimistic update, so that of two concurrent corrections
/// one wins and the other learns it lost (`false`), on a backend with row locks as on
/// one without.
#[tracing::instrument(level = "debug", skip_all)]
pub fn replace_record(
    conn: &mut DbConnection,
    row: &RecordRow,
    version: i32,
    step: Transition<RecordState>,
) -> QueryResult<bool> {
    let current =
        records::table.find(&row.id).filter(records::version.eq(version)).filter(records::state.eq(step.from()));
    let moved: Moved = diesel::update(current)
        .set((
            records::version.eq(row.version),
            records::state.eq(step.to()),
            records::village.eq(&row.village),
            records::county_code.eq(&row.county_code),
            records::id_hash.eq(&row.id_hash),
            records::id_enc.eq(&row.id_enc),
            records::id_masked.eq(&row.id_masked),
            records::name.eq(&row.name),
            records::sex.eq(&row.sex),
            records::birth_date.eq(&row.birth_date),
            records::ethnicity.eq(&row.ethnicity),
            records::ncms_number.eq(&row.ncms_number),
            records::submitted_enc.eq(&row.submitted_enc),
            records::issues.eq(&row.issues),
            records::warnings.eq(&row.warnings),
            records::reasons.eq(&row.reasons),
            records::previous_state_at.eq(records::state_changed_at.nullable()),
            records::state_changed_at.eq(row.state_changed_at),
        ))
        .returning(MOVED)
        .get_results(conn)?;
    Ok(!tally_moved(conn, moved, step, row.state_changed_at)?.is_empty())
}

// --- The card pipeline: registration and card progress reported by card making. ---

diesel::table! {
    record_cards (record_id) {
        record_id -> Text,
        order_id -> Text,
        card_state -> Text,
        card_state_at -> Timestamp,
    }
}

/// The records `ids` that are in `state` now.
#[tracing::instrument(level = "debug", skip_all)]
pub fn in_state(conn: &mut DbConnection, ids: &[RecordId], state: RecordState) -> QueryResult<Vec<RecordRow>> {
    records::table
        .filter(records::id.eq_any(ids))
        .filter(records::state.eq(state))
        .select(RecordRow::as_select())
        .load(conn)
}

/// Moves the records `ids` at `version` by `step` (with new reasons when given);
/// records in another state or at another version stay as they are. Returns the ids
/// of the records moved.
#[tracing::instrument(level = "debug", skip_all)]
pub fn advance(
    conn: &mut DbConnection,
    ids: &[RecordId],
    version: i32,
    step: Transition<RecordState>,
    reasons: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<Vec<RecordId>> {
    let target = records::table
        .filter(records::id.eq_any(ids))
        .filter(records::version.eq(version))
        .filter(records::state.eq(step.from()));
    let (to, entered) = (step.to(), records::previous_state_at.eq(records::state_changed_at.nullable()));
    let moved: Moved = match reasons {
        Some(reasons) => diesel::update(target)
            .set((records::state.eq(to), records::reasons.eq(reasons), entered, records::state_changed_at.eq(at)))
            .returning(MOVED)
            .get_results(conn)?,
        None => diesel::update(target)
            .set((records::state.eq(to), entered, records::state_changed_at.eq(at)))
            .returning(MOVED)
            .get_results(conn)?,
    };
    tally_moved(conn, moved, step, at)
}

/// `(id, version, state)` of the records `ids`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn states_of(conn: &mut DbConnection, ids: &[RecordId]) -> QueryResult<Vec<(RecordId, i32, RecordState)>> {
    records::table.filter(records::id.eq_any(ids)).select((records::id, records::version, records::state)).load(conn)
}

/// Records the card state of `(record_id, order_id)` pairs as of `at`, unless a later
/// report is already there.
#[tracing::instrument(level = "debug", skip_all)]
pub fn upsert_cards(
    conn: &mut DbConnection,
    records: &[(RecordId, OrderId)],
    card_state: CardStage,
    at: NaiveDateTime,
) -> QueryResult<()> {
    use std::collections::HashSet;
    let ids: Vec<&RecordId> = records.iter().map(|(id, _)| id).collect();
    let newer: HashSet<RecordId> = record_cards::table
        .filter(record_cards::record_id.eq_any(&ids))
        .filter(record_cards::card_state_at.gt(at))
        .select(record_cards::record_id)
        .load(conn)?
        .into_iter()
        .collect();
    diesel::delete(
        record_cards::table.filter(record_cards::record_id.eq_any(&ids)).filter(record_cards::card_state_at.le(at)),
    )
    .execute(conn)?;
    let mut seen = HashSet::new();
    let rows: Vec<_> = records
        .iter()
        .filter(|(id, _)| !newer.contains(id) && seen.insert(id.clone()))
        .map(|(id, order)| {
            (
                record_cards::record_id.eq(id),
                record_cards::order_id.eq(order),
                record_cards::card_state.eq(card_state),
                record_cards::card_state_at.eq(at),
            )
        })
        .collect();
    insert_many(conn, &rows, |chunk| diesel::insert_into(record_cards::table).values(chunk))?;
    Ok(())
}

/// The card of a record, if it has been registered: `(order_id, card_state, at)`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn card_of(
    conn: &mut DbConnection,
    record_id: &RecordId,
) -> QueryResult<Option<(OrderId, CardStage, NaiveDateTime)>> {
    record_cards::table
        .find(record_id)
        .select((record_cards::order_id, record_cards::card_state, record_cards::card_state_at))
        .first(conn)
        .optional()
}

// --- The registration queue: verified records waiting to be sent to card making. ---

diesel::table! {
    registration_queue (id) {
        id -> BigInt,
        records -> Text,
        due_at -> Timestamp,
    }
}

/// One entry of the registration queue: the records one verification outcome verified,
/// each with the version it was verified at.
pub struct QueuedRegistrations {
    pub id: i64,
    pub records: Vec<(RecordId, i32)>,
}

/// Queues the verified records `(id, version)` for registration at card making as one
/// entry, in the caller's transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub fn queue_registrations(conn: &mut DbConnection, due: &[(RecordId, i32)], at: NaiveDateTime) -> QueryResult<()> {
    use registration_queue::dsl as q;
    if due.is_empty() {
        return Ok(());
    }
    let records = serde_json::to_string(due).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::insert_into(q::registration_queue).values((q::records.eq(records), q::due_at.eq(at))).execute(conn)?;
    Ok(())
}

/// The first queue entry after the entry `after`. Locked on PostgreSQL (`FOR UPDATE
/// SKIP LOCKED`), so that replicas take different ones; SQLite has one writer.
#[tracing::instrument(level = "debug", skip_all)]
pub fn next_queued_registrations(conn: &mut DbConnection, after: i64) -> QueryResult<Option<QueuedRegistrations>> {
    use registration_queue::dsl as q;
    let query = q::registration_queue.filter(q::id.gt(after)).order(q::id.asc()).limit(1).select((q::id, q::records));
    let entry: Option<(i64, String)> = claim(conn, query)?.pop();
    entry
        .map(|(id, records)| {
            let records =
                serde_json::from_str(&records).map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
            Ok(QueuedRegistrations { id, records })
        })
        .transpose()
}

/// Takes the queue entry `id` off the registration queue.
#[tracing::instrument(level = "debug", skip_all)]
pub fn unqueue_registrations(conn: &mut DbConnection, id: i64) -> QueryResult<usize> {
    use registration_queue::dsl as q;
    diesel::delete(q::registration_queue.find(id)).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feeder_reads_received_records_by_a_written_out_state() {
        assert_eq!(
            TO_VERIFY_PG.as_str(),
            "SELECT r.id, r.version, r.county_code, r.id_hash, r.name, r.sex, r.birth_date, r.ethnicity, r.part_no, \
             r.upload_id FROM (SELECT id, version, county_code, id_hash, name, sex, birth_date, ethnicity, batch_id, \
             part_no, upload_id FROM records WHERE batch_id = $1 AND state = 'received' AND id > $2 ORDER BY id LIMIT \
             $3) r ORDER BY r.id"
        );
        assert!(TO_VERIFY_SQLITE.contains("WHERE batch_id = ? AND state = 'received' AND id > ? ORDER BY id LIMIT ?)"));
    }
}
