-- Which card maker (by its scope code) makes the cards of a county.
CREATE TABLE card_assignments (
    county_code TEXT PRIMARY KEY,
    card_maker TEXT NOT NULL,
    assigned_by TEXT NOT NULL,
    assigned_at TIMESTAMP NOT NULL
);

-- The provincial resident master index: one entry per citizen (keyed hash of the ID),
-- with the record it was registered from.
CREATE TABLE residents (
    id_hash TEXT PRIMARY KEY,
    county_code TEXT NOT NULL,
    village TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    record_version INTEGER NOT NULL,
    fields_enc TEXT NOT NULL,
    registered_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Card orders. A lease sets lease_id, card_maker and leased_until; an expired lease
-- puts the order back to 'ordered' but keeps lease_id, so a late result of that lease
-- is still taken until another lease takes the order. The row is rewritten at every
-- step, so the card's fields (the wide part) live apart in card_order_fields.
CREATE TABLE card_orders (
    id TEXT PRIMARY KEY,
    id_hash TEXT NOT NULL,
    record_id TEXT NOT NULL,
    record_version INTEGER NOT NULL,
    county_code TEXT NOT NULL,
    village TEXT NOT NULL,
    replaces_card TEXT,
    state TEXT NOT NULL,
    card_maker TEXT,
    lease_id TEXT,
    leased_until TIMESTAMP,
    lease_count INTEGER NOT NULL,
    failure_code TEXT,
    failure_message TEXT,
    created_at TIMESTAMP NOT NULL,
    state_changed_at TIMESTAMP NOT NULL
);
-- The queue, oldest first: a lease walks it in id order and stops after `limit`
-- orders of its counties.
CREATE INDEX card_orders_queue ON card_orders (id) WHERE state = 'ordered';
CREATE INDEX card_orders_expiry ON card_orders (leased_until) WHERE state = 'leased';
-- At most one open order per resident.
CREATE UNIQUE INDEX card_orders_open ON card_orders (id_hash) WHERE state IN ('ordered', 'leased');

-- What each order's card carries (CardFields, encrypted), written once.
CREATE TABLE card_order_fields (
    order_id TEXT PRIMARY KEY,
    fields_enc TEXT NOT NULL
);

-- Leases handed to card makers.
CREATE TABLE card_leases (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    order_count INTEGER NOT NULL,
    leased_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- Made cards; card_no is the bank number (PAN).
CREATE TABLE cards (
    card_no TEXT PRIMARY KEY,
    chip_serial TEXT NOT NULL,
    order_id TEXT NOT NULL UNIQUE,
    id_hash TEXT NOT NULL,
    record_id TEXT NOT NULL,
    record_version INTEGER NOT NULL,
    county_code TEXT NOT NULL,
    card_maker TEXT NOT NULL,
    state TEXT NOT NULL,
    -- The client that reported the card made: the first event of every card, kept
    -- here rather than as an event row (a million cards a run).
    produced_by TEXT NOT NULL,
    produced_at TIMESTAMP NOT NULL,
    state_changed_at TIMESTAMP NOT NULL
);
CREATE INDEX cards_holder ON cards (id_hash, produced_at);
-- One resident holds at most one live card.
CREATE UNIQUE INDEX cards_live ON cards (id_hash) WHERE state IN ('produced', 'issued', 'activated', 'reported_lost');

-- Every transition of every card: who, when, from what.
CREATE TABLE card_events (
    id TEXT PRIMARY KEY,
    card_no TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT,
    actor TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX card_events_card ON card_events (card_no, at);

-- Append-only: every read of personal data by a card maker, clinic or auditor.
CREATE TABLE access_log (
    id TEXT PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    client_id TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
