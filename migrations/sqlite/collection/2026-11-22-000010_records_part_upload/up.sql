-- Nothing to do: SQLite's records indexes are its own (see the PostgreSQL migration of
-- the same name). Kept so that both trees have the same versions.
SELECT 1;
