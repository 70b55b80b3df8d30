DROP TABLE revoked_clients;
DROP TABLE inbox_messages;
DROP TABLE outbox_messages;
DROP TABLE idempotency_keys;
