-- 0021 changelog (PostgreSQL): changelog entries — the drafts made from merged
-- changes, their review and their publication — and every version of their
-- text (D1, D2, D4, D5; src/changes/entries.h).
--
-- changelog_entries: one row per change (a merged pull/merge request or a
-- direct push to the default branch), unique by the change's stable id
-- (source_id, "provider:pr:..." or "provider:commit:..." of
-- ingest/normalize.h), so a later delivery about the same change finds its
-- entry. The current text is in the row (title, body, category, audience,
-- labels) and is also the row of changelog_versions numbered version.
-- status moves draft -> in_review -> approved | rejected; approved ->
-- published (or scheduled -> published); an edit of a rejected or approved
-- entry sends it back to draft (entries.h says who may do what).
-- human_edited: a person has edited the text; regeneration then never
-- replaces it (D4), and only records its suggestion as a version.
-- reviewers: a JSON array of user ids. Entries of a deleted repository go
-- with its activity (R2).
--
-- changelog_versions: every text the entry ever had, numbered from 1, with
-- who wrote it (a user id, or the provider for generated text) and when.
-- kind: 'generated' (the system's text, current when written), 'edit' (a
-- person's), 'suggestion' (a regeneration that left a human edit in place).
--
-- Times are bigint Unix seconds from the caller. Ordinary business tables:
-- RLS enabled and forced, a tenant policy and a maintenance policy; the app
-- role may not delete entries (they go with their repository or tenant).

CREATE TABLE changelog_entries (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            text NOT NULL CHECK (length(id) = 32),
    source_id     text NOT NULL CHECK (octet_length(source_id) BETWEEN 1 AND 256),
    source_kind   text NOT NULL CHECK (source_kind IN ('pr', 'push')),
    repo_id       text NOT NULL,
    source_number bigint,
    source_url    text,
    impact        text NOT NULL CHECK (impact IN ('breaking', 'security', 'feature', 'improvement',
                                                  'fix', 'performance', 'internal')),
    impact_reason text NOT NULL,
    status        text NOT NULL CHECK (status IN ('draft', 'in_review', 'approved', 'rejected',
                                                  'scheduled', 'published')),
    title         text NOT NULL,
    body          text NOT NULL,
    category      text NOT NULL,
    audience      text NOT NULL CHECK (audience IN ('everyone', 'developers', 'internal')),
    labels        text NOT NULL DEFAULT '[]',
    provider      text NOT NULL CHECK (provider IN ('rules', 'anthropic', 'openai')),
    version       bigint NOT NULL CHECK (version >= 1),
    human_edited  integer NOT NULL DEFAULT 0 CHECK (human_edited IN (0, 1)),
    reviewers     text NOT NULL DEFAULT '[]',
    changed_at    bigint NOT NULL,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL,
    submitted_by  text,
    submitted_at  bigint,
    decided_by    text,
    decided_at    bigint,
    decision_note text,
    publish_at    bigint,
    published_by  text,
    published_at  bigint,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, source_id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
);

-- The review queue and listings by status, most recently changed first.
CREATE INDEX changelog_entries_status ON changelog_entries (tenant_id, status, updated_at, id);
-- The public feed: published entries, newest first.
CREATE INDEX changelog_entries_published ON changelog_entries (tenant_id, published_at, id)
    WHERE status = 'published';
-- Scheduled entries that fall due.
CREATE INDEX changelog_entries_scheduled ON changelog_entries (tenant_id, publish_at)
    WHERE status = 'scheduled';

CREATE TABLE changelog_versions (
    tenant_id  uuid NOT NULL,
    entry_id   text NOT NULL,
    version    bigint NOT NULL CHECK (version >= 1),
    kind       text NOT NULL CHECK (kind IN ('generated', 'edit', 'suggestion')),
    author     text NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL,
    category   text NOT NULL,
    audience   text NOT NULL CHECK (audience IN ('everyone', 'developers', 'internal')),
    labels     text NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, entry_id, version),
    FOREIGN KEY (tenant_id, entry_id) REFERENCES changelog_entries (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE changelog_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE changelog_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY changelog_entries_isolation ON changelog_entries
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY changelog_entries_maintenance ON changelog_entries TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON changelog_entries FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON changelog_entries TO shiplog_app;

ALTER TABLE changelog_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE changelog_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY changelog_versions_isolation ON changelog_versions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY changelog_versions_maintenance ON changelog_versions TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON changelog_versions FROM PUBLIC;
GRANT SELECT, INSERT ON changelog_versions TO shiplog_app;
