ALTER TABLE "webhook_subscriptions" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- The outbox's fan-out: each committed event gets one delivery per enabled subscription whose
-- patterns match its type (a name, a prefix such as customer.*, or *), in the event's own
-- transaction, and the dispatchers are notified. webhook.test goes only where the test sends it.
CREATE FUNCTION vinculo_webhooks_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  matched_count integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE tenant_id = vinculo_current_tenant() AND enabled) THEN
    RETURN NULL;
  END IF;
  WITH matched AS (
    INSERT INTO webhook_deliveries (tenant_id, id, subscription_id, event_id, event_type, next_attempt_at)
    SELECT e.tenant_id, vinculo_uuidv7(), s.id, e.id, e.type, least(now(), e.occurred_at)
    FROM fresh e
    JOIN webhook_subscriptions s ON s.tenant_id = e.tenant_id AND s.enabled
    WHERE e.type <> 'webhook.test'
      AND EXISTS (
        SELECT 1 FROM unnest(s.events) p
        WHERE p = '*' OR p = e.type OR (right(p, 2) = '.*' AND starts_with(e.type, left(p, -1))))
    RETURNING 1)
  SELECT count(*) INTO matched_count FROM matched;
  IF matched_count > 0 THEN
    PERFORM pg_notify('vinculo_webhooks', vinculo_current_tenant()::text);
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER events_webhooks_fanout AFTER INSERT ON events REFERENCING NEW TABLE AS fresh
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_webhooks_fanout();
