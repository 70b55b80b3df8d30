//! Reconciliations, their differences, and a detail upload's scratch rows; the
//! set-based comparison of those rows with the clinic's settlements in `claims`.
//!
//! The statements over `claims` take the reconciliation's scope as bound parameters
//! (clinic, the stored UTC bounds of the period) and the clearing type's med types as
//! literals: those are the scheme's own codes, never input. Each statement text is
//! written once and run on either backend's connection with its placeholders.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::db::binary_copy::copy_in;
use crate::db::{DbConnection, PageRequest, insert_many, placeholder};
use crate::domain::reconciliation::{ClearingType, DetailRow, Figures, refd_setl_flag};
use crate::domain::{ClientId, Fen, ReconciliationId, SetlId};

diesel::table! {
    reconciliations (id) {
        id -> Text,
        kind -> Text,
        clinic -> Text,
        insutype -> Text,
        clr_type -> Text,
        stmt_begndate -> Date,
        stmt_enddate -> Date,
        state -> Text,
        stmt_rslt -> Nullable<Text>,
        clinic_medfee_sumamt -> BigInt,
        clinic_fund_pay_sumamt -> BigInt,
        clinic_setl_cnt -> BigInt,
        scheme_medfee_sumamt -> BigInt,
        scheme_fund_pay_sumamt -> BigInt,
        scheme_setl_cnt -> BigInt,
        cancelled_medfee_sumamt -> BigInt,
        cancelled_fund_pay_sumamt -> BigInt,
        cancelled_setl_cnt -> BigInt,
        rows_received -> Nullable<BigInt>,
        rows_agreed -> Nullable<BigInt>,
        only_scheme -> Nullable<BigInt>,
        only_clinic -> Nullable<BigInt>,
        differing -> Nullable<BigInt>,
        created_by -> Text,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reconciliation_differences (reconciliation_id, setl_id) {
        reconciliation_id -> Text,
        setl_id -> Text,
        stmt_rslt -> Text,
        row_no -> Nullable<BigInt>,
        scheme_mdtrt_id -> Nullable<Text>,
        scheme_psn_no -> Nullable<Text>,
        scheme_medfee_sumamt -> Nullable<BigInt>,
        scheme_fund_pay_sumamt -> Nullable<BigInt>,
        scheme_refd_setl_flag -> Nullable<Text>,
        clinic_mdtrt_id -> Nullable<Text>,
        clinic_psn_no -> Nullable<Text>,
        clinic_medfee_sumamt -> Nullable<BigInt>,
        clinic_fund_pay_sumamt -> Nullable<BigInt>,
        clinic_refd_setl_flag -> Nullable<Text>,
    }
}

diesel::table! {
    reconciliation_rows (reconciliation_id, row_no) {
        reconciliation_id -> Text,
        row_no -> BigInt,
        setl_id -> Text,
        mdtrt_id -> Text,
        psn_no -> Text,
        medfee_sumamt -> BigInt,
        fund_pay_sumamt -> BigInt,
        refd_setl_flag -> Text,
    }
}

/// What a reconciliation is of.
pub const TOTALS: &str = "totals";
pub const DETAIL: &str = "detail";
/// A detail upload still being read; then every reconciliation is done.
pub const RECEIVING: &str = "receiving";
pub const DONE: &str = "done";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reconciliations)]
pub struct ReconciliationRow {
    pub id: ReconciliationId,
    pub kind: String,
    pub clinic: String,
    pub insutype: String,
    pub clr_type: String,
    pub stmt_begndate: NaiveDate,
    pub stmt_enddate: NaiveDate,
    pub state: String,
    pub stmt_rslt: Option<String>,
    pub clinic_medfee_sumamt: i64,
    pub clinic_fund_pay_sumamt: i64,
    pub clinic_setl_cnt: i64,
    pub scheme_medfee_sumamt: i64,
    pub scheme_fund_pay_sumamt: i64,
    pub scheme_setl_cnt: i64,
    pub cancelled_medfee_sumamt: i64,
    pub cancelled_fund_pay_sumamt: i64,
    pub cancelled_setl_cnt: i64,
    pub rows_received: Option<i64>,
    pub rows_agreed: Option<i64>,
    pub only_scheme: Option<i64>,
    pub only_clinic: Option<i64>,
    pub differing: Option<i64>,
    pub created_by: ClientId,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

impl ReconciliationRow {
    pub fn clinic_figures(&self) -> Figures {
        figures(self.clinic_medfee_sumamt, self.clinic_fund_pay_sumamt, self.clinic_setl_cnt)
    }

