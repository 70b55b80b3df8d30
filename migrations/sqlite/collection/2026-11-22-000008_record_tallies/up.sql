-- A batch's counts per state as insert-only deltas (see the PostgreSQL migration of
-- the same name and src/collection/tallies.rs).
ALTER TABLE records ADD COLUMN previous_state_at TIMESTAMP;

CREATE TABLE record_tallies (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    state TEXT NOT NULL,
    entered_at TIMESTAMP NOT NULL,
    records BIGINT NOT NULL
);
CREATE INDEX record_tallies_batch ON record_tallies (batch_id);

INSERT INTO record_tallies (batch_id, state, entered_at, records)
SELECT r.batch_id, r.state, strftime('%Y-%m-%d %H:%M:%S', r.state_changed_at), count(*)
FROM records r
JOIN parts p ON p.batch_id = r.batch_id AND p.part_no = r.part_no AND p.upload_id = r.upload_id
GROUP BY 1, 2, 3;
