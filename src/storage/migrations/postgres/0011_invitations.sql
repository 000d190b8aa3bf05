-- 0011 invitations (PostgreSQL): issue 5 item 2, A6, src/accounts/accounts.h
-- ("members and invitations").
--
-- One row per invitation of an address into a tenant with a role. The link's
-- token ("<tenant id>.<random>") is never stored: token_hash is the
-- lower-case hex SHA-256 of its random part, as for auth_tokens. email is
-- the normalized address (accounts_email_normalize). invited_by is the id of
-- the inviting user, without a foreign key: the row outlives its sender for
-- the list and the audit trail, but removing the sender revokes their open
-- invitations, and demoting them those above their new role (members.c). An invitation is open while accepted_at and revoked_at are NULL
-- and expires_at is in the future; at most one row per address and tenant
-- is not accepted or revoked (re-inviting revokes the old one first). Times
-- are bigint Unix seconds from the caller.
--
-- An ordinary business table: tenant_id first in the primary key, ENABLE +
-- FORCE ROW LEVEL SECURITY, a tenant policy (0001) and a maintenance policy
-- (0002), DML grants to shiplog_app (DELETE included: inviting deletes the
-- tenant's invitations that ended over a day ago). Accepting finds the
-- tenant in the token itself, so no cross-tenant function is needed.

CREATE TABLE invitations (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role        text NOT NULL CHECK (role IN ('member', 'editor', 'admin', 'super_admin')),
    token_hash  text NOT NULL CHECK (length(token_hash) = 64),
    invited_by  uuid NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL CHECK (expires_at > created_at),
    accepted_at bigint,
    revoked_at  bigint,
    PRIMARY KEY (tenant_id, id)
);

-- Accepting finds the row by its token.
CREATE UNIQUE INDEX invitations_token ON invitations (tenant_id, token_hash);
-- One invitation per address that is neither accepted nor revoked.
CREATE UNIQUE INDEX invitations_pending_email ON invitations (tenant_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_isolation ON invitations
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY invitations_maintenance ON invitations TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON invitations FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON invitations TO shiplog_app;
