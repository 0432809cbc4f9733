import { sql } from 'drizzle-orm';
import type { Tx } from '../../platform/db.ts';

/** Tenant-wide reports over the scores, the customers' statuses and their history. */
export const insightsRepository = {
  async rfmGrid(tx: Tx) {
    const result = await tx.execute<{ r: number; f: number; customers: number; revenue: number }>(sql`
      SELECT r, f, count(*)::int AS customers, coalesce(sum(monetary), 0)::bigint AS revenue
      FROM customer_scores WHERE tenant_id = vinculo_current_tenant() AND r IS NOT NULL
      GROUP BY 1, 2 ORDER BY 1, 2`);
    return result.rows.map((r) => ({ ...r, revenue: Number(r.revenue) }));
  },

  async currentStatuses(tx: Tx) {
    const result = await tx.execute<{ status: string; lifecycle_phase: string; customers: number }>(sql`
      SELECT status, lifecycle_phase, count(*)::int AS customers FROM customers
      WHERE tenant_id = vinculo_current_tenant() GROUP BY 1, 2 ORDER BY 1, 2`);
    return result.rows;
  },

  async flows(tx: Tx, from: Date, to: Date) {
    const result = await tx.execute<{
      from_status: string | null;
      to_status: string;
      reason: string;
      changes: number;
    }>(sql`
      SELECT from_status, to_status, reason, count(*)::int AS changes FROM customer_status_history
      WHERE tenant_id = vinculo_current_tenant() AND changed_at >= ${from} AND changed_at < ${to}
        AND from_status IS DISTINCT FROM to_status
      GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3`);
    return result.rows;
  },

  async sixR(tx: Tx) {
    const result = await tx.execute<Record<string, number | null>>(sql`
      SELECT
        (SELECT count(*)::int FROM customers WHERE tenant_id = vinculo_current_tenant()) AS customers,
        count(*) FILTER (WHERE s.frequency > 0)::int AS buyers,
        count(*) FILTER (WHERE s.frequency >= 2)::int AS repeat_buyers,
        count(*) FILTER (WHERE s.frequency > 0 AND c.status IN ('active', 'at_risk'))::int AS retained,
        avg(s.p_alive) FILTER (WHERE s.frequency > 0)::float8 AS mean_p_alive,
        coalesce(sum(s.monetary), 0)::bigint AS revenue,
        avg(s.clv)::float8 AS mean_clv,
        count(*) FILTER (WHERE s.inbound_90 > 0 AND s.interactions_90 > s.inbound_90)::int AS two_way,
        coalesce(sum(s.complaints), 0)::int AS complaints,
        coalesce(sum(s.recoveries), 0)::int AS recoveries,
        count(*) FILTER (WHERE s.reactivations > 0)::int AS reactivated,
        (SELECT count(DISTINCT customer_id)::int FROM customer_status_history
          WHERE tenant_id = vinculo_current_tenant() AND to_status = 'inactive') AS ever_inactive,
        (SELECT count(*)::int FROM customers
          WHERE tenant_id = vinculo_current_tenant() AND referred_by_customer_id IS NOT NULL) AS referred,
        (SELECT coalesce(sum(a.net_revenue), 0)::bigint FROM customers r
          JOIN customer_aggregates a ON a.tenant_id = r.tenant_id AND a.customer_id = r.id
          WHERE r.tenant_id = vinculo_current_tenant() AND r.referred_by_customer_id IS NOT NULL) AS referred_revenue
      FROM customer_scores s
      JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
      WHERE s.tenant_id = vinculo_current_tenant()`);
    const r = result.rows[0]!;
    const n = (k: string) => Number(r[k] ?? 0);
    return {
      customers: n('customers'),
      buyers: n('buyers'),
      repeatBuyers: n('repeat_buyers'),
      retained: n('retained'),
      meanPAlive: r.mean_p_alive ?? null,
      revenue: n('revenue'),
      meanClv: r.mean_clv ?? null,
      twoWay: n('two_way'),
      complaints: n('complaints'),
      recoveries: n('recoveries'),
      reactivated: n('reactivated'),
      everInactive: n('ever_inactive'),
      referred: n('referred'),
      referredRevenue: n('referred_revenue'),
    };
  },
};
