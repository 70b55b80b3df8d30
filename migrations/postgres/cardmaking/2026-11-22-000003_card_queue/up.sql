-- The queue moves out of card_orders. A lease and a result then change no indexed
-- column of an order, so PostgreSQL rewrites the row in place (a HOT update: no new
-- entry in any index, least of all the random-keyed one on the citizen hash); the
-- spare room left on each page is what makes that possible.
CREATE TABLE card_queue (
    order_id TEXT COLLATE "C" PRIMARY KEY,
    county_code TEXT NOT NULL
);
INSERT INTO card_queue (order_id, county_code) SELECT id, county_code FROM card_orders WHERE state = 'ordered';

DROP INDEX card_orders_queue;
DROP INDEX card_orders_expiry;
-- One open order per resident is kept by the resident's row lock (every path that
-- opens an order takes it first), not by an index the state would keep rewriting.
DROP INDEX card_orders_open;
CREATE INDEX card_orders_resident ON card_orders (id_hash);
ALTER TABLE card_orders SET (fillfactor = 30);

-- A lease keeps the orders it handed out; when it expires, those still unanswered go
-- back to the queue and the lease is closed.
ALTER TABLE card_leases ADD COLUMN order_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE card_leases ADD COLUMN closed_at TIMESTAMP;
UPDATE card_leases SET order_ids = held.ids
  FROM (SELECT lease_id, string_agg(id, ',' ORDER BY id) AS ids FROM card_orders WHERE state = 'leased' GROUP BY lease_id) held
 WHERE held.lease_id = card_leases.id;
UPDATE card_leases SET closed_at = expires_at WHERE order_ids = '';
CREATE INDEX card_leases_open ON card_leases (expires_at) WHERE closed_at IS NULL;

-- A resident's cards are found through their orders (card_orders_resident, then
-- cards.order_id); the live one through cards_live.
DROP INDEX cards_holder;
