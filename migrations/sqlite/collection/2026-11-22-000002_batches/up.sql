
-- Batches of enrollee records submitted by a county office.
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    county_code TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    submitted_at TIMESTAMP
);
CREATE INDEX batches_county ON batches (county_code, id);
