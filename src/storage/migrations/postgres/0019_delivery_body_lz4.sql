-- 0019 delivery body lz4 (PostgreSQL): a webhook delivery's redacted body is
-- stored packed with LZ4 (src/core/pack.h, src/ingest/store.h).
--
-- body becomes bytea and body_encoding says how to read it: 'lz4' (a 4-byte
-- little-endian length, then one LZ4 block) or 'identity' (the body's own
-- UTF-8 bytes: rows from before this migration, and bodies that packing
-- would not shorten). The server packs on the request's thread, so the
-- database neither receives nor writes the full text. STORAGE EXTERNAL:
-- TOAST no longer tries its own compression on values already packed.
-- Changing the type rewrites the table in the migration's transaction.

ALTER TABLE webhook_deliveries
    ALTER COLUMN body TYPE bytea USING convert_to(body, 'UTF8'),
    ALTER COLUMN body SET STORAGE EXTERNAL,
    ADD COLUMN body_encoding text NOT NULL DEFAULT 'identity'
        CHECK (body_encoding IN ('identity', 'lz4'));
ALTER TABLE webhook_deliveries ALTER COLUMN body_encoding DROP DEFAULT;
