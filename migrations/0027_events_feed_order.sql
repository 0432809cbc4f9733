-- The feed is ordered by (writing transaction, id) and serves only settled transactions (see events.table.ts).
-- Events already written take 0, so among themselves they stay in id order and every later transaction
-- (even one that began before this migration) sorts after them.
DROP INDEX "events_type_idx";--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "tx" "xid8" DEFAULT '0' NOT NULL;--> statement-breakpoint
ALTER TABLE "events" ALTER COLUMN "tx" SET DEFAULT pg_current_xact_id();--> statement-breakpoint
CREATE INDEX "events_feed_idx" ON "events" USING btree ("tenant_id","tx","id");--> statement-breakpoint
CREATE INDEX "events_type_idx" ON "events" USING btree ("tenant_id","type","tx","id");