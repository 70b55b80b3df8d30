//! Verification's tables: register imports and their row errors, register entries, the
//! active snapshot, and match results.
//!
//! Where a backend has a faster path it is taken behind one function with a `match` on
//! the connection: `COPY` for register rows on PostgreSQL, `= ANY($1)` for the lookup;
//! SQLite takes multi-row inserts inside the caller's transaction and `json_each`.
//!
//! The register's rows are stored in each backend's own form: on PostgreSQL the ids are
//! UUIDs and the citizen ID's hash and ciphertext bytes (migration
//! `register_narrow_rows`), on SQLite all are text (hex and base64). The `table!` below
//! names the columns; PostgreSQL's are only ever written and read through the
//! statements here that know their types.

use std::collections::HashMap;

use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::Error;
use diesel::sql_types::{Array, BigInt, Binary, Date, Nullable, Text};

use super::matching::RegisterFact;
use crate::db::binary_copy::{BinaryCopy, copy_in};
use crate::db::bulk::Copy;
use crate::db::{DbConnection, PageRequest, copy_many, insert_many, keyset, lock};
use crate::domain::{BatchId, ClientId, ImportState, RecordId};

diesel::table! {
    register_imports (id) {
        id -> Text,
        kind -> Text,
        state -> Text,
        content_type -> Text,
        rows_total -> BigInt,
        rows_inserted -> BigInt,
        rows_updated -> BigInt,
        rows_invalid -> BigInt,
        failure_code -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    register_import_errors (import_id, seq) {
        import_id -> Text,
        seq -> Integer,
        row_no -> BigInt,
        field -> Text,
        code -> Text,
        message -> Text,
    }
}

diesel::table! {
    register_active (singleton) {
        singleton -> Integer,
        snapshot_id -> Text,
        activated_at -> Timestamp,
    }
}

diesel::table! {
    register_entries (snapshot_id, id_hash, import_id, row_no) {
        snapshot_id -> Text,
        id_hash -> Text,
        import_id -> Text,
        row_no -> BigInt,
        /// PostgreSQL only: the first eight bytes of the hash, which its index holds.
        id_key -> BigInt,
        id_enc -> Text,
        name -> Text,
        sex -> Text,
        birth_date -> Date,
        ethnicity -> Text,
        address -> Text,
        household_number -> Nullable<Text>,
        status -> Text,
    }
}

diesel::table! {
    match_results (id) {
        id -> Text,
        record_id -> Text,
        version -> Integer,
        batch_id -> Text,
        message_id -> Text,
        outcome -> Text,
        reasons -> Text,
        snapshot_id -> Text,
        matched_at -> Timestamp,
    }
}

/// Most row errors kept per import.
pub const MAX_KEPT_ERRORS: i64 = 1000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = register_imports)]
pub struct ImportRow {
    pub id: String,
    pub kind: String,
    pub state: ImportState,
    pub content_type: String,
    pub rows_total: i64,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_invalid: i64,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub created_by: ClientId,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = register_import_errors)]
#[diesel(treat_none_as_default_value = false)]
pub struct ImportErrorRow {
    pub import_id: String,
    pub seq: i32,
    pub row_no: i64,
    pub field: String,
    pub code: String,
    pub message: String,
}

/// A checked register row as an import stores it: the citizen ID only as its keyed
/// hash and its ciphertext (nonce and sealed bytes).
#[derive(Debug, Clone)]
pub struct EntryToStore<'a> {
    pub row_no: i64,
    pub id_hash: [u8; 32],
    pub id_enc: Vec<u8>,
    pub name: &'a str,
    pub sex: &'a str,
    pub birth_date: NaiveDate,
    pub ethnicity: &'a str,
    pub address: &'a str,
    pub household_number: Option<&'a str>,
    pub status: &'a str,
}

/// A register row in SQLite's form.
#[derive(Insertable)]
#[diesel(table_name = register_entries)]
#[diesel(treat_none_as_default_value = false)]
struct SqliteEntry<'a> {
    snapshot_id: &'a str,
    id_hash: String,
    import_id: &'a str,
    row_no: i64,
    id_enc: String,
    name: &'a str,
    sex: &'a str,
    birth_date: NaiveDate,
    ethnicity: &'a str,
    address: &'a str,
    household_number: Option<&'a str>,
    status: &'a str,
}

