-- The parts of a batch; upload_id names the upload whose records are the part now.
-- A new upload of the same part stages its records under a new upload_id and takes
-- over in one transaction when the whole body has been read.
CREATE TABLE parts (
    batch_id TEXT NOT NULL,
    part_no INTEGER NOT NULL,
    upload_id TEXT NOT NULL,
    received BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    errors TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (batch_id, part_no)
);

-- Enrollee records, the current version of each. The citizen ID is stored encrypted
-- (id_enc) with a keyed hash (id_hash) for lookups; the record as submitted is kept
-- encrypted (submitted_enc).
CREATE TABLE records (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    part_no INTEGER NOT NULL,
    upload_id TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    county_code TEXT NOT NULL,
    village TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    id_hash TEXT,
    id_enc TEXT,
    id_masked TEXT,
    name TEXT NOT NULL,
    sex TEXT,
    birth_date DATE,
    ethnicity TEXT,
    ncms_number TEXT,
    submitted_enc TEXT NOT NULL,
    issues TEXT NOT NULL,
    warnings TEXT NOT NULL,
    reasons TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    state_changed_at TIMESTAMP NOT NULL
);
CREATE INDEX records_batch_row ON records (batch_id, part_no, row_no);
CREATE INDEX records_batch_state ON records (batch_id, state, id);
CREATE INDEX records_upload ON records (upload_id);
CREATE INDEX records_id_hash ON records (id_hash);
CREATE INDEX records_ncms ON records (county_code, ncms_number);

-- Earlier versions of corrected records, with their outcome.
CREATE TABLE record_versions (
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    submitted_enc TEXT NOT NULL,
    issues TEXT NOT NULL,
    warnings TEXT NOT NULL,
    reasons TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    superseded_at TIMESTAMP NOT NULL,
    superseded_by TEXT NOT NULL,
    PRIMARY KEY (record_id, version)
);
