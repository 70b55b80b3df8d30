DROP TABLE claim_reviews;
DROP INDEX claims_institution;
DROP INDEX claims_person_discharged;
