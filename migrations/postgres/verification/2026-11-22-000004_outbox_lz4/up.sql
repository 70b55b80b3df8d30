-- Nothing to do any more: the outbox payload's compression (lz4 where the server has
-- it, otherwise none) moved to the platform tree, which runs before this tree, so
-- every service's outbox gets it. A database that applied the ALTER this migration
-- used to hold has exactly what the platform tree sets; one that had not gets it from
-- the platform tree before this runs. The version stays so that both trees keep the
-- same versions.
SELECT 1;
