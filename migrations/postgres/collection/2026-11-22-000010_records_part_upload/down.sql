DROP INDEX records_part_upload;
CREATE INDEX records_batch_row ON records (batch_id, part_no, row_no);
