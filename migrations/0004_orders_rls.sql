ALTER TABLE "orders" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "customer_aggregates" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "customer_status_history" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "idempotency_keys" FORCE ROW LEVEL SECURITY;
