CREATE TABLE registrations_due (
    record_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL
);
INSERT OR IGNORE INTO registrations_due (record_id, version, due_at)
SELECT json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'), q.due_at
FROM registration_queue q, json_each(q.records) e;
DROP TABLE registration_queue;
