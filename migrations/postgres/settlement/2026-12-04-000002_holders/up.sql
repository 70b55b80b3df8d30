-- Card holders as settlement knows them: one person per citizen, keyed by the keyed
-- hash of the citizen ID (no citizen ID is stored here), with the cards they held.

-- psn_no is our person number, shown to clinics instead of the citizen ID.
CREATE TABLE persons (
    person_no TEXT COLLATE "C" PRIMARY KEY,
    id_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    county_code TEXT NOT NULL,
    village TEXT NOT NULL,
    name_masked TEXT NOT NULL,
    name_enc TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date DATE NOT NULL,
    -- The newest live card, the one enrollment lists and debits show.
    card_no TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Every card settlement has heard of; seq is the number of the last status message
-- applied (they count from 1 per card and are applied in that order).
CREATE TABLE cards (
    card_no TEXT COLLATE "C" PRIMARY KEY,
    person_no TEXT COLLATE "C" NOT NULL,
    county_code TEXT NOT NULL,
    state TEXT NOT NULL,
    seq BIGINT NOT NULL,
    replaces_card TEXT COLLATE "C",
    first_activated_at TIMESTAMP,
    lost_at TIMESTAMP,
    state_changed_at TIMESTAMP NOT NULL
);
CREATE INDEX cards_person ON cards (person_no);

CREATE TABLE card_events (
    card_no TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (card_no, seq)
);

-- Enrollment per person and year; paid when the premium was collected.
CREATE TABLE enrollments (
    person_no TEXT COLLATE "C" NOT NULL,
    year INTEGER NOT NULL,
    county_code TEXT NOT NULL,
    village TEXT NOT NULL,
    enrolled_by TEXT NOT NULL,
    enrolled_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    paid_amount BIGINT,
    paid_by TEXT COLLATE "C",
    PRIMARY KEY (person_no, year)
);
CREATE INDEX enrollments_county ON enrollments (county_code, year, person_no);

-- Reimbursement used per person, year and kind of care (inpatient, outpatient,
-- chronic): what the caps are measured against. Claims add to it.
CREATE TABLE cap_usage (
    person_no TEXT COLLATE "C" NOT NULL,
    year INTEGER NOT NULL,
    care TEXT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (person_no, year, care)
);

-- Which bank collects and pays for a county.
CREATE TABLE bank_assignments (
    county_code TEXT PRIMARY KEY,
    bank TEXT NOT NULL,
    assigned_by TEXT NOT NULL,
    assigned_at TIMESTAMP NOT NULL
);

-- Append-only: every eligibility lookup (who, which card, why, when).
CREATE TABLE eligibility_log (
    id TEXT COLLATE "C" PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    client_id TEXT NOT NULL,
    role TEXT NOT NULL,
    card_no TEXT NOT NULL,
    purpose TEXT NOT NULL,
    on_date DATE NOT NULL,
    eligible BOOLEAN NOT NULL
);
