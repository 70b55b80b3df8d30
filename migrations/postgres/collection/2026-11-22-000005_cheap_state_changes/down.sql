ALTER TABLE record_cards ALTER COLUMN record_id TYPE TEXT COLLATE "default";
ALTER TABLE record_versions ALTER COLUMN record_id TYPE TEXT COLLATE "default";
ALTER TABLE batches
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN county_code TYPE TEXT COLLATE "default";
ALTER TABLE parts
    ALTER COLUMN batch_id TYPE TEXT COLLATE "default",
    ALTER COLUMN upload_id TYPE TEXT COLLATE "default";

ALTER TABLE records RENAME TO records_after_000005;
ALTER INDEX records_pkey RENAME TO records_after_000005_pkey;
DROP INDEX records_batch_row;
DROP INDEX records_batch;
DROP INDEX records_upload;
DROP INDEX records_id_hash;
DROP INDEX records_ncms;

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
INSERT INTO records (id, batch_id, part_no, upload_id, row_no, county_code, village, version, state, id_hash,
                     id_enc, id_masked, name, sex, birth_date, ethnicity, ncms_number, submitted_enc, issues,
                     warnings, reasons, created_at, state_changed_at)
SELECT id, batch_id, part_no, upload_id, row_no, county_code, village, version, state, id_hash,
       id_enc, id_masked, name, sex, birth_date, ethnicity, ncms_number, submitted_enc, issues,
       warnings, reasons, created_at, state_changed_at
FROM records_after_000005;
DROP TABLE records_after_000005;
CREATE INDEX records_batch_row ON records (batch_id, part_no, row_no);
CREATE INDEX records_batch_state ON records (batch_id, state, id);
CREATE INDEX records_upload ON records (upload_id);
CREATE INDEX records_id_hash ON records (id_hash);
CREATE INDEX records_ncms ON records (county_code, ncms_number);
