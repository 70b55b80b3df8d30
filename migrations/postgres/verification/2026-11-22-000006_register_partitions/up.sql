-- The register, partitioned by snapshot: each import writes into a partition of its
-- own (rows of a snapshot stay there; a delta's rows move into the active snapshot's
-- partition when it is applied, and its emptied partition is dropped).
--
-- Why: an import loads its partition with no index at all and indexes it once, in bulk,
-- when the whole body has been read. Inserting five million rows into one live hash
-- index placed every row's index entry on a random page of an index larger than the
-- server's cache, and that was most of an import's time. A superseded snapshot or a
-- failed import is then dropped as a table instead of deleted row by row.
--
-- The parent has no index: a partitioned index would force one onto a partition while
-- it loads. Each partition gets its index when its import is applied: a B-tree on a
-- 64-bit hash of id_hash (smaller and three times faster to build than a hash index on
-- id_hash; look-ups compare id_hash as well);
-- matching reads the active snapshot's partition only (partition pruning on
-- snapshot_id), so a partition still loading is never scanned.
ALTER TABLE register_entries RENAME TO register_entries_single;
DROP INDEX register_entries_id_hash;
DROP INDEX register_entries_snapshot;

CREATE TABLE register_entries (
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
) PARTITION BY LIST (snapshot_id);

-- Rows already stored move into a partition per snapshot, named as the service names
-- them: register_part_ and the import id without its dashes.
DO $$
DECLARE
    snapshot TEXT;
    part TEXT;
BEGIN
    FOR snapshot IN SELECT DISTINCT snapshot_id FROM register_entries_single LOOP
        part := 'register_part_' || replace(snapshot, '-', '');
        EXECUTE format('CREATE TABLE %I PARTITION OF register_entries FOR VALUES IN (%L)', part, snapshot);
        EXECUTE format('INSERT INTO %I SELECT * FROM register_entries_single WHERE snapshot_id = %L', part, snapshot);
        EXECUTE format('CREATE INDEX %I ON %I ((hashtextextended(id_hash, 0)))', part || '_id_key', part);
    END LOOP;
END $$;

DROP TABLE register_entries_single;
