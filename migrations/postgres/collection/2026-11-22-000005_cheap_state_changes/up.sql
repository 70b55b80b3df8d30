-- Cheap state changes. A record changes state three times on its way through the
-- pipeline (received -> pending_verification -> verified -> registered), and each change
-- used to write a whole new ~850-byte row plus an entry in each of the six indexes,
-- because `state` was indexed (records_batch_state): PostgreSQL cannot update a row "in
-- place" (HOT) when an indexed column changes. Measured on 200,000 records: those three
-- UPDATEs were about 116 s of PostgreSQL time out of a 59 s run on two cores.
--
-- Now:
-- * no index holds `state`, `reasons` or `state_changed_at`, so a state change is a
--   heap-only update: no index entry is written;
-- * the table keeps half of each page free (fillfactor 50) so that the new versions of
--   all the rows of a page fit on the page within one statement (a chunk's UPDATE
--   touches consecutive records); later reads prune the old versions without VACUUM;
-- * the columns that change with the state come last, so that the WAL record of an
--   update on the same page holds only the changed tail (PostgreSQL logs the new row
--   minus the prefix it shares with the old one);
-- * the feeder reads a batch's records by (batch_id, id) and checks the state per row;
-- * the index on upload_id goes (a failed upload's rows are found by batch and part),
--   one index less for every stored record;
-- * key columns are compared byte by byte (COLLATE "C"), as in the other services:
--   they hold UUIDs, hex hashes, codes and states, which sort the same either way, and
--   with the linguistic collation every index comparison went through strcoll. The
--   columns joined with `parts` follow, since PostgreSQL refuses to compare text of
--   two different implicit collations.
--
-- The table is rebuilt to get the new column order; its data is kept.
ALTER TABLE records RENAME TO records_before_000005;
ALTER INDEX records_pkey RENAME TO records_before_000005_pkey;
DROP INDEX records_batch_row;
DROP INDEX records_batch_state;
DROP INDEX records_upload;
DROP INDEX records_id_hash;
DROP INDEX records_ncms;

CREATE TABLE records (
    id TEXT COLLATE "C" NOT NULL,
    batch_id TEXT COLLATE "C" NOT NULL,
    part_no INTEGER NOT NULL,
    upload_id TEXT COLLATE "C" NOT NULL,
    row_no BIGINT NOT NULL,
    county_code TEXT COLLATE "C" NOT NULL,
    village TEXT NOT NULL,
    version INTEGER NOT NULL,
    id_hash TEXT COLLATE "C",
    id_enc TEXT,
    id_masked TEXT,
    name TEXT NOT NULL,
    sex TEXT,
    birth_date DATE,
    ethnicity TEXT,
    ncms_number TEXT COLLATE "C",
    submitted_enc TEXT NOT NULL,
    issues TEXT NOT NULL,
    warnings TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- What a state change writes.
    state TEXT COLLATE "C" NOT NULL,
    reasons TEXT NOT NULL,
    state_changed_at TIMESTAMP NOT NULL
) WITH (fillfactor = 50);

INSERT INTO records (id, batch_id, part_no, upload_id, row_no, county_code, village, version, id_hash, id_enc,
                     id_masked, name, sex, birth_date, ethnicity, ncms_number, submitted_enc, issues, warnings,
                     created_at, state, reasons, state_changed_at)
SELECT id, batch_id, part_no, upload_id, row_no, county_code, village, version, id_hash, id_enc,
       id_masked, name, sex, birth_date, ethnicity, ncms_number, submitted_enc, issues, warnings,
       created_at, state, reasons, state_changed_at
FROM records_before_000005;
DROP TABLE records_before_000005;

ALTER TABLE records ADD CONSTRAINT records_pkey PRIMARY KEY (id);
CREATE INDEX records_batch_row ON records (batch_id, part_no, row_no);
CREATE INDEX records_batch ON records (batch_id, id);
CREATE INDEX records_id_hash ON records (id_hash);
CREATE INDEX records_ncms ON records (county_code, ncms_number);

ALTER TABLE parts
    ALTER COLUMN batch_id TYPE TEXT COLLATE "C",
    ALTER COLUMN upload_id TYPE TEXT COLLATE "C";
ALTER TABLE batches
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN county_code TYPE TEXT COLLATE "C";
ALTER TABLE record_versions ALTER COLUMN record_id TYPE TEXT COLLATE "C";
ALTER TABLE record_cards ALTER COLUMN record_id TYPE TEXT COLLATE "C";
