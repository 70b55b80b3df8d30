ALTER TABLE register_entries RENAME TO register_entries_v7;

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

DO $$
DECLARE
    part TEXT;
    indexed BOOLEAN;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'register_entries_v7'::regclass LOOP
        indexed := to_regclass(part || '_id_key') IS NOT NULL;
        EXECUTE format('ALTER TABLE %I RENAME TO %I', part, part || '_v7');
        EXECUTE format('ALTER INDEX IF EXISTS %I RENAME TO %I', part || '_id_key', part || '_v7_id_key');
        EXECUTE format('CREATE TABLE %I PARTITION OF register_entries FOR VALUES IN (%L)',
                       part, substr(part, length('register_part_') + 1)::uuid::text);
        EXECUTE format('INSERT INTO %I SELECT snapshot_id::text, encode(id_hash, ''hex''), import_id::text, row_no, '
                       'translate(encode(id_enc, ''base64''), E''\n'', ''''), name, sex, birth_date, ethnicity, '
                       'address, household_number, status FROM %I', part, part || '_v7');
        IF indexed THEN
            EXECUTE format('CREATE INDEX %I ON %I ((hashtextextended(id_hash, 0)))', part || '_id_key', part);
        END IF;
    END LOOP;
END $$;

DROP TABLE register_entries_v7;
