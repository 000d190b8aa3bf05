-- 0001 init (SQLite): tenants and the first tenant-scoped business table.
--
-- SQLite has no row-level security: isolation is by construction (T3), every
-- statement reaching the database binds the transaction's tenant as $1. Every
-- business table carries tenant_id and its primary key starts with it
-- (DESIGN §8), so tenant-scoped lookups are index prefixes.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE tenant_settings (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT, WITHOUT ROWID;
