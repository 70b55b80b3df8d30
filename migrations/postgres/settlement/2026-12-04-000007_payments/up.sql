-- Every answer a bank gave to a payment instruction, one row per attempt: a retried
-- instruction keeps the answers to its earlier envelopes, so that a repeat of any of
-- them is recognised as a repeat and never counted as another attempt.
CREATE TABLE payment_attempts (
    payment_id TEXT COLLATE "C" NOT NULL,
    seq INTEGER NOT NULL,
    envelope_id TEXT COLLATE "C" NOT NULL,
    card_no TEXT COLLATE "C" NOT NULL,
    outcome TEXT NOT NULL,
    failure_code TEXT,
    bank_reference TEXT NOT NULL,
    answered_at TIMESTAMP NOT NULL,
    PRIMARY KEY (payment_id, seq)
);
CREATE UNIQUE INDEX payment_attempts_envelope ON payment_attempts (payment_id, envelope_id);

-- Money owed back: a claim cancelled after its payment was paid. Settled once, by
-- collection or write-off.
CREATE TABLE payment_recoveries (
    payment_id TEXT COLLATE "C" PRIMARY KEY,
    setl_id TEXT COLLATE "C" NOT NULL,
    county_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    amount BIGINT NOT NULL,
    -- 'owed', then 'collected' or 'written_off'.
    state TEXT NOT NULL,
    reference TEXT,
    created_at TIMESTAMP NOT NULL,
    settled_by TEXT,
    settled_at TIMESTAMP
);
CREATE INDEX payment_recoveries_county ON payment_recoveries (county_code, payment_id);
