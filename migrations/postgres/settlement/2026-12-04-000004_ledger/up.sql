-- The fund ledger: double-entry, append-only, hash-chained per county
-- (src/domain/ledger.rs has the sign convention and the canonical text).

-- One row per movement. seq counts a county's transactions from 1 without gaps;
-- hash = chain_hash(prev_hash, canonical text), prev_hash being the hash of the
-- county's transaction seq - 1. (county_code, kind, reference) makes posting
-- idempotent.
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

-- The entries of a transaction, debit positive and credit negative, summing to zero.
-- county_code and year repeat the transaction's so balances are one indexed scan
-- (and county_code can be the distribution key of a sharded deployment).
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

-- The head of each county's chain. Posters lock this row, so the transactions of one
-- county get their seq and prev_hash one after another; it is a cache of the last
-- transaction, which `healthcard ledger check` compares with the chain.
CREATE TABLE ledger_heads (
    county_code TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

-- Government subsidies: what the request said, beside the transaction it posted, so a
-- repeated reference can be told apart from a reused one.
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

-- Posted rows never change: a correction is a new transaction. The service never
-- updates or deletes them, so these triggers only ever fire for a change made
-- behind its back.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
