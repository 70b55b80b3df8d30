-- The verification feeder no longer rewrites every record it sends. A record still
-- `received` in a submitted batch is waiting for verification since the batch was
-- submitted, and is shown as `pending_verification` (see collection::repo::as_seen);
-- the batch's tallies move from `received` to `pending_verification` when it is
-- submitted. The feeder keeps its place in the batch here instead, one small update
-- per chunk sent, where it was an update of each of the chunk's 1,000 records: a
-- million heap-only updates per million records, half of all the write-ahead log of
-- the records' state changes (measured with pg_walinspect over a 1,000,000-record
-- pipeline: 2.0 million HOT updates, 1.26 GB of WAL, 1.07 GB of it full-page images).
ALTER TABLE batches ADD COLUMN fed_through TEXT COLLATE "C";

-- Batches submitted before this migration: the records not yet sent are `received`
-- in the tallies; they are pending now, since the submission.
INSERT INTO record_tallies (batch_id, state, entered_at, records)
SELECT t.batch_id, s.state, CASE s.state WHEN 'received' THEN t.entered_at ELSE date_trunc('second', b.submitted_at) END,
       CASE s.state WHEN 'received' THEN -sum(t.records) ELSE sum(t.records) END
FROM record_tallies t
JOIN batches b ON b.id = t.batch_id AND b.submitted_at IS NOT NULL
CROSS JOIN (VALUES ('received'), ('pending_verification')) AS s (state)
WHERE t.state = 'received'
GROUP BY t.batch_id, s.state, t.entered_at, b.submitted_at
HAVING sum(t.records) <> 0;
