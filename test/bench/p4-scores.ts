import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { createServices } from '../../src/modules/services.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { createPool, Database } from '../../src/platform/db.ts';
import { appUrlFrom, runMigrations, setAppRolePassword } from '../../src/platform/migrate.ts';
import { Cursors } from '../../src/platform/pagination.ts';
import type { BenchDatabase } from './setup.ts';

const CUSTOMERS = Number(process.env.P4_CUSTOMERS ?? 1_000_000);
const TENANT = process.env.P4_TENANT ?? `bench-p4-${CUSTOMERS}`;
// the demo data's window ends here, so the same options give the same data on any day
const UNTIL = '2026-12-01';

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: Math.round(performance.now() - start), value };
}

/**
 * P4: a full score recompute over the demo generator's customers (1,000,000 customers and about
 * 5,000,000 orders by default) against one `GROUP BY customer` pass over the same orders, both as the
 * application role under RLS; then the incremental refresh after a batch of 1,000 orders.
 *
 * The data is seeded once by `npm run seed:demo` into the bench database (about an hour for a
 * million customers); set P4_DATABASE_URL to a database that keeps it between runs.
 */
export async function p4(database: BenchDatabase) {
  const ownerUrl = process.env.P4_DATABASE_URL ?? database.ownerUrl;
  await runMigrations(ownerUrl);
  const password = 'vinculo-bench-app-password';
  await setAppRolePassword(ownerUrl, password);
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  const find = () => owner.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [TENANT]);
  if (!(await find()).rows.length) {
    const seeded = spawnSync(
      process.execPath,
      ['src/cli/seed-demo.ts', '--customers', String(CUSTOMERS), '--tenant', TENANT, '--until', UNTIL],
      { env: { ...process.env, DATABASE_URL: ownerUrl }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if (seeded.status !== 0) throw new Error('seeding the demo data failed');
  }
  const tenantId = (await find()).rows[0]!.id;
  const counts = await owner.query<{ customers: number; orders: number }>(
    `SELECT (SELECT count(*)::int FROM customers WHERE tenant_id = $1) AS customers,
       (SELECT count(*)::int FROM orders WHERE tenant_id = $1) AS orders`,
    [tenantId],
  );
  await owner.query('VACUUM ANALYZE orders, customers, customer_aggregates');

  const db = new Database(createPool(appUrlFrom(ownerUrl, password), 4));
  const services = createServices({
    db,
    cursors: new Cursors('bench-cursor-secret-bench-cursor-secret'),
    clock: systemClock,
  });
  try {
    const groupBy = () =>
      db.withTenant(tenantId, (tx) =>
        tx.$client.query(
          `SELECT customer_id, count(*), sum(base_total - base_refunded), max(placed_at) FROM orders
           WHERE tenant_id = $1 AND status NOT IN ('cancelled', 'refunded') GROUP BY customer_id`,
          [tenantId],
        ),
      );
    await groupBy(); // warm the cache: both sides then read from memory
    const baseline = await timed(groupBy);
    const first = await timed(() => services.scores.recompute(tenantId));
    const rerun = await timed(() => services.scores.recompute(tenantId));

    // the refresh after a batch of 1,000 orders for existing customers
    const actor = { sub: 'bench', tenantId, scopes: new Set<string>(['orders:write']), segments: null };
    const ids = await owner.query<{ id: string }>(
      'SELECT id FROM customers WHERE tenant_id = $1 ORDER BY id LIMIT 1000',
      [tenantId],
    );
    const now = Date.now();
    const batch = ids.rows.map((r, i) => ({
      source: 'bench-p4',
      externalId: `p4-${now}-${i}`,
      customerId: r.id,
      placedAt: new Date(now - 3_600_000).toISOString(),
      status: 'paid',
      total: { amount: 4990, currency: 'EUR' },
      items: [{ sku: 'P4', quantity: 1, unitPrice: { amount: 4990, currency: 'EUR' } }],
    }));
    const written = await timed(() => services.orders.recordMany(actor, batch));
    const refresh = await timed(() => services.scores.refresh(tenantId));
    return {
      id: 'P4',
      work: 'full score recompute (features, BG/NBD + Gamma-Gamma fit, RFM, value, tiers, status, 6R)',
      customers: counts.rows[0]!.customers,
      orders: counts.rows[0]!.orders,
      baseline: { what: 'one GROUP BY customer pass over the orders', ms: baseline.ms },
      firstRecompute: { ms: first.ms, ratio: +(first.ms / baseline.ms).toFixed(2), summary: first.value },
      rerun: { ms: rerun.ms, ratio: +(rerun.ms / baseline.ms).toFixed(2), summary: rerun.value },
      budget: '≤ 4 × the baseline',
      incremental: {
        batchOf1000OrdersMs: written.ms,
        refreshMs: refresh.ms,
        refreshedCustomers: refresh.value.customers,
      },
    };
  } finally {
    await owner.end();
    await db.close();
  }
}
