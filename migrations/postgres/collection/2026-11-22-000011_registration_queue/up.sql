-- Verified records waiting for registration, queued a verification outcome at a time:
-- one entry holds the (record id, version) pairs that one outcome message verified,
-- as a JSON array, instead of one row per record. Queuing a 1,000-record outcome is
-- then one small insert, where it was 1,000 entries of a text primary key (about 8 s
-- of PostgreSQL's time, a tenth of its work after the uploads, in a 1,000,000-record
-- pipeline), and the feeder takes an entry off with one delete. The feeder sends an
-- entry's records in one round, as it sent up to 1,000 per round before.
CREATE TABLE registration_queue (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- JSON: [["<record id>", <version>], ...]
    records TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL
);

-- What was queued moves over, 1,000 records an entry.
INSERT INTO registration_queue (records, due_at)
SELECT json_agg(json_build_array(record_id, version) ORDER BY record_id)::text, min(due_at)
FROM (SELECT record_id, version, due_at, (row_number() OVER (ORDER BY record_id) - 1) / 1000 AS entry
      FROM registrations_due) d
GROUP BY entry
ORDER BY entry;

DROP TABLE registrations_due;
