-- 0004 tenant secrets (SQLite): the generic encrypted secret store (C1, C3).
--
-- envelope is an AES-256-GCM envelope (crypto/aead.h) sealed with a key
-- derived from the tenant's data key, which lives in the key vault, never
-- here (docs/KEYS.md). hint holds at most the last four characters, for
-- display (C3). Isolation by construction (T3): every statement binds the
-- transaction's tenant as $1.
CREATE TABLE tenant_secrets (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    purpose    TEXT NOT NULL CHECK (length(purpose) BETWEEN 1 AND 64),
    envelope   BLOB NOT NULL,
    hint       TEXT NOT NULL DEFAULT '' CHECK (length(hint) <= 4),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (tenant_id, name)
) STRICT, WITHOUT ROWID;
