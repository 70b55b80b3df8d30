-- Public disclosure reads a village's claims of one month, and asks whether anyone
-- of a county lives in a village.
CREATE INDEX claims_village ON claims (county_code, village, admitted_at);
CREATE INDEX persons_village ON persons (county_code, village);
