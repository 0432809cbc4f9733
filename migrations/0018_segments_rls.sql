ALTER TABLE "segments" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "segment_members" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "segment_history" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "segment_pending" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "segment_reads" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- Live segment membership: every statement that changes what a segment can read marks the customers
-- it touched as pending (in the same transaction, set-based from the transition table) and notifies
-- the listeners, who enqueue the incremental evaluation. Nothing is marked in a tenant without
-- dynamic segments.
CREATE FUNCTION vinculo_segments_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM segments WHERE tenant_id = vinculo_current_tenant() AND kind = 'dynamic') THEN
    RETURN NULL;
  END IF;
  IF TG_ARGV[0] = 'id' THEN
    INSERT INTO segment_pending (tenant_id, customer_id)
      SELECT DISTINCT n.tenant_id, n.id FROM touched n ON CONFLICT DO NOTHING;
  ELSE
    INSERT INTO segment_pending (tenant_id, customer_id)
      SELECT DISTINCT n.tenant_id, n.customer_id FROM touched n ON CONFLICT DO NOTHING;
  END IF;
  PERFORM pg_notify('vinculo_segments', vinculo_current_tenant()::text);
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER customers_segments_insert AFTER INSERT ON customers REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('id');--> statement-breakpoint
CREATE TRIGGER customers_segments_update AFTER UPDATE ON customers REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('id');--> statement-breakpoint
CREATE TRIGGER customer_aggregates_segments_insert AFTER INSERT ON customer_aggregates REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER customer_aggregates_segments_update AFTER UPDATE ON customer_aggregates REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER customer_scores_segments_insert AFTER INSERT ON customer_scores REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER customer_scores_segments_update AFTER UPDATE ON customer_scores REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER interactions_segments_insert AFTER INSERT ON interactions REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER interactions_segments_update AFTER UPDATE ON interactions REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER feedback_segments_insert AFTER INSERT ON feedback REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER customer_status_history_segments_insert AFTER INSERT ON customer_status_history REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER orders_segments_insert AFTER INSERT ON orders REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');--> statement-breakpoint
CREATE TRIGGER orders_segments_update AFTER UPDATE ON orders REFERENCING NEW TABLE AS touched
  FOR EACH STATEMENT EXECUTE FUNCTION vinculo_segments_touched('customer_id');
