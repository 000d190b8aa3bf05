-- vault 0001 (SQLite): tenant data keys, kept apart from the data in their own
-- file (<data dir>/keyvault.db). See the PostgreSQL twin and docs/KEYS.md.
CREATE TABLE tenant_keys (
    tenant_id     TEXT NOT NULL,
    dek_id        TEXT NOT NULL CHECK (length(dek_id) = 16 AND dek_id NOT GLOB '*[^0-9a-f]*'),
    master_key_id TEXT NOT NULL
                       CHECK (length(master_key_id) = 16 AND master_key_id NOT GLOB '*[^0-9a-f]*'),
    wrapped       BLOB NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    rewrapped_at  TEXT,
    PRIMARY KEY (tenant_id, dek_id)
) STRICT;
