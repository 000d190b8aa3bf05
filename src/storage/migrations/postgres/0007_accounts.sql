-- 0007 accounts: written by the accounts module's author (placeholder during development)
SELECT 1;
