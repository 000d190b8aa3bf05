-- 0002 maintenance (SQLite): nothing to do. On PostgreSQL this migration lets
-- operator commands see every tenant; SQLite has no row-level security, and
-- the numbering stays aligned across dialects.
SELECT 1;
