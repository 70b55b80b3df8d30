-- The tables every service shares (the outbox, the inbox and idempotency keys), one
-- definition for all five databases. This tree runs before the service's own tree.
--
-- A fresh database gets the tables here. A database made before this tree existed
-- already has them from its service's 2026-11-22-000001_platform (same columns and
-- index; the gateway had no inbox), so every statement is idempotent: it adopts what
-- exists and brings it to the form below without rewriting a row. A fresh and an
-- upgraded database thus end with the same schema (tests/api/platform_schema.rs
-- checks it).
--
-- The table bodies are written as the old copies were, so that an adopted table and a
-- created one cannot differ.

-- Idempotency keys: the first response to (client, key) is kept and replayed.
CREATE TABLE IF NOT EXISTS idempotency_keys (
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
CREATE TABLE IF NOT EXISTS outbox_messages (
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
-- The dispatcher claims undelivered messages in next_attempt_at order; the backlog
-- gauges and the producers' hold-back count undelivered messages. Delivered ones are
-- kept, so the index covers only the undelivered.
CREATE INDEX IF NOT EXISTS outbox_messages_due ON outbox_messages (next_attempt_at) WHERE delivered_at IS NULL;

-- SQLite does not compress values: nothing corresponds to the PostgreSQL tree's
-- payload compression.

-- Inbox: ids of messages already applied, recorded in the same transaction as the effect.
-- The gateway receives no messages yet; it has the table so that every service speaks
-- the same message protocol on the same schema.
CREATE TABLE IF NOT EXISTS inbox_messages (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
