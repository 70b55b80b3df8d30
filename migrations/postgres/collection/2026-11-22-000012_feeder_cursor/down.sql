ALTER TABLE batches DROP COLUMN fed_through;
