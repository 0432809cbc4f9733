-- A customer already pending was marked with ON CONFLICT DO NOTHING, which takes no lock: an
-- incremental pass could take (delete) the mark and evaluate the customer before the writer
-- committed, and nothing stayed pending for the change. The mark is now an upsert that locks the
-- row until the writer commits; the pass takes marks with SKIP LOCKED, so it leaves that one for
-- the next pass, and a mark the pass holds makes the writer wait and mark again after it.
CREATE OR REPLACE FUNCTION vinculo_segments_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM segments WHERE tenant_id = vinculo_current_tenant() AND kind = 'dynamic') THEN
    RETURN NULL;
  END IF;
  IF TG_ARGV[0] = 'id' THEN
    INSERT INTO segment_pending (tenant_id, customer_id)
      SELECT DISTINCT n.tenant_id, n.id FROM touched n
      ON CONFLICT (tenant_id, customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id;
  ELSE
    INSERT INTO segment_pending (tenant_id, customer_id)
      SELECT DISTINCT n.tenant_id, n.customer_id FROM touched n
      ON CONFLICT (tenant_id, customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id;
  END IF;
  PERFORM pg_notify('vinculo_segments', vinculo_current_tenant()::text);
  RETURN NULL;
END $$;
