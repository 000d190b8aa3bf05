-- 0010 invitations (SQLite): issue 5 item 2, A6, src/accounts/accounts.h
-- ("members and invitations").
--
-- One row per invitation of an address into a tenant with a role. The link's
-- token ("<tenant id>.<random>") is never stored: token_hash is the
-- lower-case hex SHA-256 of its random part, as for auth_tokens. email is
-- the normalized address (accounts_email_normalize). invited_by is the id of
-- the inviting user as text, without a foreign key: the row outlives its
-- sender for the list and the audit trail, but removing the sender revokes
-- their open invitations, and demoting them those above their new role. An invitation is open while accepted_at and revoked_at
-- are NULL and expires_at is in the future; at most one row per address and
-- tenant is not accepted or revoked (re-inviting revokes the old one first).
-- Times are INTEGER Unix seconds from the caller.
--
-- Isolation by construction, as every table (T3): each statement binds the
-- transaction's tenant as $1, and the primary key starts with tenant_id.

CREATE TABLE invitations (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL CHECK (length(id) = 36),
    email       TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role        TEXT NOT NULL CHECK (role IN ('member', 'editor', 'admin', 'super_admin')),
    token_hash  TEXT NOT NULL CHECK (length(token_hash) = 64),
    invited_by  TEXT NOT NULL CHECK (length(invited_by) = 36),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL CHECK (expires_at > created_at),
    accepted_at INTEGER,
    revoked_at  INTEGER,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

-- Accepting finds the row by its token.
CREATE UNIQUE INDEX invitations_token ON invitations (tenant_id, token_hash);
-- One invitation per address that is neither accepted nor revoked.
CREATE UNIQUE INDEX invitations_pending_email ON invitations (tenant_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
