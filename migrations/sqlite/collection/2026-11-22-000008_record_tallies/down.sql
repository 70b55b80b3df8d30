DROP TABLE record_tallies;
ALTER TABLE records DROP COLUMN previous_state_at;
