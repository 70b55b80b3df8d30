DROP TABLE api_clients;
DROP TABLE outbox_messages;
DROP TABLE idempotency_keys;