    pub fn scheme_figures(&self) -> Figures {
        figures(self.scheme_medfee_sumamt, self.scheme_fund_pay_sumamt, self.scheme_setl_cnt)
    }

    pub fn cancelled_figures(&self) -> Figures {
        figures(self.cancelled_medfee_sumamt, self.cancelled_fund_pay_sumamt, self.cancelled_setl_cnt)
    }
}

fn figures(medfee: i64, fund: i64, count: i64) -> Figures {
    Figures { medfee_sumamt: Fen(medfee), fund_pay_sumamt: Fen(fund), fixmedins_setl_cnt: count }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reconciliation_differences)]
pub struct DifferenceRow {
    pub setl_id: SetlId,
    pub stmt_rslt: String,
    pub row_no: Option<i64>,
    pub scheme_mdtrt_id: Option<String>,
    pub scheme_psn_no: Option<String>,
    pub scheme_medfee_sumamt: Option<i64>,
    pub scheme_fund_pay_sumamt: Option<i64>,
    pub scheme_refd_setl_flag: Option<String>,
    pub clinic_mdtrt_id: Option<String>,
    pub clinic_psn_no: Option<String>,
    pub clinic_medfee_sumamt: Option<i64>,
    pub clinic_fund_pay_sumamt: Option<i64>,
    pub clinic_refd_setl_flag: Option<String>,
}

/// A detail row as the scratch table holds it (SQLite's multi-row INSERT).
#[derive(Debug, Insertable)]
#[diesel(table_name = reconciliation_rows)]
struct ScratchRow<'a> {
    reconciliation_id: &'a str,
    row_no: i64,
    setl_id: &'a str,
    mdtrt_id: &'a str,
    psn_no: &'a str,
    medfee_sumamt: i64,
    fund_pay_sumamt: i64,
    refd_setl_flag: &'static str,
}

/// Which settlements a reconciliation takes.
#[derive(Debug, Clone)]
pub struct Scope {
    pub clinic: String,
    pub clearing: ClearingType,
    /// The period's stored (UTC) bounds, from included, to excluded.
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

impl Scope {
    /// `c.med_type IN (...)` of the clearing type, its codes written out.
    fn med_types(&self, alias: &str) -> String {
        let codes: Vec<String> = self.clearing.med_types().iter().map(|m| format!("'{}'", m.code())).collect();
        format!("{alias}.med_type IN ({})", codes.join(", "))
    }

