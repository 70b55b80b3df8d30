-- This migration first created idempotency_keys, outbox_messages and inbox_messages
-- as well. They now come from the platform tree (migrations/<backend>/platform),
-- which runs before this tree: on a fresh database they exist before this runs. A
-- database that applied the longer text keeps those tables and the platform tree
-- adopts them (its statements are idempotent), so both end with the same schema.
-- Changing an applied migration's text is safe here only because diesel never runs
-- it again and the tables it no longer creates are created, identically, elsewhere.

-- API clients revoked at the gateway: their tokens are refused here too. Every
-- service but the gateway keeps this table; the gateway's own record of a revocation
-- is api_clients.revoked_at, so it is not a platform table.
CREATE TABLE revoked_clients (
    client_id TEXT PRIMARY KEY,
    revoked_at TIMESTAMP NOT NULL
);
