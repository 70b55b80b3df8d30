-- Verified records waiting to be sent to card making for registration (see the
-- PostgreSQL migration of the same name).
CREATE TABLE registrations_due (
    record_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL
);
