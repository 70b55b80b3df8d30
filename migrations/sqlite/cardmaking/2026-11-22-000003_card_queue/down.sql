CREATE INDEX cards_holder ON cards (id_hash, produced_at);
DROP INDEX card_leases_open;
ALTER TABLE card_leases DROP COLUMN closed_at;
ALTER TABLE card_leases DROP COLUMN order_ids;
DROP INDEX card_orders_resident;
CREATE UNIQUE INDEX card_orders_open ON card_orders (id_hash) WHERE state IN ('ordered', 'leased');
CREATE INDEX card_orders_expiry ON card_orders (leased_until) WHERE state = 'leased';
CREATE INDEX card_orders_queue ON card_orders (id) WHERE state = 'ordered';
DROP TABLE card_queue;
