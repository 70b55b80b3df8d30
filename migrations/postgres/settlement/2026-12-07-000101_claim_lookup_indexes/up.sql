-- Indexes that prepared statements keep using. After five runs PostgreSQL plans a
-- prepared statement generically and keeps that plan for the connection's life, or
-- until the table is analyzed again:
-- - a generic plan uses a partial index only when the query repeats the index's
--   condition word for word: with the kind and state as parameters, looking up a
--   clinic's admission number passed `claims_key` by and read every claim of the
--   clinic (4.8 ms instead of 0.03 ms at 2,700 claims);
-- - on a fresh, empty table every index costs the same, and a plan made then may use
--   one that matches only a leading `clinic` (a msgid lookup read all of the clinic's
--   claims, 1,285 buffers a call at 11,000 claims, until autovacuum's first analyze).
--   Each lookup therefore has one index whose leading column only it names: msgids are
--   unique on their own (the first 12 characters are the institution), and the
--   admission number leads its index.
-- The partial unique indexes stay: they refuse a second live settlement of one
-- admission, or a second pending debit of a person.
CREATE UNIQUE INDEX claims_by_msgid ON claims (msgid);
DROP INDEX claims_msgid;
CREATE INDEX claims_admission ON claims (ipt_otp_no, clinic);
CREATE INDEX debit_instructions_by_card ON debit_instructions (card_no);
DROP INDEX debit_instructions_card;
