-- Idempotency keys: the first response to (client, key) is kept and replayed.
CREATE TABLE idempotency_keys (
    client_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER,
    response_body TEXT,
    locked_until TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, idem_key)
);

-- Transactional outbox: written in the same transaction as the change that causes it.
CREATE TABLE outbox_messages (
    id TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX outbox_messages_due ON outbox_messages (next_attempt_at) WHERE delivered_at IS NULL;

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
