-- The verification feeder keeps its place in a batch here instead of rewriting every
-- record it sends (see the PostgreSQL migration of the same name).
ALTER TABLE batches ADD COLUMN fed_through TEXT;

INSERT INTO record_tallies (batch_id, state, entered_at, records)
SELECT t.batch_id, s.state,
       CASE s.state WHEN 'received' THEN t.entered_at ELSE strftime('%Y-%m-%d %H:%M:%S', b.submitted_at) END,
       CASE s.state WHEN 'received' THEN -sum(t.records) ELSE sum(t.records) END
FROM record_tallies t
JOIN batches b ON b.id = t.batch_id AND b.submitted_at IS NOT NULL
CROSS JOIN (SELECT 'received' AS state UNION ALL SELECT 'pending_verification') AS s
WHERE t.state = 'received'
GROUP BY t.batch_id, s.state, t.entered_at, b.submitted_at
HAVING sum(t.records) <> 0;
