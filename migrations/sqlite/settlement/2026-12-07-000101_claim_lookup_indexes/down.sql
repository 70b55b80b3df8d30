CREATE INDEX debit_instructions_card ON debit_instructions (card_no) WHERE state = 'pending';
DROP INDEX debit_instructions_by_card;
DROP INDEX claims_admission;
CREATE UNIQUE INDEX claims_msgid ON claims (clinic, msgid);
DROP INDEX claims_by_msgid;
