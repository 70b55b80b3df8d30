DROP TABLE payment_instructions; DROP TABLE payment_envelopes; DROP TABLE dead_msgids; DROP TABLE claims;
