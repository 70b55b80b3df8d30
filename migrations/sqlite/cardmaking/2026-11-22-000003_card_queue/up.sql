-- The queue moves out of card_orders (see the PostgreSQL migration for why).
CREATE TABLE card_queue (
    order_id TEXT PRIMARY KEY,
    county_code TEXT NOT NULL
);
INSERT INTO card_queue (order_id, county_code) SELECT id, county_code FROM card_orders WHERE state = 'ordered';

DROP INDEX card_orders_queue;
DROP INDEX card_orders_expiry;
-- One open order per resident: SQLite has one writer at a time, and every path that
-- opens an order checks first.
DROP INDEX card_orders_open;
CREATE INDEX card_orders_resident ON card_orders (id_hash);

ALTER TABLE card_leases ADD COLUMN order_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE card_leases ADD COLUMN closed_at TIMESTAMP;
UPDATE card_leases SET order_ids = COALESCE(
    (SELECT group_concat(id, ',') FROM (SELECT id FROM card_orders
      WHERE card_orders.state = 'leased' AND card_orders.lease_id = card_leases.id ORDER BY id)), '');
UPDATE card_leases SET closed_at = expires_at WHERE order_ids = '';
CREATE INDEX card_leases_open ON card_leases (expires_at) WHERE closed_at IS NULL;

DROP INDEX cards_holder;
