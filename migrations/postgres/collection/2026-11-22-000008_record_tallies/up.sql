-- A batch's counts per state, kept as insert-only deltas by the statements that move
-- records, instead of aggregating the batch's records on every read of the batch
-- (2.6 s for a 1,000,000-record batch, and its long snapshot held back the pruning
-- that heap-only state changes rely on). See src/collection/tallies.rs.
--
-- `previous_state_at` is written by every state change (the time the record entered
-- the state it leaves) so that the statement can return it: PostgreSQL 15's RETURNING
-- gives new values only. It is not indexed, so state changes stay heap-only.
ALTER TABLE records ADD COLUMN previous_state_at TIMESTAMP;

CREATE TABLE record_tallies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    -- The second the counted records entered the state.
    entered_at TIMESTAMP NOT NULL,
    records BIGINT NOT NULL
);
CREATE INDEX record_tallies_batch ON record_tallies (batch_id);

-- The records already stored: live ones only (the current upload of their part).
INSERT INTO record_tallies (batch_id, state, entered_at, records)
SELECT r.batch_id, r.state, date_trunc('second', r.state_changed_at), count(*)
FROM records r
JOIN parts p ON p.batch_id = r.batch_id AND p.part_no = r.part_no AND p.upload_id = r.upload_id
GROUP BY 1, 2, 3;
