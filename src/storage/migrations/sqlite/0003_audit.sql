-- 0003 audit (SQLite): the tamper-evident audit trail (L1-L5, docs/AUDIT.md).
--
-- audit_log holds one hash chain per tenant; audit_heads the last seq and hash
-- of each chain (appends read and advance it inside the caller's write
-- transaction, which SQLite makes exclusive, so the chain never forks);
-- audit_checkpoints the signed heads. Text columns hold exactly the bytes that
-- were hashed ("at" is RFC 3339 text, not a date type, so it round-trips).
-- The database refuses UPDATE and DELETE on the log and the checkpoints (L3).

CREATE TABLE audit_log (
    tenant_id  TEXT NOT NULL CHECK (length(tenant_id) = 36),
    seq        INTEGER NOT NULL CHECK (seq > 0),
    at         TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    client_ip  TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_heads (
    tenant_id TEXT PRIMARY KEY NOT NULL CHECK (length(tenant_id) = 36),
    seq       INTEGER NOT NULL CHECK (seq >= 0),
    hash      TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_checkpoints (
    tenant_id  TEXT NOT NULL CHECK (length(tenant_id) = 36),
    seq        INTEGER NOT NULL CHECK (seq > 0),
    hash       TEXT NOT NULL,
    at         TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
