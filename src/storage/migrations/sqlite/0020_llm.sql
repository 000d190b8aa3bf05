-- 0020 llm (SQLite): the optional LLM providers of changelog drafts (D2, D3;
-- src/changes/llm_service.h).
--
-- llm_settings: at most one row per tenant, its provider configuration.
-- provider 'none' keeps drafts to the rules. The API key is never stored in
-- plaintext: api_key_env is an envelope of secrets_seal (purpose
-- "llm.api_key", record id "llm_settings"), api_key_hint its last
-- characters (C3). Budgets and limits are checked in C as well
-- (llm_service.c). Times are INTEGER Unix seconds.
--
-- llm_calls: one row per call attempt (a request sent, or refused before it
-- was sent: budget, configuration) with what it cost and how it ended —
-- never the prompt or the answer. The month's usage for the budget is the
-- sum of tokens_in + tokens_out of the rows since the month's start (UTC).
-- estimated = 1: the provider reported no usage (a timeout, a malformed
-- answer), so the worst case was counted. id: 32 hex digits, time first.

CREATE TABLE llm_settings (
    tenant_id            TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    provider             TEXT NOT NULL CHECK (provider IN ('none', 'anthropic', 'openai')),
    base_url             TEXT NOT NULL CHECK (length(CAST(base_url AS BLOB)) <= 512),
    model                TEXT NOT NULL CHECK (length(CAST(model AS BLOB)) <= 128),
    monthly_token_budget INTEGER NOT NULL CHECK (monthly_token_budget BETWEEN 0 AND 1000000000),
    max_output_tokens    INTEGER NOT NULL CHECK (max_output_tokens BETWEEN 1 AND 4096),
    api_key_env          BLOB,
    api_key_hint         TEXT NOT NULL DEFAULT '',
    updated_at           INTEGER NOT NULL,
    updated_by           TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE llm_calls (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL CHECK (length(id) = 32),
    at         INTEGER NOT NULL,
    operation  TEXT NOT NULL CHECK (operation IN ('draft')),
    provider   TEXT NOT NULL CHECK (provider IN ('anthropic', 'openai')),
    model      TEXT NOT NULL CHECK (length(CAST(model AS BLOB)) <= 128),
    tokens_in  INTEGER NOT NULL CHECK (tokens_in >= 0),
    tokens_out INTEGER NOT NULL CHECK (tokens_out >= 0),
    estimated  INTEGER NOT NULL CHECK (estimated IN (0, 1)),
    latency_ms INTEGER NOT NULL CHECK (latency_ms >= 0),
    outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'http_error', 'timeout', 'unavailable',
                                                'refused', 'malformed', 'budget_exhausted',
                                                'not_configured')),
    http_status INTEGER,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

-- the month's usage and the newest-first listing
CREATE INDEX llm_calls_at ON llm_calls (tenant_id, at, id);
