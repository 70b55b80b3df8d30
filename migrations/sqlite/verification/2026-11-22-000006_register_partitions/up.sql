-- Nothing to do: SQLite has no partitions; its primary key on (snapshot_id, id_hash,
-- import_id, row_no) serves the lookup and the deletion of a snapshot's rows. Kept so
-- that both trees have the same versions (see the PostgreSQL migration of the same name).
SELECT 1;
