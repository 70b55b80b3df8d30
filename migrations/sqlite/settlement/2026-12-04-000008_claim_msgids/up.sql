-- Message ids a clinic sent a settled claim again under: they answer as the first
-- message does (5203 finds the settlement, 2601 cancels it).
CREATE TABLE claim_msgids (
    clinic TEXT NOT NULL,
    msgid TEXT NOT NULL,
    setl_id TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic, msgid)
);
