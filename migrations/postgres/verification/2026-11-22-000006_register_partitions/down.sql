CREATE TABLE register_entries_single (
    snapshot_id TEXT COLLATE "C" NOT NULL,
    id_hash TEXT COLLATE "C" NOT NULL,
    import_id TEXT COLLATE "C" NOT NULL,
    row_no BIGINT NOT NULL,
    id_enc TEXT NOT NULL,
    name TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date DATE NOT NULL,
    ethnicity TEXT NOT NULL,
    address TEXT NOT NULL,
    household_number TEXT,
    status TEXT NOT NULL
);
INSERT INTO register_entries_single SELECT * FROM register_entries;
DROP TABLE register_entries;
ALTER TABLE register_entries_single RENAME TO register_entries;
CREATE INDEX register_entries_id_hash ON register_entries USING hash (id_hash);
CREATE INDEX register_entries_snapshot ON register_entries (snapshot_id);
