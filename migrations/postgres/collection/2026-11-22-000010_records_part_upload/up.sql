-- The records of one upload of a part, by (batch_id, part_no, upload_id) instead of
-- (batch_id, part_no, row_no). Nothing reads records in row order through this index;
-- what uses it asks for the records of a part, of its current upload (the liveness
-- join, the tallies of a finished part) or of the uploads it replaced (their deletion).
-- Every record of an upload shares the key, so B-tree deduplication keeps one key and a
-- list of row pointers per page: a small index that a COPY of 100,000 records appends
-- to, where the row number made every entry distinct.
DROP INDEX records_batch_row;
CREATE INDEX records_part_upload ON records (batch_id, part_no, upload_id);
