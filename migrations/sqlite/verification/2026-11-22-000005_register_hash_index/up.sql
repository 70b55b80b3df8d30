-- Nothing to do: SQLite has no hash indexes, and its primary key on (snapshot_id,
-- id_hash, import_id, row_no) serves the lookup. Kept so that both trees have the same
-- versions (see the PostgreSQL migration of the same name).
SELECT 1;
