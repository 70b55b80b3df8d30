-- This migration first created idempotency_keys and outbox_messages as well. They now
-- come from the platform tree (migrations/<backend>/platform), which runs before this
-- tree: on a fresh database they exist before this runs. A database that applied the
-- longer text keeps those tables and the platform tree adopts them (its statements
-- are idempotent), so both end with the same schema. Changing an applied migration's
-- text is safe here only because diesel never runs it again and the tables it no
-- longer creates are created, identically, elsewhere.

-- API clients: credentials (argon2 hash of the secret), role and scopes.
CREATE TABLE api_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
