ALTER TABLE "customer_scores" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "customer_tier_history" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "score_state" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "job_runs" FORCE ROW LEVEL SECURITY;
