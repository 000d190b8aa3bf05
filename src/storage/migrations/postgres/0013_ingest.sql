-- 0013 ingestion (PostgreSQL): webhook deliveries and the metadata rows
-- normalized from them (I3, I5, I7, I8; src/ingest/store.h,
-- src/ingest/normalize.h).
--
-- webhook_deliveries: one row per accepted delivery, its body as redacted
-- (I4) and the size of the original. (integration_id, delivery_key) is
-- unique per tenant: a redelivery is detected by the insert itself (I3).
-- status moves accepted -> processed | ignored | failed -> dead; error is a
-- short secret-free reason. Rows are purged after the tenant's retention
-- period (I7) by received_at.
--
-- The normalized tables hold metadata only (never code, diffs or comment
-- text). Their id is the stable "provider:kind:key" of normalize.h, so a
-- later delivery about the same object upserts the same row. NULL means
-- "not known yet" for every optional column, as the unknown values of
-- normalize.h; store.c never lets an unknown overwrite a known value.
-- sort_at is the listing order key that store.c maintains (the best known
-- time of the row, 0 when none). Every row belongs to a repository:
-- deleting a repository deletes its activity (R2), and deleting a tenant
-- deletes everything.
--
-- Times are bigint Unix seconds from the caller, as in every table since
-- 0007 (one SQL text for both backends). Ordinary business tables:
-- tenant_id first in every primary key, ENABLE + FORCE ROW LEVEL SECURITY,
-- a tenant policy (0001) and a maintenance policy (0002), DML grants to
-- shiplog_app: DELETE on webhook_deliveries (retention purge) and
-- commit_files (a commit's files are replaced as a whole); the other
-- tables are upserted only, and deleted by cascade from their repository or
-- tenant.

CREATE TABLE webhook_deliveries (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             text NOT NULL CHECK (length(id) = 32),
    integration_id text NOT NULL CHECK (octet_length(integration_id) BETWEEN 1 AND 64),
    provider       text NOT NULL CHECK (provider IN ('github', 'gitlab', 'bitbucket',
                                                     'bitbucket-server', 'azure-devops')),
    delivery_key   text NOT NULL CHECK (octet_length(delivery_key) BETWEEN 1 AND 128),
    event          text NOT NULL CHECK (octet_length(event) BETWEEN 1 AND 64),
    received_at    bigint NOT NULL,
    body           text NOT NULL,
    body_bytes     bigint NOT NULL CHECK (body_bytes >= 0),
    status         text NOT NULL DEFAULT 'accepted'
                   CHECK (status IN ('accepted', 'processed', 'ignored', 'failed', 'dead')),
    error          text CHECK (error IS NULL OR octet_length(error) <= 200),
    processed_at   bigint,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, integration_id, delivery_key)
);

-- Recent deliveries first (listing), and the retention purge.
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (tenant_id, received_at, id);

CREATE TABLE repositories (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             text NOT NULL CHECK (octet_length(id) BETWEEN 1 AND 256),
    full_name      text,
    url            text,
    default_branch text,
    PRIMARY KEY (tenant_id, id)
);

-- Listing by name.
CREATE INDEX repositories_name ON repositories (tenant_id, full_name, id);

