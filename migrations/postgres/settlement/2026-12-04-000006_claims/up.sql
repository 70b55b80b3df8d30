-- Claims from clinics (settlements, and the negated records that cancel them), the
-- message ids a clinic reversed, and payment instructions onto patients' cards with
-- their envelopes to the bank.

CREATE TABLE claims (
    setl_id TEXT COLLATE "C" PRIMARY KEY,
    mdtrt_id TEXT COLLATE "C" NOT NULL,
    -- 'settlement', or 'cancel' for the negated record of a cancelled settlement.
    kind TEXT NOT NULL,
    cancels TEXT COLLATE "C",
    clinic TEXT NOT NULL,
    msgid TEXT COLLATE "C" NOT NULL,
    ipt_otp_no TEXT NOT NULL,
    -- SHA-256 of the request as the clinic sent it: the same key with another body
    -- is refused.
    request_hash TEXT NOT NULL,
    person_no TEXT COLLATE "C" NOT NULL,
    card_no TEXT COLLATE "C" NOT NULL,
    county_code TEXT NOT NULL,
    village TEXT NOT NULL,
    year INTEGER NOT NULL,
    med_type TEXT NOT NULL,
    care TEXT NOT NULL,
    level TEXT NOT NULL,
    admitted_at TIMESTAMP NOT NULL,
    discharged_at TIMESTAMP NOT NULL,
    confidential BOOLEAN NOT NULL,
    medfee_sumamt BIGINT NOT NULL,
    fulamt_ownpay_amt BIGINT NOT NULL,
    overlmt_selfpay BIGINT NOT NULL,
    preselfpay_amt BIGINT NOT NULL,
    inscp_scp_amt BIGINT NOT NULL,
    policy_version INTEGER NOT NULL,
    -- Every term of the computation, as JSON.
    terms TEXT NOT NULL,
    hifp_pay BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    payment_instruction_id TEXT COLLATE "C",
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- A cancelled settlement frees its admission number for the corrected one.
CREATE UNIQUE INDEX claims_key ON claims (clinic, ipt_otp_no) WHERE kind = 'settlement' AND state <> 'cancelled';
CREATE UNIQUE INDEX claims_msgid ON claims (clinic, msgid);
CREATE UNIQUE INDEX claims_cancels ON claims (cancels) WHERE cancels IS NOT NULL;
CREATE INDEX claims_person ON claims (person_no, year);
CREATE INDEX claims_county ON claims (county_code, created_at);

-- Message ids a clinic reversed before they arrived: a late arrival is refused.
CREATE TABLE dead_msgids (
    clinic TEXT NOT NULL,
    msgid TEXT COLLATE "C" NOT NULL,
    reversed_by TEXT NOT NULL,
    reversed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic, msgid)
);

CREATE TABLE payment_envelopes (
    id TEXT COLLATE "C" PRIMARY KEY,
    county_code TEXT NOT NULL,
    bank TEXT NOT NULL,
    instruction_count INTEGER NOT NULL,
    total BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    first_pulled_at TIMESTAMP
);
CREATE INDEX payment_envelopes_bank ON payment_envelopes (bank, id);

-- One instruction per approved claim with a reimbursement: the amount onto the
-- person's card. Not yet in an envelope while envelope_id is null.
CREATE TABLE payment_instructions (
    id TEXT COLLATE "C" PRIMARY KEY,
    setl_id TEXT COLLATE "C" NOT NULL UNIQUE,
    county_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    person_no TEXT COLLATE "C" NOT NULL,
    card_no TEXT COLLATE "C" NOT NULL,
    amount BIGINT NOT NULL,
    state TEXT NOT NULL,
    envelope_id TEXT COLLATE "C",
    attempts INTEGER NOT NULL,
    failure_code TEXT,
    bank_reference TEXT,
    answered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX payment_instructions_loose ON payment_instructions (county_code, id) WHERE state = 'pending' AND envelope_id IS NULL;
CREATE INDEX payment_instructions_envelope ON payment_instructions (envelope_id, id);
CREATE INDEX payment_instructions_action ON payment_instructions (county_code, id) WHERE state = 'needs_action';
