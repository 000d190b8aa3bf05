-- 0017 delivery body lz4 (SQLite): a webhook delivery's redacted body is
-- stored packed with LZ4 (src/core/pack.h, src/ingest/store.h).
--
-- body becomes a BLOB and body_encoding says how to read it: 'lz4' (a 4-byte
-- little-endian length, then one LZ4 block) or 'identity' (the body's own
-- UTF-8 bytes: rows from before this migration, and bodies that packing
-- would not shorten). Packed, a typical 10 KB payload takes 2-3 KB and its
-- row fits in one page instead of spilling onto three overflow pages, each
-- of which was written to the write-ahead log and again to the database.
--
-- A STRICT table's column type cannot change in place: the table is built
-- again with the same columns, constraints and index, and its rows copied
-- (no other table refers to it).

CREATE TABLE webhook_deliveries_new (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             TEXT NOT NULL CHECK (length(id) = 32),
    integration_id TEXT NOT NULL CHECK (length(CAST(integration_id AS BLOB)) BETWEEN 1 AND 64),
    provider       TEXT NOT NULL CHECK (provider IN ('github', 'gitlab', 'bitbucket',
                                                     'bitbucket-server', 'azure-devops')),
    delivery_key   TEXT NOT NULL CHECK (length(CAST(delivery_key AS BLOB)) BETWEEN 1 AND 128),
    event          TEXT NOT NULL CHECK (length(CAST(event AS BLOB)) BETWEEN 1 AND 64),
    received_at    INTEGER NOT NULL,
    body           BLOB NOT NULL,
    body_encoding  TEXT NOT NULL CHECK (body_encoding IN ('identity', 'lz4')),
    body_bytes     INTEGER NOT NULL CHECK (body_bytes >= 0),
    status         TEXT NOT NULL DEFAULT 'accepted'
                   CHECK (status IN ('accepted', 'processed', 'ignored', 'failed', 'dead')),
    error          TEXT CHECK (error IS NULL OR length(CAST(error AS BLOB)) <= 200),
    processed_at   INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, integration_id, delivery_key)
) STRICT;

INSERT INTO webhook_deliveries_new (tenant_id, id, integration_id, provider, delivery_key, event,
                                    received_at, body, body_encoding, body_bytes, status, error,
                                    processed_at)
SELECT tenant_id, id, integration_id, provider, delivery_key, event, received_at,
       CAST(body AS BLOB), 'identity', body_bytes, status, error, processed_at
FROM webhook_deliveries;

DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_new RENAME TO webhook_deliveries;

-- Recent deliveries first (listing), and the retention purge (as in 0012).
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (tenant_id, received_at, id);
