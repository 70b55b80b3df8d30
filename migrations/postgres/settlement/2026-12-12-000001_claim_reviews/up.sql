-- Fraud rules and the county's review of the claims they stop.

-- The rules read a person's claims around a new one (stays that overlap it, visits
-- of its day, visits with its dates): those discharged from the start of its day on.
CREATE INDEX claims_person_discharged ON claims (person_no, discharged_at);
-- The amount outlier rule reads an institution's totals of one med_type and level
-- over the last days.
CREATE INDEX claims_institution ON claims (clinic, med_type, level, created_at);

-- One row per claim a rule stopped: what fired, with its evidence (JSON, as the
-- claim answer shows it), and the county's decision, made once.
CREATE TABLE claim_reviews (
    setl_id TEXT COLLATE "C" PRIMARY KEY,
    county_code TEXT NOT NULL,
    -- 'pending', then 'approved' or 'rejected' by the county, or 'withdrawn' when
    -- the claim was cancelled first.
    state TEXT NOT NULL,
    flags TEXT NOT NULL,
    flagged_at TIMESTAMP NOT NULL,
    reason TEXT,
    decided_by TEXT,
    decided_at TIMESTAMP
);
-- A county's queue, oldest first (setl_id is time-ordered).
CREATE INDEX claim_reviews_queue ON claim_reviews (county_code, state, setl_id);
