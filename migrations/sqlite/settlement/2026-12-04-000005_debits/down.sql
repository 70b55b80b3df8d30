DROP TABLE debit_instructions; DROP TABLE debit_envelopes; DROP TABLE debit_runs;
