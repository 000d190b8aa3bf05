-- 0024 llm (PostgreSQL): the optional LLM providers of changelog drafts (D2,
-- D3; src/changes/llm_service.h).
--
-- llm_settings: at most one row per tenant, its provider configuration.
-- provider 'none' keeps drafts to the rules. The API key is never stored in
-- plaintext: api_key_env is an envelope of secrets_seal (purpose
-- "llm.api_key", record id "llm_settings"), api_key_hint its last
-- characters (C3). Times are bigint Unix seconds.
--
-- llm_calls: one row per call attempt (a request sent, or refused before it
-- was sent: budget, configuration) with what it cost and how it ended —
-- never the prompt or the answer. The month's usage for the budget is the
-- sum of tokens_in + tokens_out of the rows since the month's start (UTC).
-- estimated: the provider reported no usage (a timeout, a malformed
-- answer), so the worst case was counted. id: 32 hex digits, time first.
--
-- Ordinary business tables: tenant_id first in the primary key, ENABLE +
-- FORCE ROW LEVEL SECURITY, a tenant policy and a maintenance policy, DML
-- grants to shiplog_app (the call log: no UPDATE, no DELETE — it is a
-- record; rows go with their tenant).

CREATE TABLE llm_settings (
    tenant_id            uuid NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    provider             text NOT NULL CHECK (provider IN ('none', 'anthropic', 'openai')),
    base_url             text NOT NULL CHECK (octet_length(base_url) <= 512),
    model                text NOT NULL CHECK (octet_length(model) <= 128),
    monthly_token_budget bigint NOT NULL CHECK (monthly_token_budget BETWEEN 0 AND 1000000000),
    max_output_tokens    bigint NOT NULL CHECK (max_output_tokens BETWEEN 1 AND 4096),
    api_key_env          bytea,
    api_key_hint         text NOT NULL DEFAULT '',
    updated_at           bigint NOT NULL,
    updated_by           text NOT NULL
);

CREATE TABLE llm_calls (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          text NOT NULL CHECK (length(id) = 32),
    at          bigint NOT NULL,
    operation   text NOT NULL CHECK (operation IN ('draft')),
    provider    text NOT NULL CHECK (provider IN ('anthropic', 'openai')),
    model       text NOT NULL CHECK (octet_length(model) <= 128),
    tokens_in   bigint NOT NULL CHECK (tokens_in >= 0),
    tokens_out  bigint NOT NULL CHECK (tokens_out >= 0),
    estimated   smallint NOT NULL CHECK (estimated IN (0, 1)),
    latency_ms  bigint NOT NULL CHECK (latency_ms >= 0),
    outcome     text NOT NULL CHECK (outcome IN ('ok', 'http_error', 'timeout', 'unavailable',
                                                 'refused', 'malformed', 'budget_exhausted',
                                                 'not_configured')),
    http_status integer,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX llm_calls_at ON llm_calls (tenant_id, at, id);

ALTER TABLE llm_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY llm_settings_isolation ON llm_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY llm_settings_maintenance ON llm_settings TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON llm_settings FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON llm_settings TO shiplog_app;

ALTER TABLE llm_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY llm_calls_isolation ON llm_calls
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY llm_calls_maintenance ON llm_calls TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON llm_calls FROM PUBLIC;
GRANT SELECT, INSERT ON llm_calls TO shiplog_app;
