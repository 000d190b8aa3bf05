-- 0018 changelog (SQLite): changelog entries — the drafts made from merged
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
-- Times are INTEGER Unix seconds. Every statement binds the tenant as $1;
-- status, impact, audience and labels are checked in C as well (entries.c).

CREATE TABLE changelog_entries (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL CHECK (length(id) = 32),
    source_id     TEXT NOT NULL CHECK (length(CAST(source_id AS BLOB)) BETWEEN 1 AND 256),
    source_kind   TEXT NOT NULL CHECK (source_kind IN ('pr', 'push')),
    repo_id       TEXT NOT NULL,
    source_number INTEGER,
    source_url    TEXT,
    impact        TEXT NOT NULL CHECK (impact IN ('breaking', 'security', 'feature', 'improvement',
                                                  'fix', 'performance', 'internal')),
    impact_reason TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('draft', 'in_review', 'approved', 'rejected',
                                                  'scheduled', 'published')),
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    category      TEXT NOT NULL,
    audience      TEXT NOT NULL CHECK (audience IN ('everyone', 'developers', 'internal')),
    labels        TEXT NOT NULL DEFAULT '[]',
    provider      TEXT NOT NULL CHECK (provider IN ('rules', 'anthropic', 'openai')),
    version       INTEGER NOT NULL CHECK (version >= 1),
    human_edited  INTEGER NOT NULL DEFAULT 0 CHECK (human_edited IN (0, 1)),
    reviewers     TEXT NOT NULL DEFAULT '[]',
    changed_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    submitted_by  TEXT,
    submitted_at  INTEGER,
    decided_by    TEXT,
    decided_at    INTEGER,
    decision_note TEXT,
    publish_at    INTEGER,
    published_by  TEXT,
    published_at  INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, source_id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
) STRICT;

-- The review queue and listings by status, most recently changed first.
CREATE INDEX changelog_entries_status ON changelog_entries (tenant_id, status, updated_at, id);
-- The public feed: published entries, newest first.
CREATE INDEX changelog_entries_published ON changelog_entries (tenant_id, published_at, id)
    WHERE status = 'published';
-- Scheduled entries that fall due.
CREATE INDEX changelog_entries_scheduled ON changelog_entries (tenant_id, publish_at)
    WHERE status = 'scheduled';

CREATE TABLE changelog_versions (
    tenant_id  TEXT NOT NULL,
    entry_id   TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    kind       TEXT NOT NULL CHECK (kind IN ('generated', 'edit', 'suggestion')),
    author     TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    category   TEXT NOT NULL,
    audience   TEXT NOT NULL CHECK (audience IN ('everyone', 'developers', 'internal')),
    labels     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, entry_id, version),
    FOREIGN KEY (tenant_id, entry_id) REFERENCES changelog_entries (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
