CREATE TABLE registrations_due (
    record_id TEXT COLLATE "C" PRIMARY KEY,
    version INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL
);
INSERT INTO registrations_due (record_id, version, due_at)
SELECT e ->> 0, (e ->> 1)::integer, q.due_at
FROM registration_queue q, json_array_elements(q.records::json) e
ON CONFLICT (record_id) DO NOTHING;
DROP TABLE registration_queue;
