-- 0006 mail outbox (SQLite): mail queued durably with the change that caused it (A11).
--
-- outbox_enqueue inserts into the caller's write transaction, so a row exists
-- exactly when that change commits. The sender claims due rows in a write
-- transaction of their tenant (SQLite makes it exclusive), leasing each row
-- by moving next_attempt_at forward before it delivers. Times are Unix
-- seconds. last_error is a short, secret-free reason for operators.

CREATE TABLE mail_outbox (
    tenant_id       TEXT NOT NULL CHECK (length(tenant_id) = 36),
    id              TEXT NOT NULL CHECK (length(id) = 32),
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    last_error      TEXT,
    sent_at         INTEGER,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

-- The sender's two questions: which tenants have due mail, and which rows.
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at, tenant_id);
