-- Byte-order ("C") collation for the register's and the match results' key columns.
-- They hold UUIDs and hex hashes, which sort the same either way; with the database's
-- linguistic collation every index comparison went through strcoll, and inserting a
-- register snapshot took about twice as long (measured: 500,000 rows, 7.3 s -> 3.9 s).
-- register_active.snapshot_id follows, because it is joined with register_entries and
-- PostgreSQL refuses to compare text of two different implicit collations.
ALTER TABLE register_entries
    ALTER COLUMN snapshot_id TYPE TEXT COLLATE "C",
    ALTER COLUMN id_hash TYPE TEXT COLLATE "C",
    ALTER COLUMN import_id TYPE TEXT COLLATE "C";
ALTER TABLE register_active ALTER COLUMN snapshot_id TYPE TEXT COLLATE "C";
ALTER TABLE match_results
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN record_id TYPE TEXT COLLATE "C";
