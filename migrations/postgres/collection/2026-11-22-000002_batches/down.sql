DROP TABLE batches;
