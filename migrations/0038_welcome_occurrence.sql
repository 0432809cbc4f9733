-- Welcomes (first_order campaigns) are now keyed once per customer (occurrence 'first_order') instead
-- of by the status-change event: each customer's earliest welcome of each such campaign takes the new
-- key, so a customer welcomed before this version is not welcomed again after a full refund and a new
-- first order. A customer who already has a row under the new key keeps it; later duplicates stay as
-- they were (their decisions are history).
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
WHERE m.tenant_id = first.tenant_id AND m.id = first.id;
