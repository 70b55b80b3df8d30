-- PostgreSQL only (hash indexes for the duplicate checks); SQLite keeps its B-trees.
SELECT 1;
