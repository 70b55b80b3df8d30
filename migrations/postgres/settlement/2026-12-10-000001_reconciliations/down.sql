DROP INDEX claims_clinic_created;
DROP TABLE reconciliation_rows;
DROP TABLE reconciliation_differences;
DROP TABLE reconciliations;
