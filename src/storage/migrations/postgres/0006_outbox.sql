-- 0006 mail outbox: written by the outbox module's author (placeholder during development)
SELECT 1;
