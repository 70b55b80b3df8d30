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

-- Inbox: ids of messages already applied, recorded in the same transaction as the effect.
CREATE TABLE inbox_messages (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);

-- API clients revoked at the gateway: their tokens are refused here too.
CREATE TABLE revoked_clients (
    client_id TEXT PRIMARY KEY,
    revoked_at TIMESTAMP NOT NULL
);
