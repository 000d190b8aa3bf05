-- 0012 ingestion (SQLite): webhook deliveries and the metadata rows normalized
-- from them (I3, I5, I7, I8; src/ingest/store.h, src/ingest/normalize.h).
--
-- webhook_deliveries: one row per accepted delivery, its body as redacted
-- (I4) and the size of the original. (integration_id, delivery_key) is
-- unique per tenant: a redelivery is detected by the insert itself (I3).
-- status moves accepted -> processed | ignored | failed -> dead; error is a
-- short secret-free reason. Rows are purged after the tenant's retention
-- period (I7) by received_at. A rowid table, not WITHOUT ROWID: rows carry
-- bodies of up to 16 MiB.
--
-- The normalized tables hold metadata only (never code, diffs or comment
-- text). Their id is the stable "provider:kind:key" of normalize.h, so a
-- later delivery about the same object upserts the same row. NULL means
-- "not known yet" for every optional column, as the unknown values of
-- normalize.h; store.c never lets an unknown overwrite a known value.
-- Booleans are 0/1 (NULL unknown). sort_at is the listing order key that
-- store.c maintains (the best known time of the row, 0 when none).
-- Every row belongs to a repository: deleting a repository deletes its
-- activity (R2), and deleting a tenant deletes everything.
--
-- Times are INTEGER Unix seconds. Isolation by construction, as every table
-- (T3): each statement binds the transaction's tenant as $1, and every
-- primary key starts with tenant_id.

CREATE TABLE webhook_deliveries (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             TEXT NOT NULL CHECK (length(id) = 32),
    integration_id TEXT NOT NULL CHECK (length(CAST(integration_id AS BLOB)) BETWEEN 1 AND 64),
    provider       TEXT NOT NULL CHECK (provider IN ('github', 'gitlab', 'bitbucket',
                                                     'bitbucket-server', 'azure-devops')),
    delivery_key   TEXT NOT NULL CHECK (length(CAST(delivery_key AS BLOB)) BETWEEN 1 AND 128),
    event          TEXT NOT NULL CHECK (length(CAST(event AS BLOB)) BETWEEN 1 AND 64),
    received_at    INTEGER NOT NULL,
    body           TEXT NOT NULL,
    body_bytes     INTEGER NOT NULL CHECK (body_bytes >= 0),
    status         TEXT NOT NULL DEFAULT 'accepted'
                   CHECK (status IN ('accepted', 'processed', 'ignored', 'failed', 'dead')),
    error          TEXT CHECK (error IS NULL OR length(CAST(error AS BLOB)) <= 200),
    processed_at   INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, integration_id, delivery_key)
) STRICT;

-- Recent deliveries first (listing), and the retention purge.
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (tenant_id, received_at, id);

CREATE TABLE repositories (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             TEXT NOT NULL CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 256),
    full_name      TEXT,
    url            TEXT,
    default_branch TEXT,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

-- Listing by name.
CREATE INDEX repositories_name ON repositories (tenant_id, full_name, id);

CREATE TABLE commits (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 256),
    repo_id          TEXT NOT NULL,
    sha              TEXT,
    message          TEXT,
    author_login     TEXT,
    author_name      TEXT,
    author_email     TEXT,
    author_is_bot    INTEGER CHECK (author_is_bot IN (0, 1)),
    committer_login  TEXT,
    committer_name   TEXT,
    committer_email  TEXT,
    committer_is_bot INTEGER CHECK (committer_is_bot IN (0, 1)),
    authored_at      INTEGER,
    committed_at     INTEGER,
    branch           TEXT,
    files_changed    INTEGER CHECK (files_changed >= 0),
    additions        INTEGER CHECK (additions >= 0),
    deletions        INTEGER CHECK (deletions >= 0),
    sort_at          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX commits_sort ON commits (tenant_id, sort_at, id);
CREATE INDEX commits_repo ON commits (tenant_id, repo_id, sort_at);
CREATE INDEX commits_sha ON commits (tenant_id, sha);

-- The paths a commit touched (never content). Replaced as a whole when a
-- delivery knows the commit's files.
CREATE TABLE commit_files (
    tenant_id TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    path      TEXT NOT NULL CHECK (length(CAST(path AS BLOB)) BETWEEN 1 AND 4096),
    change    TEXT NOT NULL CHECK (change IN ('A', 'M', 'D', 'R', '?')),
    additions INTEGER CHECK (additions >= 0),
    deletions INTEGER CHECK (deletions >= 0),
    PRIMARY KEY (tenant_id, commit_id, path),
    FOREIGN KEY (tenant_id, commit_id) REFERENCES commits (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- labels: a JSON array of strings, NULL while unknown.
CREATE TABLE pull_requests (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 256),
    repo_id          TEXT NOT NULL,
    number           INTEGER CHECK (number >= 0),
    title            TEXT,
    description      TEXT,
    state            TEXT CHECK (state IN ('open', 'closed', 'merged')),
    draft            INTEGER CHECK (draft IN (0, 1)),
    labels           TEXT,
    author_login     TEXT,
    author_name      TEXT,
    author_email     TEXT,
    author_is_bot    INTEGER CHECK (author_is_bot IN (0, 1)),
    source_branch    TEXT,
    target_branch    TEXT,
    created_at       INTEGER,
    ready_at         INTEGER,
    first_review_at  INTEGER,
    approved_at      INTEGER,
    merged_at        INTEGER,
    closed_at        INTEGER,
    updated_at       INTEGER,
    merge_commit_sha TEXT,
    commits          INTEGER CHECK (commits >= 0),
    additions        INTEGER CHECK (additions >= 0),
    deletions        INTEGER CHECK (deletions >= 0),
    changed_files    INTEGER CHECK (changed_files >= 0),
    sort_at          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX pull_requests_sort ON pull_requests (tenant_id, sort_at, id);
CREATE INDEX pull_requests_repo_created ON pull_requests (tenant_id, repo_id, created_at);
CREATE INDEX pull_requests_repo_merged ON pull_requests (tenant_id, repo_id, merged_at)
    WHERE merged_at IS NOT NULL;

-- Reviews (kind 'review') and review comments (kind 'comment'): who, when,
-- which state; never the text. pr_id has no foreign key: a review may
-- arrive before its pull request.
CREATE TABLE reviews (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 256),
    repo_id         TEXT NOT NULL,
    pr_id           TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('review', 'comment')),
    state           TEXT,
    reviewer_login  TEXT,
    reviewer_name   TEXT,
    reviewer_is_bot INTEGER CHECK (reviewer_is_bot IN (0, 1)),
    submitted_at    INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX reviews_pr ON reviews (tenant_id, pr_id, submitted_at);
CREATE INDEX reviews_repo ON reviews (tenant_id, repo_id, submitted_at);

CREATE TABLE deployments (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 256),
    repo_id     TEXT NOT NULL,
    environment TEXT,
    status      TEXT,
    sha         TEXT,
    ref         TEXT,
    created_at  INTEGER,
    finished_at INTEGER,
    sort_at     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX deployments_sort ON deployments (tenant_id, sort_at, id);
CREATE INDEX deployments_repo_finished ON deployments (tenant_id, repo_id, environment, finished_at);

-- Releases (kind 'release') and tags (kind 'tag').
CREATE TABLE releases (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 256),
    repo_id      TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('release', 'tag')),
    tag          TEXT,
    name         TEXT,
    sha          TEXT,
    prerelease   INTEGER CHECK (prerelease IN (0, 1)),
    published_at INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX releases_repo ON releases (tenant_id, repo_id, published_at);
