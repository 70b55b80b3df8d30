-- Nothing to do: SQLite compares text byte by byte already and rewrites a row on every
-- update whatever its indexes (it updates only the indexes whose columns changed), so
-- the index on (batch_id, state, id) stays. Kept so that both trees have the same
-- versions (see the PostgreSQL migration of the same name).
SELECT 1;
