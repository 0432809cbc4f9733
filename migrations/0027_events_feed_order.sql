-- The feed is ordered by (writing transaction, id) and serves only settled transactions (see events.table.ts).
-- Events already written all take this migration's transaction id, so among themselves they stay in id order.
DROP INDEX "events_type_idx";--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "tx" "xid8" DEFAULT pg_current_xact_id() NOT NULL;--> statement-breakpoint
CREATE INDEX "events_feed_idx" ON "events" USING btree ("tenant_id","tx","id");--> statement-breakpoint
CREATE INDEX "events_type_idx" ON "events" USING btree ("tenant_id","type","tx","id");