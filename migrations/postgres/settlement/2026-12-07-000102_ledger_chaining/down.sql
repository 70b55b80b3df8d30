-- Only possible once every transaction is chained.
DROP TRIGGER ledger_transactions_append_only ON ledger_transactions;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP FUNCTION ledger_transactions_guard();
DROP INDEX ledger_transactions_unchained;
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_link;
ALTER TABLE ledger_transactions
    ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL;