    /// The filter on `claims` aliased `alias`, with the clinic, from and to at
    /// placeholders `first`, `first + 1`, `first + 2`.
    fn filter(&self, conn: &DbConnection, alias: &str, first: usize) -> String {
        format!(
            "{alias}.clinic = {clinic} AND {alias}.kind = 'settlement' AND {alias}.created_at >= {from} \
             AND {alias}.created_at < {to} AND {types}",
            clinic = placeholder(conn, first),
            from = placeholder(conn, first + 1),
            to = placeholder(conn, first + 2),
            types = self.med_types(alias),
        )
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert(conn: &mut DbConnection, row: &ReconciliationRow) -> QueryResult<usize> {
    diesel::insert_into(reconciliations::table).values(row).execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn find(conn: &mut DbConnection, id: &ReconciliationId) -> QueryResult<Option<ReconciliationRow>> {
    reconciliations::table.find(id).select(ReconciliationRow::as_select()).first(conn).optional()
}

/// Stores what the comparison found and marks the reconciliation done.
#[tracing::instrument(level = "debug", skip_all)]
pub fn finish(conn: &mut DbConnection, row: &ReconciliationRow) -> QueryResult<usize> {
    use reconciliations::dsl as r;
    diesel::update(r::reconciliations.find(&row.id))
        .set((
            r::state.eq(DONE),
            r::stmt_rslt.eq(&row.stmt_rslt),
            r::clinic_medfee_sumamt.eq(row.clinic_medfee_sumamt),
            r::clinic_fund_pay_sumamt.eq(row.clinic_fund_pay_sumamt),
            r::clinic_setl_cnt.eq(row.clinic_setl_cnt),
            r::scheme_medfee_sumamt.eq(row.scheme_medfee_sumamt),
            r::scheme_fund_pay_sumamt.eq(row.scheme_fund_pay_sumamt),
            r::scheme_setl_cnt.eq(row.scheme_setl_cnt),
            r::cancelled_medfee_sumamt.eq(row.cancelled_medfee_sumamt),
            r::cancelled_fund_pay_sumamt.eq(row.cancelled_fund_pay_sumamt),
            r::cancelled_setl_cnt.eq(row.cancelled_setl_cnt),
            r::rows_received.eq(row.rows_received),
            r::rows_agreed.eq(row.rows_agreed),
            r::only_scheme.eq(row.only_scheme),
            r::only_clinic.eq(row.only_clinic),
            r::differing.eq(row.differing),
            r::finished_at.eq(row.finished_at),
        ))
        .execute(conn)
}

/// Deletes a reconciliation that was never answered (its upload failed or was a
/// replay), with its rows and differences.
#[tracing::instrument(level = "debug", skip_all)]
pub fn delete(conn: &mut DbConnection, id: &ReconciliationId) -> QueryResult<usize> {
    delete_rows(conn, id)?;
    diesel::delete(reconciliation_differences::table.filter(reconciliation_differences::reconciliation_id.eq(id)))
        .execute(conn)?;
    diesel::delete(reconciliations::table.find(id)).execute(conn)
}

/// Detail uploads still `receiving` that began before `before`: their process ended
/// while reading them (an upload that is read is answered within it).
#[tracing::instrument(level = "debug", skip_all)]
pub fn abandoned(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<Vec<ReconciliationId>> {
    reconciliations::table
        .filter(reconciliations::state.eq(RECEIVING))
        .filter(reconciliations::created_at.lt(before))
        .select(reconciliations::id)
        .limit(100)
        .load(conn)
}

/// Writes a chunk of a detail upload's rows: a binary `COPY` on PostgreSQL, multi-row
/// INSERTs on SQLite.
#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_rows(conn: &mut DbConnection, id: &ReconciliationId, rows: &[(u64, DetailRow)]) -> QueryResult<usize> {
    use reconciliation_rows::dsl as r;
    let row_no = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    match conn {
        DbConnection::Pg(pg) => {
            let columns = (
                r::reconciliation_id,
                r::row_no,
                r::setl_id,
                r::mdtrt_id,
                r::psn_no,
                r::medfee_sumamt,
                r::fund_pay_sumamt,
                r::refd_setl_flag,
            );
            copy_in(pg, reconciliation_rows::table, columns, |copy| {
                rows.iter().try_for_each(|(n, row)| {
                    copy.row(8)?;
                    copy.text(id.as_str())?;
                    copy.int8(row_no(*n))?;
                    copy.text(row.setl_id.as_str())?;
                    copy.text(&row.mdtrt_id)?;
                    copy.text(row.psn_no.as_str())?;
                    copy.int8(row.medfee_sumamt.get())?;
                    copy.int8(row.fund_pay_sumamt.get())?;
                    copy.text(refd_setl_flag(row.cancelled))
                })
            })
        }
        DbConnection::Sqlite(_) => {
            let scratch: Vec<ScratchRow<'_>> = rows
                .iter()
                .map(|(n, row)| ScratchRow {
                    reconciliation_id: id.as_str(),
                    row_no: row_no(*n),
                    setl_id: row.setl_id.as_str(),
                    mdtrt_id: &row.mdtrt_id,
                    psn_no: row.psn_no.as_str(),
                    medfee_sumamt: row.medfee_sumamt.get(),
                    fund_pay_sumamt: row.fund_pay_sumamt.get(),
                    refd_setl_flag: refd_setl_flag(row.cancelled),
                })
                .collect();
            insert_many(conn, &scratch, |chunk| diesel::insert_into(reconciliation_rows::table).values(chunk))
        }
    }
}

/// Deletes a detail upload's scratch rows.
#[tracing::instrument(level = "debug", skip_all)]
pub fn delete_rows(conn: &mut DbConnection, id: &ReconciliationId) -> QueryResult<usize> {
    diesel::delete(reconciliation_rows::table.filter(reconciliation_rows::reconciliation_id.eq(id))).execute(conn)
}

/// Gives PostgreSQL's planner the size of a freshly loaded upload before it is
/// compared (the table is empty between uploads, so its statistics never fit).
#[tracing::instrument(level = "debug", skip_all)]
pub fn analyze_rows(conn: &mut DbConnection) -> QueryResult<()> {
    if let DbConnection::Pg(pg) = conn {
        diesel::sql_query("ANALYZE reconciliation_rows").execute(pg)?;
    }
    Ok(())
}

/// The rows of an upload whose `setl_id` came in an earlier row too, in row order, at
/// most `limit`, each with the earlier row it repeats.
#[tracing::instrument(level = "debug", skip_all)]
pub fn repeated_rows(conn: &mut DbConnection, id: &ReconciliationId, limit: i64) -> QueryResult<Vec<(i64, i64)>> {
    #[derive(QueryableByName)]
    struct Repeat {
        #[diesel(sql_type = BigInt)]
        row_no: i64,
        #[diesel(sql_type = BigInt)]
        first: i64,
    }
    let sql = format!(
        "SELECT r.row_no, d.first FROM reconciliation_rows r JOIN \
           (SELECT setl_id, MIN(row_no) AS first FROM reconciliation_rows WHERE reconciliation_id = {id} \
            GROUP BY setl_id HAVING COUNT(*) > 1) d ON d.setl_id = r.setl_id \
         WHERE r.reconciliation_id = {id} AND r.row_no > d.first ORDER BY r.row_no LIMIT {limit}",
        id = placeholder(conn, 1),
        limit = placeholder(conn, 2),
    );
    let rows: Vec<Repeat> = match conn {
        DbConnection::Pg(pg) => {
            diesel::sql_query(sql).bind::<Text, _>(id.as_str()).bind::<BigInt, _>(limit).load(pg)?
        }
        DbConnection::Sqlite(lite) => {
            diesel::sql_query(sql).bind::<Text, _>(id.as_str()).bind::<BigInt, _>(limit).load(lite)?
        }
    };
    Ok(rows.into_iter().map(|r| (r.row_no, r.first)).collect())
}

#[derive(QueryableByName)]
struct Sums {
    #[diesel(sql_type = Text)]
    refd: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    medfee: i64,
    #[diesel(sql_type = BigInt)]
    fund: i64,
}

/// The scheme's totals of a scope: the settlements that stand, and those since
/// cancelled.
#[tracing::instrument(level = "debug", skip_all)]
pub fn scheme_figures(conn: &mut DbConnection, scope: &Scope) -> QueryResult<(Figures, Figures)> {
    let sql = format!(
        "SELECT CASE WHEN c.state = 'cancelled' THEN '1' ELSE '0' END AS refd, COUNT(*) AS n, \
           CAST(COALESCE(SUM(c.medfee_sumamt), 0) AS BIGINT) AS medfee, \
           CAST(COALESCE(SUM(c.hifp_pay), 0) AS BIGINT) AS fund \
         FROM claims c WHERE {filter} GROUP BY CASE WHEN c.state = 'cancelled' THEN '1' ELSE '0' END",
        filter = scope.filter(conn, "c", 1),
    );
    macro_rules! load {
        ($conn:expr) => {
            diesel::sql_query(sql)
                .bind::<Text, _>(&scope.clinic)
                .bind::<Timestamp, _>(scope.from)
                .bind::<Timestamp, _>(scope.to)
                .load::<Sums>($conn)?
        };
    }
    let sums = match conn {
        DbConnection::Pg(pg) => load!(pg),
        DbConnection::Sqlite(lite) => load!(lite),
    };
    let of = |flag: &str| {
        sums.iter().find(|s| s.refd == flag).map_or_else(Figures::default, |s| figures(s.medfee, s.fund, s.n))
    };
    Ok((of("0"), of("1")))
}

/// The clinic's totals over its detail rows that stand, and how many rows it sent.
#[tracing::instrument(level = "debug", skip_all)]
pub fn clinic_figures(conn: &mut DbConnection, id: &ReconciliationId) -> QueryResult<Figures> {
    let sql = format!(
        "SELECT '0' AS refd, COUNT(*) AS n, CAST(COALESCE(SUM(medfee_sumamt), 0) AS BIGINT) AS medfee, \
           CAST(COALESCE(SUM(fund_pay_sumamt), 0) AS BIGINT) AS fund \
         FROM reconciliation_rows WHERE reconciliation_id = {id} AND refd_setl_flag = '0'",
        id = placeholder(conn, 1),
    );
    let sums: Vec<Sums> = match conn {
        DbConnection::Pg(pg) => diesel::sql_query(sql).bind::<Text, _>(id.as_str()).load(pg)?,
        DbConnection::Sqlite(lite) => diesel::sql_query(sql).bind::<Text, _>(id.as_str()).load(lite)?,
    };
    Ok(sums.first().map_or_else(Figures::default, |s| figures(s.medfee, s.fund, s.n)))
}

/// Compares an upload's rows with the scope's settlements in one statement (a full
/// outer join on `setl_id`) and stores every settlement that differs; returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub fn store_differences(conn: &mut DbConnection, id: &ReconciliationId, scope: &Scope) -> QueryResult<usize> {
    let sql = format!(
        "INSERT INTO reconciliation_differences (reconciliation_id, setl_id, stmt_rslt, row_no, \
           scheme_mdtrt_id, scheme_psn_no, scheme_medfee_sumamt, scheme_fund_pay_sumamt, scheme_refd_setl_flag, \
           clinic_mdtrt_id, clinic_psn_no, clinic_medfee_sumamt, clinic_fund_pay_sumamt, clinic_refd_setl_flag) \
         SELECT {id}, COALESCE(s.setl_id, r.setl_id), \
           CASE WHEN r.setl_id IS NULL THEN '1' WHEN s.setl_id IS NULL THEN '2' ELSE '3' END, r.row_no, \
           s.mdtrt_id, s.person_no, s.medfee_sumamt, s.hifp_pay, s.refd, \
           r.mdtrt_id, r.psn_no, r.medfee_sumamt, r.fund_pay_sumamt, r.refd_setl_flag \
         FROM (SELECT c.setl_id, c.mdtrt_id, c.person_no, c.medfee_sumamt, c.hifp_pay, \
                 CASE WHEN c.state = 'cancelled' THEN '1' ELSE '0' END AS refd \
               FROM claims c WHERE {filter}) s \
         FULL OUTER JOIN (SELECT row_no, setl_id, mdtrt_id, psn_no, medfee_sumamt, fund_pay_sumamt, refd_setl_flag \
               FROM reconciliation_rows WHERE reconciliation_id = {id}) r ON r.setl_id = s.setl_id \
         WHERE s.setl_id IS NULL OR r.setl_id IS NULL OR s.medfee_sumamt <> r.medfee_sumamt \
           OR s.hifp_pay <> r.fund_pay_sumamt OR s.refd <> r.refd_setl_flag OR s.mdtrt_id <> r.mdtrt_id \
           OR s.person_no <> r.psn_no",
        id = placeholder(conn, 1),
        filter = scope.filter(conn, "c", 2),
    );
    macro_rules! run {
        ($conn:expr) => {
            diesel::sql_query(sql)
                .bind::<Text, _>(id.as_str())
                .bind::<Text, _>(&scope.clinic)
                .bind::<Timestamp, _>(scope.from)
                .bind::<Timestamp, _>(scope.to)
                .execute($conn)
        };
    }
    match conn {
        DbConnection::Pg(pg) => run!(pg),
        DbConnection::Sqlite(lite) => run!(lite),
    }
}

/// How many differences of each code a reconciliation has: `(code, count)`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn difference_counts(conn: &mut DbConnection, id: &ReconciliationId) -> QueryResult<Vec<(String, i64)>> {
    use reconciliation_differences::dsl as d;
    d::reconciliation_differences
        .filter(d::reconciliation_id.eq(id))
        .group_by(d::stmt_rslt)
        .select((d::stmt_rslt, diesel::dsl::count_star()))
        .load(conn)
}

/// A page of a reconciliation's differences in `setl_id` order, of one code or all.
#[tracing::instrument(level = "debug", skip_all)]
pub fn differences(
    conn: &mut DbConnection,
    id: &ReconciliationId,
    code: Option<&str>,
    page: &PageRequest,
) -> QueryResult<Vec<DifferenceRow>> {
    use reconciliation_differences::dsl as d;
    let mut query = d::reconciliation_differences
        .filter(d::reconciliation_id.eq(id))
        .select(DifferenceRow::as_select())
        .into_boxed();
    if let Some(code) = code {
        query = query.filter(d::stmt_rslt.eq(code.to_string()));
    }
    if let Some(after) = &page.after {
        query = query.filter(d::setl_id.gt(after.clone()));
    }
    query.order(d::setl_id.asc()).limit(page.limit.saturating_add(1)).load(conn)
}
