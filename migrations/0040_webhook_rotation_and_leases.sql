-- Secret rotation keeps every replaced secret that is still inside its 24 hours (a second rotation
-- used to drop the first one's at once), and a delivery in flight carries its worker's lease.
-- The table's row-level security binds its owner too (FORCE): lifted for the copy, so that an owner
-- that is not a superuser sees every tenant's rows (no `app.tenant_id` is set here).
ALTER TABLE "webhook_subscriptions" ADD COLUMN "retiring_secrets" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
UPDATE "webhook_subscriptions"
SET "retiring_secrets" = jsonb_build_array(jsonb_build_object(
  'secret', "previous_secret",
  'until', to_char("previous_secret_expires_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
WHERE "previous_secret" IS NOT NULL AND "previous_secret_expires_at" > now();--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" DROP COLUMN "previous_secret";--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" DROP COLUMN "previous_secret_expires_at";--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "leased_until" timestamp (3) with time zone;
