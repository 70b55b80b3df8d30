DROP TABLE claim_msgids;
