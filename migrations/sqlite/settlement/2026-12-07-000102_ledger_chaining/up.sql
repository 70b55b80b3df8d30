-- Posting no longer waits for the county's chain; see the PostgreSQL tree. SQLite
-- cannot drop NOT NULL, so the table is made again with the same rows (entries and
-- subsidies refer to it by name: their foreign keys are checked at the commit).
PRAGMA defer_foreign_keys = ON;
DROP TRIGGER ledger_transactions_no_update;
DROP TRIGGER ledger_transactions_no_delete;
CREATE TABLE ledger_transactions_chained (
    id TEXT PRIMARY KEY,
    county_code TEXT NOT NULL,
    seq BIGINT,
    year INTEGER NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    prev_hash TEXT,
    hash TEXT,
    CONSTRAINT ledger_transactions_seq UNIQUE (county_code, seq),
    CONSTRAINT ledger_transactions_reference UNIQUE (county_code, kind, reference),
    CONSTRAINT ledger_transactions_link
        CHECK ((seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL))
);
INSERT INTO ledger_transactions_chained (id, county_code, seq, year, kind, reference, created_at, prev_hash, hash)
    SELECT id, county_code, seq, year, kind, reference, created_at, prev_hash, hash FROM ledger_transactions;
DROP TABLE ledger_transactions;
ALTER TABLE ledger_transactions_chained RENAME TO ledger_transactions;
CREATE INDEX ledger_transactions_unchained ON ledger_transactions (county_code, id) WHERE seq IS NULL;

-- Rows still never change, but for the one change that chains an unchained row.
CREATE TRIGGER ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
WHEN NOT (OLD.seq IS NULL AND NEW.seq IS NOT NULL
    AND NEW.id = OLD.id AND NEW.county_code = OLD.county_code AND NEW.year = OLD.year
    AND NEW.kind = OLD.kind AND NEW.reference = OLD.reference AND NEW.created_at = OLD.created_at)
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on ledger_transactions refused');
END;
CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: DELETE on ledger_transactions refused');
END;
