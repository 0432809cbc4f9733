-- The full score recompute's working tables (features, inputs, histograms, staged rows). They were
-- temporary tables, which PostgreSQL never reads with parallel workers: every step of a recompute ran
-- on one core. Unlogged tables in this schema, created and dropped inside the recompute's transaction
-- (never committed, so no other session sees them, and a failed run leaves nothing behind), can be
-- read in parallel. Only the application role creates here; nothing else lives in it.
CREATE SCHEMA IF NOT EXISTS vinculo_work;
--> statement-breakpoint
REVOKE ALL ON SCHEMA vinculo_work FROM PUBLIC;
--> statement-breakpoint
GRANT USAGE, CREATE ON SCHEMA vinculo_work TO vinculo_app;
