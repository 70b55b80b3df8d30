//! The platform tables (outbox, inbox, idempotency keys) have one definition, applied
//! to every service's database: every copy must have the same columns, types,
//! defaults, keys and indexes, and a database made by the previous migration trees
//! must reach the same schema as a fresh one without losing a row.
//!
//! The previous trees are kept verbatim (their `up.sql` files as of commit acdf3d7,
//! before the platform tree existed) in `tests/fixtures/migrations-acdf3d7`, and
//! applied with diesel's file-based migrations, as the binary of that time did with
//! the same files embedded.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    platform_tables_are_the_same_in_every_service,
    databases_of_the_previous_platform_migrations_upgrade_without_loss,
);

/// Tables every service has, from the platform tree.
const PLATFORM_TABLES: [&str; 3] = ["idempotency_keys", "outbox_messages", "inbox_messages"];
/// Every service but the gateway records revocations here (platform code reads it).
const UPSTREAMS: [&str; 4] = ["collection", "verification", "cardmaking", "settlement"];

enum Db {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

impl Db {
    fn open(env: &TestEnv, backend: Backend, service: &str) -> Db {
        let at = env.database(service);
        match backend {
            Backend::Postgres => Db::Pg(PgConnection::establish(&at).unwrap()),
            Backend::Sqlite => Db::Sqlite(SqliteConnection::establish(&at).unwrap()),
        }
    }

