-- Verified records waiting to be sent to card making for registration. Applying a
-- verification outcome queues the records it verified, in the same transaction; the
-- registration feeder takes them off a round at a time, writing the registration
-- messages to the outbox in the same transaction. Registration (decrypting, checking
-- and encrypting each record's card fields) thus no longer runs while the outcomes of
-- a chunk are applied, so the county sees outcomes at verification's pace.
CREATE TABLE registrations_due (
    record_id TEXT COLLATE "C" PRIMARY KEY,
    version INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL
);
-- Records verified before this migration and not yet registered were sent when they
-- were verified: nothing to queue.
