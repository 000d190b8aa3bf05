-- 0006 mail outbox (PostgreSQL): mail queued durably with the change that caused it (A11).
--
-- outbox_enqueue inserts into the caller's transaction, so a row exists exactly
-- when that change commits. Row-level security as in 0001 (tenant policy) and
-- 0002 (maintenance policy); the application role may SELECT, INSERT and
-- UPDATE (never DELETE: sent and dead rows stay for the operator).
--
-- Senders run on every server (P3). The application role sees one tenant per
-- transaction, so finding the tenants that have due mail goes through
-- shiplog_outbox_due_tenants, a SECURITY DEFINER function owned by the
-- migrating role (a member of shiplog_maintenance, so it sees every row). It
-- returns tenant ids only, never content; the sender then opens an ordinary
-- tenant transaction and claims rows with FOR UPDATE SKIP LOCKED, so several
-- servers never claim the same mail.

CREATE TABLE mail_outbox (
    tenant_id       uuid NOT NULL,
    id              text NOT NULL CHECK (length(id) = 32),
    to_addr         text NOT NULL,
    subject         text NOT NULL,
    body_text       text NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    last_error      text,
    sent_at         timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at, tenant_id) WHERE status = 'pending';

ALTER TABLE mail_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY mail_outbox_isolation ON mail_outbox
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY mail_outbox_maintenance ON mail_outbox TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON mail_outbox FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON mail_outbox TO shiplog_app;

-- Tenant ids with pending mail due at "now", the longest-waiting first, at most
-- lim (clamped to 0..1000). Runs with the owner's rights; reveals ids only.
CREATE FUNCTION shiplog_outbox_due_tenants(now timestamptz, lim int) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT m.tenant_id
    FROM public.mail_outbox AS m
    WHERE m.status = 'pending' AND m.next_attempt_at <= now
    GROUP BY m.tenant_id
    ORDER BY min(m.next_attempt_at), m.tenant_id
    LIMIT least(greatest(lim, 0), 1000)
$$;

REVOKE ALL ON FUNCTION shiplog_outbox_due_tenants(timestamptz, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiplog_outbox_due_tenants(timestamptz, int) TO shiplog_app;
