-- Row-level security binds the tables' owner too (FORCE), and a migration names no tenant: on an
-- installation whose migrating role is not a superuser, the data steps of 0038 (welcomes keyed once
-- per customer) and 0039 (a resolution as the first response) changed no row. Both are run again
-- here with the policies lifted for their statements; both are idempotent (on a database where
-- they did run, nothing changes).
ALTER TABLE "campaign_messages" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "campaigns" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "interactions" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
UPDATE campaign_messages m SET occurrence = 'first_order'
FROM (
  SELECT DISTINCT ON (w.tenant_id, w.campaign_id, w.customer_id) w.tenant_id, w.id
  FROM campaign_messages w
  JOIN campaigns c ON c.tenant_id = w.tenant_id AND c.id = w.campaign_id
  WHERE c.trigger ->> 'type' = 'first_order' AND w.occurrence LIKE 'event:%'
    AND NOT EXISTS (
      SELECT 1 FROM campaign_messages k
      WHERE k.tenant_id = w.tenant_id AND k.campaign_id = w.campaign_id AND k.customer_id = w.customer_id
        AND k.occurrence = 'first_order')
  ORDER BY w.tenant_id, w.campaign_id, w.customer_id, w.entered_at, w.id
) first
WHERE m.tenant_id = first.tenant_id AND m.id = first.id;--> statement-breakpoint
UPDATE interactions
SET first_response_at = resolved_at
WHERE first_response_at IS NULL AND resolved_at IS NOT NULL AND case_status IS NOT NULL;--> statement-breakpoint
ALTER TABLE "interactions" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "campaigns" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "campaign_messages" FORCE ROW LEVEL SECURITY;
