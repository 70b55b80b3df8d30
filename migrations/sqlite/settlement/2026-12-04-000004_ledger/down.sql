DROP TABLE fund_subsidies;
DROP TABLE ledger_heads;
DROP TABLE ledger_entries;
DROP TABLE ledger_transactions;
