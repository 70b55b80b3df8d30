DROP TABLE access_log;
DROP TABLE card_events;
DROP TABLE cards;
DROP TABLE card_leases;
DROP TABLE card_order_fields;
DROP TABLE card_orders;
DROP TABLE residents;
DROP TABLE card_assignments;