impl<'a> SqliteEntry<'a> {
    fn new(import_id: &'a str, e: &'a EntryToStore<'a>) -> SqliteEntry<'a> {
        SqliteEntry {
            snapshot_id: import_id,
            id_hash: crate::pii::hex(&e.id_hash),
            import_id,
            row_no: e.row_no,
            id_enc: base64::engine::general_purpose::STANDARD.encode(&e.id_enc),
            name: e.name,
            sex: e.sex,
            birth_date: e.birth_date,
            ethnicity: e.ethnicity,
            address: e.address,
            household_number: e.household_number,
            status: e.status,
        }
    }
}

/// The register's index key on PostgreSQL: the hash's first eight bytes, big-endian and
/// signed (as `('x' || left(hex, 16))::bit(64)::bigint` reads them).
fn id_key(hash: &[u8; 32]) -> i64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    i64::from_be_bytes(first)
}

/// Writes `rows` as the rows of the `COPY` in [`insert_entries`].
fn write_entries(copy: &mut BinaryCopy<'_>, import: &uuid::Uuid, rows: &[EntryToStore<'_>]) -> std::io::Result<()> {
    for e in rows {
        copy.row(13)?;
        copy.uuid(import)?;
        copy.uuid(import)?;
        copy.int8(e.row_no)?;
        copy.int8(id_key(&e.id_hash))?;
        copy.date(e.birth_date)?;
        copy.bytes(&e.id_hash)?;
        copy.bytes(&e.id_enc)?;
        copy.text(e.name)?;
        copy.text(e.sex)?;
        copy.text(e.ethnicity)?;
        copy.text(e.address)?;
        copy.opt_text(e.household_number)?;
        copy.text(e.status)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = match_results)]
