DROP INDEX records_id_hash;
DROP INDEX records_ncms;
CREATE INDEX records_id_hash ON records (id_hash);
CREATE INDEX records_ncms ON records (county_code, ncms_number);