CREATE TABLE commits (
    tenant_id        uuid NOT NULL,
    id               text NOT NULL CHECK (octet_length(id) BETWEEN 1 AND 256),
    repo_id          text NOT NULL,
    sha              text,
    message          text,
    author_login     text,
    author_name      text,
    author_email     text,
    author_is_bot    boolean,
    committer_login  text,
    committer_name   text,
    committer_email  text,
    committer_is_bot boolean,
    authored_at      bigint,
    committed_at     bigint,
    branch           text,
    files_changed    bigint CHECK (files_changed >= 0),
    additions        bigint CHECK (additions >= 0),
    deletions        bigint CHECK (deletions >= 0),
    sort_at          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX commits_sort ON commits (tenant_id, sort_at, id);
CREATE INDEX commits_repo ON commits (tenant_id, repo_id, sort_at);
CREATE INDEX commits_sha ON commits (tenant_id, sha);

-- The paths a commit touched (never content). Replaced as a whole when a
-- delivery knows the commit's files.
CREATE TABLE commit_files (
    tenant_id uuid NOT NULL,
    commit_id text NOT NULL,
    path      text NOT NULL CHECK (octet_length(path) BETWEEN 1 AND 4096),
    change    text NOT NULL CHECK (change IN ('A', 'M', 'D', 'R', '?')),
    additions bigint CHECK (additions >= 0),
    deletions bigint CHECK (deletions >= 0),
    PRIMARY KEY (tenant_id, commit_id, path),
    FOREIGN KEY (tenant_id, commit_id) REFERENCES commits (tenant_id, id) ON DELETE CASCADE
);

-- labels: a JSON array of strings, NULL while unknown.
CREATE TABLE pull_requests (
    tenant_id        uuid NOT NULL,
    id               text NOT NULL CHECK (octet_length(id) BETWEEN 1 AND 256),
    repo_id          text NOT NULL,
    number           bigint CHECK (number >= 0),
    title            text,
    description      text,
    state            text CHECK (state IN ('open', 'closed', 'merged')),
    draft            boolean,
    labels           text,
    author_login     text,
    author_name      text,
    author_email     text,
    author_is_bot    boolean,
    source_branch    text,
    target_branch    text,
    created_at       bigint,
    ready_at         bigint,
    first_review_at  bigint,
    approved_at      bigint,
    merged_at        bigint,
    closed_at        bigint,
    updated_at       bigint,
    merge_commit_sha text,
    commits          bigint CHECK (commits >= 0),
    additions        bigint CHECK (additions >= 0),
    deletions        bigint CHECK (deletions >= 0),
    changed_files    bigint CHECK (changed_files >= 0),
    sort_at          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX pull_requests_sort ON pull_requests (tenant_id, sort_at, id);
CREATE INDEX pull_requests_repo_created ON pull_requests (tenant_id, repo_id, created_at);
CREATE INDEX pull_requests_repo_merged ON pull_requests (tenant_id, repo_id, merged_at)
    WHERE merged_at IS NOT NULL;

-- Reviews (kind 'review') and review comments (kind 'comment'): who, when,
-- which state; never the text. pr_id has no foreign key: a review may
-- arrive before its pull request.
CREATE TABLE reviews (
    tenant_id       uuid NOT NULL,
    id              text NOT NULL CHECK (octet_length(id) BETWEEN 1 AND 256),
    repo_id         text NOT NULL,
    pr_id           text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('review', 'comment')),
    state           text,
    reviewer_login  text,
    reviewer_name   text,
    reviewer_is_bot boolean,
    submitted_at    bigint,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX reviews_pr ON reviews (tenant_id, pr_id, submitted_at);
CREATE INDEX reviews_repo ON reviews (tenant_id, repo_id, submitted_at);

CREATE TABLE deployments (
    tenant_id   uuid NOT NULL,
    id          text NOT NULL CHECK (octet_length(id) BETWEEN 1 AND 256),
    repo_id     text NOT NULL,
    environment text,
    status      text,
    sha         text,
    ref         text,
    created_at  bigint,
    finished_at bigint,
    sort_at     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX deployments_sort ON deployments (tenant_id, sort_at, id);
CREATE INDEX deployments_repo_finished ON deployments (tenant_id, repo_id, environment, finished_at);

-- Releases (kind 'release') and tags (kind 'tag').
CREATE TABLE releases (
    tenant_id    uuid NOT NULL,
    id           text NOT NULL CHECK (octet_length(id) BETWEEN 1 AND 256),
    repo_id      text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('release', 'tag')),
    tag          text,
    name         text,
    sha          text,
    prerelease   boolean,
    published_at bigint,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, repo_id) REFERENCES repositories (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX releases_repo ON releases (tenant_id, repo_id, published_at);

-- Row-level security and grants, as for every business table.
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_deliveries_isolation ON webhook_deliveries
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY webhook_deliveries_maintenance ON webhook_deliveries TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON webhook_deliveries FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries TO shiplog_app;

ALTER TABLE repositories ENABLE ROW LEVEL SECURITY;
ALTER TABLE repositories FORCE ROW LEVEL SECURITY;
CREATE POLICY repositories_isolation ON repositories
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY repositories_maintenance ON repositories TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON repositories FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON repositories TO shiplog_app;

ALTER TABLE commits ENABLE ROW LEVEL SECURITY;
ALTER TABLE commits FORCE ROW LEVEL SECURITY;
CREATE POLICY commits_isolation ON commits
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY commits_maintenance ON commits TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON commits FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON commits TO shiplog_app;

ALTER TABLE commit_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE commit_files FORCE ROW LEVEL SECURITY;
CREATE POLICY commit_files_isolation ON commit_files
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY commit_files_maintenance ON commit_files TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON commit_files FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON commit_files TO shiplog_app;

ALTER TABLE pull_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE pull_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY pull_requests_isolation ON pull_requests
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY pull_requests_maintenance ON pull_requests TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON pull_requests FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON pull_requests TO shiplog_app;

ALTER TABLE reviews ENABLE ROW LEVEL SECURITY;
ALTER TABLE reviews FORCE ROW LEVEL SECURITY;
CREATE POLICY reviews_isolation ON reviews
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY reviews_maintenance ON reviews TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON reviews FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON reviews TO shiplog_app;

ALTER TABLE deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY deployments_isolation ON deployments
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY deployments_maintenance ON deployments TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON deployments FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON deployments TO shiplog_app;

ALTER TABLE releases ENABLE ROW LEVEL SECURITY;
ALTER TABLE releases FORCE ROW LEVEL SECURITY;
CREATE POLICY releases_isolation ON releases
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY releases_maintenance ON releases TO shiplog_maintenance
    USING (true) WITH CHECK (true);
REVOKE ALL ON releases FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON releases TO shiplog_app;
