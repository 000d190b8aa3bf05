-- 0022 outbound webhooks (PostgreSQL): W3, src/outbound/outbound.h, docs/OUTBOUND.md.
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
-- Times are bigint Unix seconds. Ordinary business tables: tenant_id first
-- in the primary key, RLS enabled and forced, a tenant policy and a
-- maintenance policy, DML grants to shiplog_app (the log is written by the
-- job runner; attempts are never changed). Deleting an endpoint deletes its log.

CREATE TABLE outbound_endpoints (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    url         text NOT NULL CHECK (octet_length(url) BETWEEN 8 AND 2048),
    description text NOT NULL CHECK (octet_length(description) <= 1000),
    secret_env  bytea NOT NULL,
    secret_hint text NOT NULL,
    created_at  bigint NOT NULL,
    created_by  uuid NOT NULL,
    rotated_at  bigint,
    disabled_at bigint,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE outbound_messages (
    tenant_id       uuid NOT NULL,
    id              text NOT NULL CHECK (length(id) = 36),
    endpoint_id     uuid NOT NULL,
    event_type      text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 128),
    payload         bytea NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text,
    next_attempt_at bigint,
    created_at      bigint NOT NULL,
    delivered_at    bigint,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES outbound_endpoints (tenant_id, id)
        ON DELETE CASCADE
);

-- an endpoint's log, newest first
CREATE INDEX outbound_messages_endpoint ON outbound_messages (tenant_id, endpoint_id, id);

CREATE TABLE outbound_attempts (
    tenant_id   uuid NOT NULL,
    message_id  text NOT NULL,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    at          bigint NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    http_status integer,
    error       text,
    latency_ms  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, message_id, attempt),
    FOREIGN KEY (tenant_id, message_id) REFERENCES outbound_messages (tenant_id, id)
        ON DELETE CASCADE
);

ALTER TABLE outbound_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbound_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY outbound_endpoints_isolation ON outbound_endpoints
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY outbound_endpoints_maintenance ON outbound_endpoints TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON outbound_endpoints FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbound_endpoints TO shiplog_app;

ALTER TABLE outbound_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbound_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY outbound_messages_isolation ON outbound_messages
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY outbound_messages_maintenance ON outbound_messages TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON outbound_messages FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbound_messages TO shiplog_app;

ALTER TABLE outbound_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbound_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY outbound_attempts_isolation ON outbound_attempts
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY outbound_attempts_maintenance ON outbound_attempts TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON outbound_attempts FROM PUBLIC;
-- attempts are a record: inserted, deleted with their message, never changed
GRANT SELECT, INSERT, DELETE ON outbound_attempts TO shiplog_app;
