ALTER TABLE match_results
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN record_id TYPE TEXT COLLATE "default";
ALTER TABLE register_active ALTER COLUMN snapshot_id TYPE TEXT COLLATE "default";
ALTER TABLE register_entries
    ALTER COLUMN snapshot_id TYPE TEXT COLLATE "default",
    ALTER COLUMN id_hash TYPE TEXT COLLATE "default",
    ALTER COLUMN import_id TYPE TEXT COLLATE "default";
