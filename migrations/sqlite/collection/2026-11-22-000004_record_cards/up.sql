-- The card of each registered record as card making reports it: the order, and the
-- order's or card's latest state.
CREATE TABLE record_cards (
    record_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    card_state TEXT NOT NULL,
    card_state_at TIMESTAMP NOT NULL
);
