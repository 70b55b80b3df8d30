-- Verified records waiting for registration, an entry per verification outcome (see
-- the PostgreSQL migration of the same name).
CREATE TABLE registration_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- JSON: [["<record id>", <version>], ...]
    records TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL
);

INSERT INTO registration_queue (records, due_at)
SELECT json_group_array(json_array(record_id, version)), min(due_at)
FROM (SELECT record_id, version, due_at, (row_number() OVER (ORDER BY record_id) - 1) / 1000 AS entry
      FROM registrations_due ORDER BY record_id)
GROUP BY entry
ORDER BY entry;

DROP TABLE registrations_due;
