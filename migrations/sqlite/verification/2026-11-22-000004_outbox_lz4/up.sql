-- Nothing to do: SQLite does not compress. Kept so that both trees have the same
-- versions (see the PostgreSQL migration of the same name).
SELECT 1;
