-- Nothing to do: SQLite compares text byte by byte already. Kept so that both trees
-- have the same versions (see the PostgreSQL migration of the same name).
SELECT 1;
