ALTER TABLE "imports" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "import_chunks" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "import_errors" FORCE ROW LEVEL SECURITY;
