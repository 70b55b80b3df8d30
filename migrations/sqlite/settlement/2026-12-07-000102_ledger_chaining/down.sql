-- Only possible once every transaction is chained.
PRAGMA defer_foreign_keys = ON;
DROP TRIGGER ledger_transactions_no_update;
DROP TRIGGER ledger_transactions_no_delete;
CREATE TABLE ledger_transactions_unchained (
    id TEXT PRIMARY KEY,
    county_code TEXT NOT NULL,
    seq BIGINT NOT NULL,
    year INTEGER NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    CONSTRAINT ledger_transactions_seq UNIQUE (county_code, seq),
    CONSTRAINT ledger_transactions_reference UNIQUE (county_code, kind, reference)
);
INSERT INTO ledger_transactions_unchained (id, county_code, seq, year, kind, reference, created_at, prev_hash, hash)
    SELECT id, county_code, seq, year, kind, reference, created_at, prev_hash, hash FROM ledger_transactions;
DROP TABLE ledger_transactions;
ALTER TABLE ledger_transactions_unchained RENAME TO ledger_transactions;
CREATE TRIGGER ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on ledger_transactions refused');
END;
CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: DELETE on ledger_transactions refused');
END;
