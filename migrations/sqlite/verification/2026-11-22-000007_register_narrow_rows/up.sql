-- Nothing to do: SQLite keeps the register's text columns (see the PostgreSQL migration
-- of the same name). Kept so that both trees have the same versions.
SELECT 1;
