-- 0019 outbound webhooks (SQLite): W3, src/outbound/outbound.h, docs/OUTBOUND.md.
--
-- outbound_endpoints: where a tenant wants its events POSTed. id is a
-- version-4 UUID. url is http(s) without userinfo, checked at registration
-- (net/httpc.h). The Standard Webhooks signing secret ("whsec_" + base64 of
-- 32 random bytes) is never stored in plaintext: secret_env is an envelope of
-- secrets_seal (purpose "outbound.secret", record id = id), secret_hint its
-- last characters. disabled_at set = no new messages for it.
--
-- outbound_messages: one row per event per endpoint (the delivery log):
-- payload is the exact bytes sent every attempt, id ("msg_" + 32 hex,
-- time-sortable) is its webhook-id. status pending -> delivered, or failed
-- (an attempt failed, another follows at next_attempt_at) -> ... -> dead
-- (no attempt follows). last_status is the HTTP status of the last attempt
-- (NULL when none arrived), last_error a short secret-free reason.
--
-- outbound_attempts: every attempt's outcome, numbered from 1.
--
-- Times are INTEGER Unix seconds. Isolation by construction (T3): every
-- statement binds the tenant as $1; primary keys start with tenant_id.
-- Deleting an endpoint deletes its log.

CREATE TABLE outbound_endpoints (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL CHECK (length(id) = 36),
    url         TEXT NOT NULL CHECK (length(CAST(url AS BLOB)) BETWEEN 8 AND 2048),
    description TEXT NOT NULL CHECK (length(CAST(description AS BLOB)) <= 1000),
    secret_env  BLOB NOT NULL,
    secret_hint TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL CHECK (length(created_by) = 36),
    rotated_at  INTEGER,
    disabled_at INTEGER,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE outbound_messages (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL CHECK (length(id) = 36),
    endpoint_id     TEXT NOT NULL,
    event_type      TEXT NOT NULL CHECK (length(event_type) BETWEEN 1 AND 128),
    payload         BLOB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES outbound_endpoints (tenant_id, id)
        ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- an endpoint's log, newest first
CREATE INDEX outbound_messages_endpoint ON outbound_messages (tenant_id, endpoint_id, id);

CREATE TABLE outbound_attempts (
    tenant_id   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    http_status INTEGER,
    error       TEXT,
    latency_ms  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, message_id, attempt),
    FOREIGN KEY (tenant_id, message_id) REFERENCES outbound_messages (tenant_id, id)
        ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
