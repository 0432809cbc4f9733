-- The role the API connects as: not superuser, not owner of any table, no BYPASSRLS,
-- so row-level security truly applies to it. Roles are cluster-wide, hence the guard.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vinculo_app') THEN
    CREATE ROLE vinculo_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END
$$;
--> statement-breakpoint
-- The tenant of the current transaction, set by the API with SET LOCAL app.tenant_id.
CREATE OR REPLACE FUNCTION vinculo_current_tenant() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
