DROP TABLE inbox_messages;
DROP TABLE outbox_messages;
DROP TABLE idempotency_keys;
