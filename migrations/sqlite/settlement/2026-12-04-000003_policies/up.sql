-- Reimbursement policies, one row per version of a county's policy for a year
-- (DOMAIN.md section 5). Versions are never changed or deleted: a claim records the
-- version it was computed with, so every version must stay readable. The primary key
-- is what keeps two concurrent publications from taking the same version number.
CREATE TABLE policy_versions (
    county_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    -- The version is in force for dates on and after this one, until the next one.
    effective_from DATE NOT NULL,
    -- The validated terms as JSON (domain::policy::Policy), amounts in fen, ratios in
    -- basis points: its shape changes with the scheme's rules, its versions never do.
    terms TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT policy_versions_pkey PRIMARY KEY (county_code, year, version)
);
