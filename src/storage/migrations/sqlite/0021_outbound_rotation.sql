-- 0021 outbound rotation grace (SQLite): W3, src/outbound/outbound.h.
--
-- After a rotation of an endpoint's signing secret the old envelope moves to
-- previous_secret_env and signs too (a second v1 signature of Standard
-- Webhooks) until previous_valid_until (Unix seconds), so receivers switch
-- without a failed delivery. Both are set together or not at all.

ALTER TABLE outbound_endpoints ADD COLUMN previous_secret_env BLOB;
ALTER TABLE outbound_endpoints ADD COLUMN previous_valid_until INTEGER
    CHECK ((previous_secret_env IS NULL) = (previous_valid_until IS NULL));
