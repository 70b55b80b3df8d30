-- The compression belongs to the platform tree's migration; reverting this one leaves it.
SELECT 1;
