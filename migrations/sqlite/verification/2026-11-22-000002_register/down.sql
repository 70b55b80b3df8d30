DROP TABLE match_results;
DROP TABLE register_entries;
DROP TABLE register_active;
DROP TABLE register_import_errors;
DROP TABLE register_imports;
