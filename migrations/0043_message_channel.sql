-- Each message keeps the channel it went out on: an unsubscribe reported later withdraws that
-- channel's consent, whatever the campaign's channel has become since. Earlier messages take their
-- campaign's channel as it is now (the best that is known of them). Row-level security binds the
-- tables' owner too (FORCE): lifted for the backfill, which names no tenant.
ALTER TABLE "campaign_messages" ADD COLUMN "channel" text;--> statement-breakpoint
ALTER TABLE "campaign_messages" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "campaigns" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
UPDATE "campaign_messages" m SET "channel" = c."channel"
FROM "campaigns" c WHERE c."tenant_id" = m."tenant_id" AND c."id" = m."campaign_id";--> statement-breakpoint
ALTER TABLE "campaigns" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "campaign_messages" FORCE ROW LEVEL SECURITY;
