-- Premium collection by batch debit: a run per county and year, its envelopes to the
-- county's bank (each with a header: count and total), and one instruction per person.

CREATE TABLE debit_runs (
    id TEXT PRIMARY KEY,
    county_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    premium BIGINT NOT NULL,
    policy_version INTEGER NOT NULL,
    instruction_count INTEGER NOT NULL,
    total BIGINT NOT NULL,
    envelope_count INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX debit_runs_county ON debit_runs (county_code, year);

-- An envelope's count and total change only while it was never pulled (an
-- instruction withdrawn); once pulled it never changes.
CREATE TABLE debit_envelopes (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    county_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    bank TEXT NOT NULL,
    instruction_count INTEGER NOT NULL,
    total BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    first_pulled_at TIMESTAMP
);
CREATE INDEX debit_envelopes_bank ON debit_envelopes (bank, id);

CREATE TABLE debit_instructions (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    county_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    person_no TEXT NOT NULL,
    card_no TEXT NOT NULL,
    amount BIGINT NOT NULL,
    state TEXT NOT NULL,
    failure_code TEXT,
    bank_reference TEXT,
    answered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
-- A person is asked for one year's premium at most once at a time, and never again
-- once it was collected.
CREATE UNIQUE INDEX debit_instructions_once ON debit_instructions (person_no, year) WHERE state IN ('pending', 'collected');
CREATE INDEX debit_instructions_envelope ON debit_instructions (envelope_id, id);
CREATE INDEX debit_instructions_card ON debit_instructions (card_no) WHERE state = 'pending';
CREATE INDEX debit_instructions_failed ON debit_instructions (run_id, id) WHERE state = 'failed';
