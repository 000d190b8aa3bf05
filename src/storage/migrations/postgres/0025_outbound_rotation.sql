-- 0025 outbound rotation grace (PostgreSQL): W3, src/outbound/outbound.h.
--
-- After a rotation of an endpoint's signing secret the old envelope moves to
-- previous_secret_env and signs too (a second v1 signature of Standard
-- Webhooks) until previous_valid_until (Unix seconds), so receivers switch
-- without a failed delivery. Both are set together or not at all. The table's
-- grants and row-level security (0022) cover the new columns.

ALTER TABLE outbound_endpoints
    ADD COLUMN previous_secret_env bytea,
    ADD COLUMN previous_valid_until bigint,
    ADD CONSTRAINT outbound_endpoints_previous
        CHECK ((previous_secret_env IS NULL) = (previous_valid_until IS NULL));
