DROP INDEX persons_village;
DROP INDEX claims_village;
