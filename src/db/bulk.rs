//! Writing many rows at once, the one way every service does it: a binary `COPY` on
//! PostgreSQL where the caller can write the rows in that format (about twice the rate
//! of a multi-row INSERT, which binds and plans every value), multi-row INSERTs in
//! bounded chunks everywhere else. Both run in the caller's transaction.

use std::io;

use diesel::pg::CopyTarget;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::{PgConnection, QueryResult, RunQueryDsl, SqliteConnection, Table};

use super::DbConnection;
use super::binary_copy::{BinaryCopy, copy_in};

/// Rows per multi-row INSERT. Both backends cap the bind parameters of a statement
/// (SQLite 32,766, PostgreSQL 65,535), so this holds for rows of up to 32 columns.
pub const ROWS_PER_INSERT: usize = 1000;

/// Inserts `rows` with one multi-row INSERT per [`ROWS_PER_INSERT`] rows, each built by
/// `insert` (`|chunk| diesel::insert_into(table).values(chunk)`), and returns how many
/// were inserted. A multi-row insert does not compile through the connection enum, so
/// the statement runs on the inner connection; its text is the same for both.
pub fn insert_many<'r, R, S>(
    conn: &mut DbConnection,
    rows: &'r [R],
    insert: impl Fn(&'r [R]) -> S,
) -> QueryResult<usize>
where
    S: ExecuteDsl<PgConnection>
        + ExecuteDsl<SqliteConnection>
        + RunQueryDsl<PgConnection>
        + RunQueryDsl<SqliteConnection>,
{
    let mut inserted = 0;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let statement = insert(chunk);
        inserted += match conn {
            DbConnection::Pg(pg) => statement.execute(pg)?,
            DbConnection::Sqlite(lite) => statement.execute(lite)?,
        };
    }
    Ok(inserted)
}

/// Rows per set-based `UPDATE ... FROM (VALUES ...)` ([`values_list`]): up to 30 values
/// a row keeps a statement inside SQLite's 32,766 bind parameters.
pub const ROWS_PER_UPDATE: usize = 1000;

/// The placeholder of bind parameter `n` (from 1, in the order the values are bound)
/// on `conn`'s backend: numbered on both, so the text may use them in any order.
pub fn placeholder(conn: &DbConnection, n: usize) -> String {
    match conn {
        DbConnection::Pg(_) => format!("${n}"),
        DbConnection::Sqlite(_) => format!("?{n}"),
    }
}

/// `(p, p), (p, p)`: the rows of a `VALUES` list of `rows` rows of `columns` bind
/// parameters each, numbered from `first`. Both backends name the columns of a
/// `VALUES` list `column1`, `column2`, ..., so one statement text serves both.
pub fn values_list(conn: &DbConnection, rows: usize, columns: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 7);
    let mut n = first;
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            out.push_str(&placeholder(conn, n));
            n += 1;
        }
        out.push(')');
    }
    out
}

/// How [`copy_many`] writes rows as PostgreSQL's binary `COPY`: into `table`'s
/// `columns`, each row by `write_row`, which starts it with [`BinaryCopy::row`] and
/// writes exactly the fields of `columns`, in their order and of their types.
pub struct Copy<T, C, W> {
    pub table: T,
    pub columns: C,
    pub write_row: W,
}

/// Inserts `rows`: on PostgreSQL as one binary `COPY` (see [`Copy`]), elsewhere with
/// [`insert_many`] and `insert`. Returns how many rows were stored.
pub fn copy_many<'r, R, T, C, W, S>(
    conn: &mut DbConnection,
    rows: &'r [R],
    copy: Copy<T, C, W>,
    insert: impl Fn(&'r [R]) -> S,
) -> QueryResult<usize>
where
    T: Table,
    C: CopyTarget<Table = T>,
    W: Fn(&mut BinaryCopy<'_>, &R) -> io::Result<()>,
    S: ExecuteDsl<PgConnection>
        + ExecuteDsl<SqliteConnection>
        + RunQueryDsl<PgConnection>
        + RunQueryDsl<SqliteConnection>,
{
    if rows.is_empty() {
        return Ok(0);
    }
    match conn {
        DbConnection::Pg(pg) => {
            copy_in(pg, copy.table, copy.columns, |out| rows.iter().try_for_each(|row| (copy.write_row)(out, row)))
        }
        DbConnection::Sqlite(_) => insert_many(conn, rows, insert),
    }
}
