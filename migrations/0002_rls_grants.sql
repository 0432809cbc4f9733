-- drizzle-kit enables row-level security; FORCE makes the policies bind the tables' owner too.
ALTER TABLE "tenants" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "customers" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "intermediaries" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "attribute_definitions" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO vinculo_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO vinculo_app;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION vinculo_current_tenant() TO vinculo_app;
--> statement-breakpoint
-- Tables later migrations create (as the same owner) are granted the same way.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO vinculo_app;
