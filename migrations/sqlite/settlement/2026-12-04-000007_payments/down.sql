DROP TABLE payment_recoveries;
DROP TABLE payment_attempts;
