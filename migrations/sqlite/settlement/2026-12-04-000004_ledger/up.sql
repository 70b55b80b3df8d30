-- The fund ledger: double-entry, append-only, hash-chained per county
-- (src/domain/ledger.rs has the sign convention and the canonical text). The same
-- schema as the PostgreSQL tree; see there for what each table is for.

CREATE TABLE ledger_transactions (
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

CREATE TABLE ledger_entries (
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    line INTEGER NOT NULL,
    county_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    account TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, line)
);
CREATE INDEX ledger_entries_balances ON ledger_entries (county_code, year, account);

CREATE TABLE ledger_heads (
    county_code TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE fund_subsidies (
    county_code TEXT NOT NULL,
    reference TEXT NOT NULL,
    year INTEGER NOT NULL,
    source TEXT NOT NULL,
    amount BIGINT NOT NULL,
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (county_code, reference)
);

-- Posted rows never change: a correction is a new transaction. (SQLite has no
-- TRUNCATE; a DELETE without WHERE fires these triggers too.)
CREATE TRIGGER ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on ledger_transactions refused');
END;
CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: DELETE on ledger_transactions refused');
END;
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on ledger_entries refused');
END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: DELETE on ledger_entries refused');
END;