#[diesel(treat_none_as_default_value = false)]
pub struct MatchRow {
    pub id: String,
    pub record_id: RecordId,
    pub version: i32,
    pub batch_id: BatchId,
    pub message_id: String,
    pub outcome: String,
    pub reasons: String,
    pub snapshot_id: String,
    pub matched_at: NaiveDateTime,
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_import(conn: &mut DbConnection, row: &ImportRow) -> QueryResult<()> {
    diesel::insert_into(register_imports::table).values(row).execute(conn).map(|_| ())
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn find_import(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ImportRow>> {
    register_imports::table.find(id).select(ImportRow::as_select()).first(conn).optional()
}

/// Imports after the cursor, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub fn list_imports(conn: &mut DbConnection, page: &PageRequest) -> QueryResult<Vec<ImportRow>> {
    keyset(register_imports::table.select(ImportRow::as_select()).into_boxed(), register_imports::id, page).load(conn)
}

/// The first `limit` row errors of an import.
#[tracing::instrument(level = "debug", skip_all)]
pub fn import_errors(conn: &mut DbConnection, import_id: &str, limit: i64) -> QueryResult<Vec<ImportErrorRow>> {
    register_import_errors::table
        .filter(register_import_errors::import_id.eq(import_id))
        .order(register_import_errors::seq.asc())
        .limit(limit)
        .select(ImportErrorRow::as_select())
        .load(conn)
}

/// Records the counts as of a chunk's last row. Chunks are written by several writers,
/// so a chunk may land after a later one: the counts only ever grow.
#[tracing::instrument(level = "debug", skip_all)]
pub fn record_progress(conn: &mut DbConnection, id: &str, total: i64, invalid: i64) -> QueryResult<usize> {
    use register_imports::dsl as i;
    diesel::update(i::register_imports.find(id).filter(i::rows_total.lt(total)))
        .set((i::rows_total.eq(total), i::rows_invalid.eq(invalid)))
        .execute(conn)
}

/// Marks an import that is still receiving as failed; false if it was not receiving.
#[tracing::instrument(level = "debug", skip_all)]
pub fn mark_failed(
    conn: &mut DbConnection,
    id: &str,
    total: i64,
    invalid: i64,
    code: &str,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    use register_imports::dsl as i;
    diesel::update(i::register_imports.filter(i::id.eq(id)).filter(i::state.eq(ImportState::Receiving)))
        .set((
            i::state.eq(ImportState::Failed),
            i::rows_total.eq(total),
            i::rows_invalid.eq(invalid),
            i::failure_code.eq(Some(code)),
            i::failure_reason.eq(Some(reason)),
            i::finished_at.eq(Some(at)),
        ))
        .execute(conn)
        .map(|n| n > 0)
}

/// Marks an import applied with its final counts.
#[tracing::instrument(level = "debug", skip_all)]
pub fn mark_applied(
    conn: &mut DbConnection,
    id: &str,
    counts: (i64, i64, i64, i64),
    at: NaiveDateTime,
) -> QueryResult<usize> {
    use register_imports::dsl as i;
    let (total, inserted, updated, invalid) = counts;
    diesel::update(i::register_imports.find(id))
        .set((
            i::state.eq(ImportState::Applied),
            i::rows_total.eq(total),
            i::rows_inserted.eq(inserted),
            i::rows_updated.eq(updated),
            i::rows_invalid.eq(invalid),
            i::finished_at.eq(Some(at)),
        ))
        .execute(conn)
}

/// The import state, locked until the transaction ends.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_import_state(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ImportState>> {
    use register_imports::dsl as i;
    Ok(lock(conn, i::register_imports.find(id).select(i::state))?.pop())
}

/// The active snapshot id, locked until the transaction ends, so that activations and
/// delta applications run one at a time.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_active(conn: &mut DbConnection) -> QueryResult<Option<String>> {
    use register_active::dsl as a;
    Ok(lock(conn, a::register_active.find(1).select(a::snapshot_id))?.pop())
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn active_snapshot(conn: &mut DbConnection) -> QueryResult<Option<String>> {
    use register_active::dsl as a;
    a::register_active.find(1).select(a::snapshot_id).first(conn).optional()
}

/// Makes `snapshot_id` the active snapshot; the previous one (if any) becomes
/// superseded. Call after [`lock_active`] in the same transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub fn activate(
    conn: &mut DbConnection,
    previous: Option<&str>,
    snapshot_id: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    use register_active::dsl as a;
    match previous {
        Some(previous) => {
            diesel::update(a::register_active.find(1))
                .set((a::snapshot_id.eq(snapshot_id), a::activated_at.eq(at)))
                .execute(conn)?;
            diesel::update(register_imports::table.find(previous))
                .set(register_imports::state.eq(ImportState::Superseded))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(a::register_active)
                .values((a::singleton.eq(1), a::snapshot_id.eq(snapshot_id), a::activated_at.eq(at)))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Applies the staged rows of delta `delta_id` to snapshot `active`: rows of the active
/// snapshot with an ID the delta holds are replaced, new IDs are added. Returns
/// `(inserted, updated)` counted in delta rows.
#[tracing::instrument(level = "debug", skip_all)]
pub fn apply_delta(conn: &mut DbConnection, active: &str, delta_id: &str) -> QueryResult<(i64, i64)> {
    match conn {
        DbConnection::Pg(pg) => apply_delta_pg(pg, active, delta_id),
        conn => apply_delta_sqlite(conn, active, delta_id),
    }
}

#[derive(QueryableByName)]
struct DeltaCounts {
    #[diesel(sql_type = BigInt)]
    staged: i64,
    #[diesel(sql_type = BigInt)]
    updated: i64,
}

/// [`apply_delta`] on PostgreSQL, whose ids are UUIDs and hashes bytes: the same steps as
/// on SQLite, written out with their types. Moving the delta's rows into the active
/// snapshot moves them into its partition.
fn apply_delta_pg(pg: &mut diesel::PgConnection, active: &str, delta_id: &str) -> QueryResult<(i64, i64)> {
    let counts: DeltaCounts = diesel::sql_query(
        "SELECT count(*) AS staged, count(*) FILTER (WHERE d.id_hash IN \
             (SELECT a.id_hash FROM register_entries a WHERE a.snapshot_id = $1::uuid)) AS updated \
         FROM register_entries d WHERE d.snapshot_id = $2::uuid",
    )
    .bind::<Text, _>(active)
    .bind::<Text, _>(delta_id)
    .get_result(pg)?;
    diesel::sql_query(
        "DELETE FROM register_entries WHERE snapshot_id = $1::uuid AND id_hash IN \
             (SELECT id_hash FROM register_entries WHERE snapshot_id = $2::uuid)",
    )
    .bind::<Text, _>(active)
    .bind::<Text, _>(delta_id)
    .execute(pg)?;
    diesel::sql_query("UPDATE register_entries SET snapshot_id = $1::uuid WHERE snapshot_id = $2::uuid")
        .bind::<Text, _>(active)
        .bind::<Text, _>(delta_id)
        .execute(pg)?;
    Ok((counts.staged - counts.updated, counts.updated))
}

fn apply_delta_sqlite(conn: &mut DbConnection, active: &str, delta_id: &str) -> QueryResult<(i64, i64)> {
    use register_entries::dsl as e;
    let other = diesel::alias!(register_entries as other);
    let staged: i64 = e::register_entries.filter(e::snapshot_id.eq(delta_id)).count().get_result(conn)?;
    let existing_ids = other.filter(other.field(e::snapshot_id).eq(active)).select(other.field(e::id_hash));
    let updated: i64 = e::register_entries
        .filter(e::snapshot_id.eq(delta_id))
        .filter(e::id_hash.eq_any(existing_ids))
        .count()
        .get_result(conn)?;
    let delta_ids = other.filter(other.field(e::snapshot_id).eq(delta_id)).select(other.field(e::id_hash));
    diesel::delete(e::register_entries.filter(e::snapshot_id.eq(active)).filter(e::id_hash.eq_any(delta_ids)))
        .execute(conn)?;
    diesel::update(e::register_entries.filter(e::snapshot_id.eq(delta_id)))
        .set(e::snapshot_id.eq(active))
        .execute(conn)?;
    Ok((staged - updated, updated))
}

/// Inserts the rows of import `import_id` (stored under it as their snapshot too):
/// a binary `COPY` on PostgreSQL, multi-row INSERTs on SQLite, all in the caller's
/// transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_entries(conn: &mut DbConnection, import_id: &str, rows: &[EntryToStore<'_>]) -> QueryResult<usize> {
    match conn {
        DbConnection::Pg(pg) => {
            use register_entries::dsl as e;
            let import = import_uuid(import_id)?;
            let columns = (
                e::snapshot_id,
                e::import_id,
                e::row_no,
                e::id_key,
                e::birth_date,
                e::id_hash,
                e::id_enc,
                e::name,
                e::sex,
                e::ethnicity,
                e::address,
                e::household_number,
                e::status,
            );
            copy_in(pg, register_entries::table, columns, |copy| write_entries(copy, &import, rows))
        }
        // SQLite stores the hash as hex and the ciphertext as base64 text.
        DbConnection::Sqlite(_) => {
            let rows: Vec<SqliteEntry<'_>> = rows.iter().map(|e| SqliteEntry::new(import_id, e)).collect();
            insert_many(conn, &rows, |chunk| diesel::insert_into(register_entries::table).values(chunk))
        }
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_errors(conn: &mut DbConnection, rows: &[ImportErrorRow]) -> QueryResult<usize> {
    insert_many(conn, rows, |chunk| diesel::insert_into(register_import_errors::table).values(chunk))
}

/// An import's id as the UUID PostgreSQL stores.
fn import_uuid(import_id: &str) -> QueryResult<uuid::Uuid> {
    uuid::Uuid::parse_str(import_id).map_err(|e| Error::QueryBuilderError(Box::new(e)))
}

/// The partition of the register that holds an import's rows on PostgreSQL:
/// `register_part_` and the import id's 32 hex digits. The id is read as a UUID first,
/// so that nothing but hex digits reaches the statement text.
fn partition_of(import_id: &str) -> QueryResult<(String, String)> {
    let id = import_uuid(import_id)?;
    Ok((format!("register_part_{}", id.simple()), id.hyphenated().to_string()))
}

/// Opens the partition an import writes its rows into, with no index, so that loading
/// it costs no index maintenance (PostgreSQL; SQLite keeps one table).
#[tracing::instrument(level = "debug", skip_all)]
pub fn open_partition(conn: &mut DbConnection, import_id: &str) -> QueryResult<()> {
    if let DbConnection::Pg(pg) = conn {
        let (part, id) = partition_of(import_id)?;
        diesel::sql_query(format!("CREATE TABLE {part} PARTITION OF register_entries FOR VALUES IN ('{id}')"))
            .execute(pg)?;
    }
    Ok(())
}

/// Indexes a snapshot's partition once it holds every row, in one bulk build, and gives
/// the planner its statistics before matching reads it.
///
/// The index is a B-tree on `id_key`, the first 64 bits of `id_hash`, rather than on
/// `id_hash` itself: a B-tree on a 64-bit hash of the hex hash was built in 2.7 s for
/// five million rows where a hash index on it took 7.1 s and a B-tree on the text 6.6 s
/// (measured on one partition, same machine), and `id_key` needs no function evaluated
/// per row. Look-ups compare `id_hash` too, so two IDs sharing their first 64 bits cost
/// a row read, never a wrong match.
#[tracing::instrument(level = "debug", skip_all)]
pub fn index_partition(conn: &mut DbConnection, import_id: &str) -> QueryResult<()> {
    if let DbConnection::Pg(pg) = conn {
        let (part, _) = partition_of(import_id)?;
        // Enough to sort five million keys in memory, for this statement only.
        diesel::sql_query("SET LOCAL maintenance_work_mem = '256MB'").execute(pg)?;
        diesel::sql_query(format!("CREATE INDEX {part}_id_key ON {part} (id_key)")).execute(pg)?;
        diesel::sql_query(format!("ANALYZE {part}")).execute(pg)?;
    }
    Ok(())
}

/// Removes the rows stored under `snapshot_id` (a superseded snapshot, a failed import,
/// or an applied delta's emptied partition): its partition is dropped on PostgreSQL,
/// its rows deleted on SQLite. Run outside the activation transaction, so that a switch
/// is instant.
#[tracing::instrument(level = "debug", skip_all)]
pub fn delete_snapshot_rows(conn: &mut DbConnection, snapshot_id: &str) -> QueryResult<()> {
    match conn {
        DbConnection::Pg(pg) => {
            let (part, _) = partition_of(snapshot_id)?;
            diesel::sql_query(format!("DROP TABLE IF EXISTS {part}")).execute(pg)?;
        }
        conn => {
            diesel::delete(register_entries::table.filter(register_entries::snapshot_id.eq(snapshot_id)))
                .execute(conn)?;
        }
    }
    Ok(())
}

#[derive(QueryableByName, Debug)]
struct LookupRow {
    #[diesel(sql_type = Text)]
    active: String,
    #[diesel(sql_type = Nullable<Text>)]
    id_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sex: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    birth_date: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    ethnicity: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
}

/// The active snapshot's id and its entries by ID hash.
pub type ActiveLookup = (String, HashMap<String, Vec<RegisterFact>>);

/// The entries of an ID come in the order of the imports and rows they came from, as
/// the SQLite lookup reads them from its primary key (PostgreSQL finds them through the
/// partition's index on `id_key`, so the statement orders them).
///
/// The active snapshot's id is read twice in the one statement (one snapshot of the
/// data, so both agree): once for the answer, once as an init-plan parameter on which
/// PostgreSQL prunes the partitions at run time, so that only the active snapshot's
/// partition is searched and a partition still loading, with no index yet, never is.
/// `$1` are the hashes as bytes, `$2` their keys, which the partition's index holds (see
/// [`index_partition`]).
const LOOKUP_PG: &str = "SELECT a.snapshot_id AS active, encode(e.id_hash, 'hex') AS id_hash, e.name, e.sex, \
       e.birth_date, e.ethnicity, e.status \
     FROM register_active a LEFT JOIN register_entries e \
       ON e.snapshot_id = (SELECT snapshot_id::uuid FROM register_active WHERE singleton = 1) \
       AND e.id_key = ANY($2) AND e.id_hash = ANY($1) \
     WHERE a.singleton = 1 ORDER BY e.id_hash, e.import_id, e.row_no";

const LOOKUP_SQLITE: &str = "SELECT a.snapshot_id AS active, e.id_hash, e.name, e.sex, e.birth_date, e.ethnicity, e.status \
     FROM register_active a LEFT JOIN register_entries e \
       ON e.snapshot_id = a.snapshot_id AND e.id_hash IN (SELECT value FROM json_each(?)) \
     WHERE a.singleton = 1";

/// The register entries of `hashes` in the active snapshot, in one statement (so a
/// concurrent switch of snapshots is seen entirely or not at all). `None` when no
/// snapshot has been imported yet.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lookup_active(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<Option<ActiveLookup>> {
    let rows: Vec<LookupRow> = match conn {
        DbConnection::Pg(pg) => {
            // A hash that is not 64 hex digits names no one in the register.
            let bytes: Vec<[u8; 32]> = hashes.iter().filter_map(|h| crate::pii::hash_from_hex(h)).collect();
            let keys: Vec<i64> = bytes.iter().map(id_key).collect();
            let bytes: Vec<&[u8]> = bytes.iter().map(|b| b.as_slice()).collect();
            diesel::sql_query(LOOKUP_PG).bind::<Array<Binary>, _>(bytes).bind::<Array<BigInt>, _>(keys).load(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            let json = serde_json::to_string(hashes).map_err(|e| Error::SerializationError(Box::new(e)))?;
            diesel::sql_query(LOOKUP_SQLITE).bind::<Text, _>(json).load(sqlite)?
        }
    };
    let Some(active) = rows.first().map(|r| r.active.clone()) else {
        return Ok(None);
    };
    let mut found: HashMap<String, Vec<RegisterFact>> = HashMap::new();
    for row in rows {
        if let (Some(id_hash), Some(name), Some(sex), Some(birth_date), Some(ethnicity), Some(status)) =
            (row.id_hash, row.name, row.sex, row.birth_date, row.ethnicity, row.status)
        {
            found.entry(id_hash).or_default().push(RegisterFact { name, sex, birth_date, ethnicity, status });
        }
    }
    Ok(Some((active, found)))
}

/// Inserts match results in the caller's transaction (a binary `COPY` on PostgreSQL).
#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_matches(conn: &mut DbConnection, rows: &[MatchRow]) -> QueryResult<usize> {
    use match_results::dsl as m;
    let columns = (
        m::id,
        m::record_id,
        m::version,
        m::batch_id,
        m::message_id,
        m::outcome,
        m::reasons,
        m::snapshot_id,
        m::matched_at,
    );
    copy_many(conn, rows, Copy { table: match_results::table, columns, write_row: write_match }, |chunk| {
        diesel::insert_into(match_results::table).values(chunk)
    })
}

/// Writes a match result as a row of a `COPY` of every column of `match_results`.
fn write_match(copy: &mut BinaryCopy<'_>, r: &MatchRow) -> std::io::Result<()> {
    copy.row(9)?;
    copy.text(&r.id)?;
    copy.text(r.record_id.as_str())?;
    copy.int4(r.version)?;
    copy.text(r.batch_id.as_str())?;
    copy.text(&r.message_id)?;
    copy.text(&r.outcome)?;
    copy.text(&r.reasons)?;
    copy.text(&r.snapshot_id)?;
    copy.timestamp(r.matched_at)?;
    Ok(())
}

/// Match results, of one record when `record_id` is given, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub fn list_matches(
    conn: &mut DbConnection,
    record_id: Option<&RecordId>,
    page: &PageRequest,
) -> QueryResult<Vec<MatchRow>> {
    let mut query = match_results::table.select(MatchRow::as_select()).into_boxed();
    if let Some(record_id) = record_id {
        query = query.filter(match_results::record_id.eq(record_id.clone()));
    }
    keyset(query, match_results::id, page).load(conn)
}

/// Refreshes PostgreSQL's statistics of a snapshot's partition after a delta changed it.
#[tracing::instrument(level = "debug", skip_all)]
pub fn refresh_statistics(conn: &mut DbConnection, snapshot_id: &str) -> QueryResult<()> {
    if let DbConnection::Pg(pg) = conn {
        let (part, _) = partition_of(snapshot_id)?;
        diesel::sql_query(format!("ANALYZE {part}")).execute(pg)?;
    }
    Ok(())
}
