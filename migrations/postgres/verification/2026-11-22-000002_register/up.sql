-- Imports of the household register: full snapshots and deltas, as uploaded by the
-- registry admin. state: receiving -> applied | failed; a snapshot replaced by a later
-- one becomes superseded (its rows are deleted by the cleanup).
CREATE TABLE register_imports (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    content_type TEXT NOT NULL,
    rows_total BIGINT NOT NULL DEFAULT 0,
    rows_inserted BIGINT NOT NULL DEFAULT 0,
    rows_updated BIGINT NOT NULL DEFAULT 0,
    rows_invalid BIGINT NOT NULL DEFAULT 0,
    failure_code TEXT,
    failure_reason TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

-- The first 1,000 row errors of an import, in the order they were found.
CREATE TABLE register_import_errors (
    import_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    row_no BIGINT NOT NULL,
    field TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (import_id, seq)
);

-- The one snapshot matching reads (a single row, switched in one transaction).
CREATE TABLE register_active (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    snapshot_id TEXT NOT NULL,
    activated_at TIMESTAMP NOT NULL
);

-- Register rows. snapshot_id is the id of the snapshot import the row belongs to; rows
-- of a snapshot (or of a delta) still being received carry their own import's id and
-- are invisible to matching until activated. The citizen ID is kept only as its keyed
-- hash and encrypted. The same id_hash may appear twice (register_duplicate).
CREATE TABLE register_entries (
    snapshot_id TEXT NOT NULL,
    id_hash TEXT NOT NULL,
    import_id TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    id_enc TEXT NOT NULL,
    name TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date DATE NOT NULL,
    ethnicity TEXT NOT NULL,
    address TEXT NOT NULL,
    household_number TEXT,
    status TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, id_hash, import_id, row_no)
);

-- Every match of a record version against the register, for audit.
CREATE TABLE match_results (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    batch_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reasons TEXT NOT NULL,
    snapshot_id TEXT NOT NULL,
    matched_at TIMESTAMP NOT NULL
);
CREATE INDEX match_results_record ON match_results (record_id, id);
