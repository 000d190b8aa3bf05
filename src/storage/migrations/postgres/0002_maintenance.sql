-- 0002 maintenance (PostgreSQL): a way for operator commands to see every tenant.
--
-- `shiplog audit verify`, `shiplog keys rotate` and the like run with the owner
-- connection (SHIPLOG_MIGRATE_DATABASE_URL) and must visit every tenant. FORCE
-- ROW LEVEL SECURITY applies to the owner too, so the owner is made a member of
-- shiplog_maintenance, and each business table gets a second, permissive policy
-- for that role only. The server's role must never be a member: storage_open
-- refuses one that is.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shiplog_maintenance') THEN
        CREATE ROLE shiplog_maintenance NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'shiplog_maintenance', 'MEMBER') THEN
        EXECUTE format('GRANT shiplog_maintenance TO %I', current_user);
    END IF;
END
$$;

CREATE POLICY tenants_maintenance ON tenants TO shiplog_maintenance
    USING (true) WITH CHECK (true);
CREATE POLICY tenant_settings_maintenance ON tenant_settings TO shiplog_maintenance
    USING (true) WITH CHECK (true);
