DROP TABLE record_versions;
DROP TABLE records;
DROP TABLE parts;
