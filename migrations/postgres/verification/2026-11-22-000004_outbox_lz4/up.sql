-- Outbox payloads are chunk messages of 100 to 250 KB of JSON, mostly ciphertext and
-- hashes that do not compress. PostgreSQL's default compression (pglz) spent about
-- 10 ms on each such payload before storing it uncompressed anyway (measured: 200
-- registration messages of 137 KB, 1.99 s with pglz, 0.56 s with lz4 and a third
-- smaller). lz4 where the server has it; otherwise no compression at all.
DO $$
BEGIN
    ALTER TABLE outbox_messages ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    ALTER TABLE outbox_messages ALTER COLUMN payload SET STORAGE EXTERNAL;
END
$$;
