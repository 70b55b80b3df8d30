DROP TABLE eligibility_log; DROP TABLE cap_usage; DROP TABLE bank_assignments; DROP TABLE enrollments; DROP TABLE card_events; DROP TABLE cards; DROP TABLE persons;
