DROP INDEX register_entries_snapshot;
DROP INDEX register_entries_id_hash;
ALTER TABLE register_entries ADD PRIMARY KEY (snapshot_id, id_hash, import_id, row_no);
