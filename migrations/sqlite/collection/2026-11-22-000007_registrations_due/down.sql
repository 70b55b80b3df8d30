DROP TABLE registrations_due;
