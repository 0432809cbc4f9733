ALTER TABLE "campaigns" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "campaign_messages" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "campaign_inbox" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- Events that can start a campaign (a segment entry, a status or tier change, a resolved case) are
-- queued for the campaigns worker in the event's own transaction, when the tenant has a running
-- campaign waiting for one; the workers are notified.
CREATE FUNCTION vinculo_campaigns_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  queued integer;
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM campaigns WHERE tenant_id = vinculo_current_tenant() AND status = 'running'
      AND trigger ->> 'type' IN ('segment_entered', 'status_changed', 'case_resolved', 'first_order', 'tier_changed')
  ) THEN
    RETURN NULL;
  END IF;
  WITH inserted AS (
    INSERT INTO campaign_inbox (tenant_id, event_id)
    SELECT e.tenant_id, e.id FROM fresh e
    WHERE e.type IN ('segment.entered', 'customer.status_changed', 'case.resolved', 'customer.tier_changed')
    ON CONFLICT DO NOTHING
    RETURNING 1)
  SELECT count(*) INTO queued FROM inserted;
  IF queued > 0 THEN
    PERFORM pg_notify('vinculo_campaigns', vinculo_current_tenant()::text);
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER events_campaigns_inbox AFTER INSERT ON events REFERENCING NEW TABLE AS fresh
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_campaigns_inbox();