    fn backend(&self) -> Backend {
        match self {
            Db::Pg(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Runs a query whose one column is called `line`.
    fn lines(&mut self, sql: &str) -> Vec<String> {
        let rows: Vec<Line> = match self {
            Db::Pg(c) => diesel::sql_query(sql).load(c),
            Db::Sqlite(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
        rows.into_iter().map(|r| r.line).collect()
    }

    fn execute(&mut self, sql: &str) {
        match self {
            Db::Pg(c) => c.batch_execute(sql),
            Db::Sqlite(c) => c.batch_execute(sql),
        }
        .unwrap_or_else(|e| panic!("{e}: {}", &sql[..sql.len().min(300)]));
    }

    /// Every table (and view) of the database, by name.
    fn tables(&mut self) -> Vec<String> {
        let sql = match self {
            Db::Pg(_) => {
                "SELECT c.relname AS line FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1"
            }
            Db::Sqlite(_) => {
                "SELECT name AS line FROM sqlite_master WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite_%' ORDER BY 1"
            }
        };
        self.lines(sql)
    }

    /// The shape of `table`, without anything that differs between two databases of
    /// the same schema (object ids, index and constraint names): one line per column,
    /// key, constraint and index, sorted. Empty when the table does not exist.
    fn describe(&mut self, table: &str) -> Vec<String> {
        let mut lines = match self {
            Db::Pg(_) => self.describe_pg(table),
            Db::Sqlite(_) => self.describe_sqlite(table),
        };
        lines.sort();
        lines
    }

    fn describe_pg(&mut self, table: &str) -> Vec<String> {
        let rel = format!(
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relname = '{table}'"
        );
        let mut lines = self.lines(&format!(
            "SELECT format('table kind=%s persistence=%s options=%s partition_key=%s partition_of=%s', \
                    c.relkind, c.relpersistence, coalesce(c.reloptions::text, '-'), \
                    coalesce(pg_get_partkeydef(c.oid), '-'), coalesce(pg_get_expr(c.relpartbound, c.oid), '-')) AS line {rel}"
        ));
        // Columns by position among the live ones (a dropped column keeps its attnum).
        lines.extend(self.lines(&format!(
            "SELECT format('column %s %s %s nullable=%s default=%s collation=%s storage=%s compression=%s', \
                    row_number() OVER (ORDER BY a.attnum), a.attname, format_type(a.atttypid, a.atttypmod), \
                    NOT a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), coalesce(co.collname, '-'), \
                    a.attstorage, coalesce(nullif(a.attcompression::text, ''), '-')) AS line \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             LEFT JOIN pg_collation co ON co.oid = a.attcollation \
             WHERE n.nspname = 'public' AND c.relname = '{table}' AND a.attnum > 0 AND NOT a.attisdropped"
        )));
        lines.extend(self.lines(&format!(
            "SELECT format('constraint %s %s', x.contype, pg_get_constraintdef(x.oid)) AS line \
             FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relname = '{table}'"
        )));
        // The definition without the index's name and the schema.
        lines.extend(self.lines(&format!(
            "SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), \
                    '^CREATE (UNIQUE )?INDEX \\S+ ON \\S+ ', 'CREATE \\1INDEX ON {table} ') AS line \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relname = '{table}'"
        )));
        lines.extend(self.lines(&format!(
            "SELECT 'trigger ' || regexp_replace(pg_get_triggerdef(t.oid), '^CREATE (\\S+ )?TRIGGER \\S+ ', '') AS line \
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relname = '{table}' AND NOT t.tgisinternal"
        )));
        lines
    }

    fn describe_sqlite(&mut self, table: &str) -> Vec<String> {
        // SQLite keeps a table's schema as the text of its CREATE statement (without
        // IF NOT EXISTS): it is compared as well, comments and spacing aside, as it is
        // the only place that shows, say, a column's collation.
        let mut lines: Vec<String> = self
            .lines(&format!(
                "SELECT sql AS line FROM sqlite_master WHERE type IN ('table', 'view') AND name = '{table}'"
            ))
            .iter()
            .map(|sql| format!("sql {}", normalise_sql(sql)))
            .collect();
        lines.extend(self.lines(&format!(
            "SELECT 'column ' || cid || ' ' || name || ' ' || type || ' notnull=' || \"notnull\" || \
                    ' default=' || coalesce(dflt_value, '-') || ' pk=' || pk AS line \
             FROM pragma_table_info('{table}')"
        )));
        lines.extend(self.lines(&format!(
            "SELECT 'index unique=' || il.\"unique\" || ' origin=' || il.origin || ' partial=' || il.partial || ' (' || \
                    (SELECT group_concat(col, ', ') FROM \
                       (SELECT coalesce(x.name, '<expression>') || ' ' || \
                               CASE x.\"desc\" WHEN 1 THEN 'desc' ELSE 'asc' END || ' ' || x.coll AS col \
                        FROM pragma_index_xinfo(il.name) x WHERE x.key = 1 ORDER BY x.seqno)) || ')' AS line \
             FROM pragma_index_list('{table}') il"
        )));
        // An index's WHERE clause is only in its CREATE statement.
        lines.extend(
            self.lines(&format!(
                "SELECT sql AS line FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' AND sql IS NOT NULL"
            ))
            .iter()
            .map(|sql| format!("index sql {}", without_index_name(&normalise_sql(sql)))),
        );
        lines.extend(self.lines(&format!(
            "SELECT 'foreign key (' || \"from\" || ') references ' || \"table\" || ' (' || coalesce(\"to\", '-') || \
                    ') on update ' || on_update || ' on delete ' || on_delete AS line \
             FROM pragma_foreign_key_list('{table}')"
        )));
        lines.extend(
            self.lines(&format!(
                "SELECT sql AS line FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '{table}'"
            ))
            .iter()
            .map(|sql| format!("trigger {}", normalise_sql(sql))),
        );
        lines
    }

    /// The whole schema: every table's description.
    fn schema(&mut self) -> Vec<(String, Vec<String>)> {
        self.tables().into_iter().map(|t| (t.clone(), self.describe(&t))).collect()
    }

    fn applied_versions(&mut self) -> Vec<String> {
        self.lines("SELECT version AS line FROM __diesel_schema_migrations ORDER BY 1")
    }
}

/// Comments dropped, runs of white space made one space.
fn normalise_sql(sql: &str) -> String {
    let without_comments: Vec<&str> = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect();
    without_comments.join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `CREATE [UNIQUE] INDEX name ON ...` without the name.
fn without_index_name(sql: &str) -> String {
    match sql.find(" ON ") {
        Some(on) => {
            let head = &sql[..on];
            let head = head.rsplit_once(' ').map(|(h, _)| h).unwrap_or(head);
            format!("{head}{}", &sql[on..])
        }
        None => sql.to_string(),
    }
}

fn migrate(env: &TestEnv) {
    let out = env.cli(&["migrate"]);
    assert!(out.status.success(), "migrate failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
}

/// The tables a service shares with others: the platform tables everywhere, and
/// revoked_clients in every service but the gateway.
fn shared_tables(service: &str) -> Vec<&'static str> {
    let mut tables = PLATFORM_TABLES.to_vec();
    if UPSTREAMS.contains(&service) {
        tables.push("revoked_clients");
    }
    tables
}

fn assert_same(what: &str, expected: &[String], got: &[String]) {
    if expected != got {
        let missing: Vec<&String> = expected.iter().filter(|l| !got.contains(l)).collect();
        let extra: Vec<&String> = got.iter().filter(|l| !expected.contains(l)).collect();
        panic!("{what} differs\n  missing: {missing:#?}\n  extra: {extra:#?}");
    }
}

async fn platform_tables_are_the_same_in_every_service(backend: Backend) {
    let env = TestEnv::new(backend);
    tokio::task::block_in_place(|| {
        migrate(&env);
        let mut reference: Vec<(&str, &str, Vec<String>)> = Vec::new();
        for service in SERVICES {
            let mut db = Db::open(&env, backend, service);
            for table in shared_tables(service) {
                let shape = db.describe(table);
                assert!(shape.iter().any(|l| l.starts_with("column ")), "{service} has no table {table}");
                match reference.iter().find(|(_, t, _)| *t == table) {
                    Some((first, _, expected)) => {
                        assert_same(&format!("{table} of {service} (against {first})"), expected, &shape)
                    }
                    None => reference.push((service, table, shape)),
                }
            }
        }
        // What the dispatcher's claim reads: undelivered messages by next_attempt_at.
        let (_, _, outbox) = reference.iter().find(|(_, t, _)| *t == "outbox_messages").unwrap();
        let due = outbox.iter().any(|l| {
            l.starts_with("index") && l.contains("next_attempt_at") && l.to_lowercase().contains("delivered_at is null")
        });
        assert!(due, "no partial index on next_attempt_at: {outbox:#?}");
    });
}

/// A payload of the size and kind of a chunk message (compressible JSON of about
/// 200 KB: stored out of line, compressed by PostgreSQL).
fn chunk_payload() -> String {
    let records: Vec<String> = (0..2000)
        .map(|i| format!("{{\"record\":{i},\"name\":\"record number {i}\",\"state\":\"verified\"}}"))
        .collect();
    format!("{{\"records\":[{}]}}", records.join(","))
}

/// Rows of every kind the platform tables hold, in the old schema's columns.
fn old_rows(service: &str, payload: &str) -> String {
    let mut sql = format!(
        "INSERT INTO idempotency_keys (client_id, idem_key, request_hash, status_code, response_body, locked_until, created_at) \
         VALUES ('client-1', 'key-done', 'hash-1', 201, '{{\"id\":\"{service}\"}}', '2026-11-20 10:00:01', '2026-11-20 10:00:00'), \
                ('client-1', 'key-open', 'hash-2', NULL, NULL, '2026-11-20 10:01:01', '2026-11-20 10:00:01');
         INSERT INTO outbox_messages (id, destination, kind, payload, created_at, attempts, next_attempt_at, delivered_at, last_error) \
         VALUES ('0193a000-0000-7000-8000-000000000001', 'collection', 'test.delivered', '{{\"n\":1}}', \
                 '2026-11-20 10:00:00', 1, '2026-11-20 10:00:00', '2026-11-20 10:00:02', NULL);
         INSERT INTO outbox_messages (id, destination, kind, payload, created_at, next_attempt_at, last_error) \
         VALUES ('0193a000-0000-7000-8000-000000000002', 'cardmaking', 'test.waiting', '{payload}', \
                 '2026-11-20 10:00:00', '2026-11-20 10:05:00', 'connection refused');"
    );
    if service == "gateway" {
        sql.push_str(
            "INSERT INTO api_clients (id, name, role, scopes, secret_hash, created_by, created_at, revoked_at) \
             VALUES ('client-1', 'county office', 'county_office', '[\"210804\"]', 'argon2-hash', NULL, \
                     '2026-11-20 09:00:00', '2026-11-20 11:00:00');",
        );
    } else {
        sql.push_str(
            "INSERT INTO inbox_messages (id, source, kind, received_at) \
             VALUES ('0193a000-0000-7000-8000-000000000003', 'gateway', 'client.revoked', '2026-11-20 11:00:01');
             INSERT INTO revoked_clients (client_id, revoked_at) VALUES ('client-1', '2026-11-20 11:00:00');",
        );
    }
    sql
}

/// Every row of the tables `old_rows` fills, as text.
fn rows(db: &mut Db, service: &str) -> Vec<String> {
    let mut tables: Vec<(&str, &[&str])> = vec![
        (
            "idempotency_keys",
            &["client_id", "idem_key", "request_hash", "status_code", "response_body", "locked_until", "created_at"],
        ),
        (
            "outbox_messages",
            &[
                "id",
                "destination",
                "kind",
                "payload",
                "created_at",
                "attempts",
                "next_attempt_at",
                "delivered_at",
                "last_error",
            ],
        ),
    ];
    if service == "gateway" {
        tables.push((
            "api_clients",
            &["id", "name", "role", "scopes", "secret_hash", "created_by", "created_at", "revoked_at"],
        ));
    } else {
        tables.push(("inbox_messages", &["id", "source", "kind", "received_at"]));
        tables.push(("revoked_clients", &["client_id", "revoked_at"]));
    }
    let mut all = Vec::new();
    for (table, columns) in tables {
        let line = columns
            .iter()
            .map(|c| format!("coalesce(CAST({c} AS TEXT), '<null>')"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        all.extend(db.lines(&format!("SELECT '{table}|' || {line} AS line FROM {table} ORDER BY 1")));
    }
    all
}

/// How PostgreSQL stored a payload written now (lz4, or none where the server has no
/// lz4): the same in an upgraded database as in a fresh one.
fn new_payload_compression(db: &mut Db, payload: &str) -> Option<String> {
    if db.backend() != Backend::Postgres {
        return None;
    }
    db.execute(&format!(
        "INSERT INTO outbox_messages (id, destination, kind, payload, created_at, next_attempt_at) \
         VALUES ('0193a000-0000-7000-8000-0000000000ff', 'settlement', 'test.new', '{payload}', \
                 '2026-11-21 10:00:00', '2026-11-21 10:00:00')"
    ));
    let compression = db.lines(
        "SELECT coalesce(pg_column_compression(payload), 'none') AS line FROM outbox_messages \
         WHERE id = '0193a000-0000-7000-8000-0000000000ff'",
    );
    db.execute("DELETE FROM outbox_messages WHERE id = '0193a000-0000-7000-8000-0000000000ff'");
    compression.into_iter().next()
}

async fn databases_of_the_previous_platform_migrations_upgrade_without_loss(backend: Backend) {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/migrations-acdf3d7").join(match backend {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        });
    let payload = chunk_payload();
    let old = TestEnv::unmigrated(backend);
    let fresh = TestEnv::new(backend);
    tokio::task::block_in_place(|| {
        let mut before = Vec::new();
        for service in SERVICES {
            let mut db = Db::open(&old, backend, service);
            let tree = FileBasedMigrations::from_path(fixtures.join(service)).unwrap();
            match &mut db {
                Db::Pg(c) => c.run_pending_migrations(tree).map(|_| ()),
                Db::Sqlite(c) => c.run_pending_migrations(tree).map(|_| ()),
            }
            .unwrap_or_else(|e| panic!("old migrations of {service}: {e}"));
            db.execute(&old_rows(service, &payload));
            before.push(rows(&mut db, service));
        }

        migrate(&old);
        migrate(&fresh);

        for (service, before) in SERVICES.iter().zip(before) {
            let mut upgraded = Db::open(&old, backend, service);
            let mut new = Db::open(&fresh, backend, service);
            let after = rows(&mut upgraded, service);
            assert_eq!(after.len(), if *service == "gateway" { 5 } else { 6 }, "{service}");
            assert!(after.iter().any(|l| l.contains(&payload)), "{service}: the waiting payload is gone");
            assert_same(&format!("rows of {service}"), &before, &after);

            let upgraded_schema = upgraded.schema();
            let new_schema = new.schema();
            let names = |s: &[(String, Vec<String>)]| s.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
            assert_same(&format!("tables of {service}"), &names(&new_schema), &names(&upgraded_schema));
            for ((table, expected), (_, got)) in new_schema.iter().zip(&upgraded_schema) {
                assert_same(&format!("{table} of {service}, upgraded against fresh"), expected, got);
            }
            assert_same(
                &format!("applied migrations of {service}"),
                &new.applied_versions(),
                &upgraded.applied_versions(),
            );
            assert_eq!(
                new_payload_compression(&mut upgraded, &payload),
                new_payload_compression(&mut new, &payload),
                "{service}: a new payload is not stored as in a fresh database"
            );
        }
    });

    // The upgraded databases are current for the services too (what /readyz asks).
    let app = TestApp::spawn_with(old).await;
    for service in SERVICES {
        let r = app.http.get(format!("{}/readyz", app.ops(service))).send().await.unwrap();
        assert_eq!(r.status(), 200, "{service}: {}", r.text().await.unwrap_or_default());
    }
}
