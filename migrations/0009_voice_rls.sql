ALTER TABLE "interactions" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "feedback" FORCE ROW LEVEL SECURITY;
