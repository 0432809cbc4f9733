import pg from 'pg';
import { createServices } from '../../src/modules/services.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { createPool, Database } from '../../src/platform/db.ts';
import { appUrlFrom, runMigrations, setAppRolePassword } from '../../src/platform/migrate.ts';
import { Cursors } from '../../src/platform/pagination.ts';
import type { BenchDatabase } from './setup.ts';

const CUSTOMERS = Number(process.env.P5_CUSTOMERS ?? 1_000_000);
const TENANT = process.env.P5_TENANT ?? `bench-p5-${CUSTOMERS}`;
const RUNS = 5;

/** The nested AND/OR definition P5 counts: attributes, scores and a 90-day order window. */
export const P5_DEFINITION = {
  version: 1,
  all: [
    {
      any: [
        { field: 'country', op: 'in', value: ['ES', 'PT'] },
        { field: 'tags', op: 'contains', value: 'newsletter' },
      ],
    },
    {
      any: [
        { field: 'scores.tier', op: 'in', value: ['vip', 'gold'] },
        { field: 'scores.probabilityAlive', op: 'gte', value: 0.5 },
      ],
    },
    { orders: { within: 'P90D', where: { category: 'shoes' }, count: { gte: 1 } } },
    { field: 'consent.email', op: 'eq', value: true },
  ],
};

/** The same question, as one would write it by hand. */
const HAND_WRITTEN = `
  SELECT count(*)::int AS n FROM customers c
  LEFT JOIN customer_scores s ON s.tenant_id = c.tenant_id AND s.customer_id = c.id
  WHERE (c.country IN ('ES', 'PT') OR c.tags @> ARRAY['newsletter'])
    AND (s.tier IN ('vip', 'gold') OR s.p_alive >= 0.5)
    AND c.id IN (
      SELECT o.customer_id FROM orders o
      WHERE o.placed_at BETWEEN now() - interval '90 days' AND now()
        AND o.status NOT IN ('cancelled', 'refunded')
        AND EXISTS (SELECT 1 FROM jsonb_array_elements(o.items) i WHERE i ->> 'category' = 'shoes'))
    AND (c.consent -> 'email' ->> 'granted')::boolean`;

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: Math.round((performance.now() - start) * 10) / 10, value };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Seeds the tenant set-based in SQL: customers with profiles, about 2.5 orders each, their
 * aggregates. Every statement names the tenant: the owner may be a superuser, whom RLS does not bind.
 */
async function seed(owner: pg.Client, tenantId: string): Promise<void> {
  await owner.query('BEGIN');
  await owner.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
  await owner.query(
    `INSERT INTO customers (tenant_id, id, external_id, email, country, city, tags, consent, birth_date, created_at, updated_at)
     SELECT $1, vinculo_uuidv7(), 'p5-' || i, 'p5-' || i || '@example.com',
       (ARRAY['ES', 'PT', 'FR', 'IT', 'DE', 'MX'])[1 + i % 6], (ARRAY['Madrid', 'Lisboa', 'Lyon'])[1 + i % 3],
       CASE WHEN i % 4 = 0 THEN ARRAY['newsletter'] ELSE ARRAY[]::text[] END,
       jsonb_build_object('email', jsonb_build_object('granted', (i / 7) % 3 <> 0, 'at', now())),
       date '1950-01-01' + (i % 20000), now() - (i % 1500) * interval '1 day', now()
     FROM generate_series(1, $2::int) i`,
    [tenantId, CUSTOMERS],
  );
  await owner.query(
    `INSERT INTO orders (tenant_id, id, source, external_id, customer_id, placed_at, status, currency, total,
       base_currency, base_total, items, item_count, channel, source_updated_at)
     SELECT c.tenant_id, vinculo_uuidv7(), 'p5', c.external_id || '-' || n, c.id, t.placed_at,
       CASE WHEN n % 17 = 0 THEN 'cancelled' ELSE 'paid' END, 'EUR', t.total, 'EUR', t.total,
       jsonb_build_array(jsonb_build_object('sku', 'S' || n, 'category', (ARRAY['shoes', 'bags', 'hats'])[1 + (n + h) % 3],
         'quantity', 1, 'unitPrice', t.total)), 1, (ARRAY['web', 'store'])[1 + n % 2], t.placed_at
     FROM customers c
     CROSS JOIN LATERAL (SELECT abs(hashtext(c.external_id)::bigint) AS h) hh
     CROSS JOIN LATERAL generate_series(1, hh.h % 6) n
     CROSS JOIN LATERAL (SELECT now() - ((hh.h + n * 7919) % 720) * interval '1 day' AS placed_at,
       1000 + (hh.h + n) % 20000 AS total) t
     WHERE c.tenant_id = $1`,
    [tenantId],
  );
  await owner.query(
    `INSERT INTO customer_aggregates (tenant_id, customer_id, orders, first_order_at, last_order_at, net_revenue,
       items, orders_with_due_date, orders_paid_on_time)
     SELECT tenant_id, customer_id, count(*), min(placed_at), max(placed_at), sum(base_total), count(*), 0, 0
     FROM orders WHERE tenant_id = $1 AND status <> 'cancelled' GROUP BY tenant_id, customer_id`,
    [tenantId],
  );
  await owner.query('COMMIT');
  await owner.query('VACUUM ANALYZE customers, orders, customer_aggregates');
}

/**
 * P5: the count of a nested AND/OR segment over 1,000,000 customers (attributes, scores and a 90-day
 * order window) through the compiler, against the equivalent hand-written SQL, in the same process
 * on the same data (medians of five alternating runs); then the segment's full refresh and the
 * latency from an order to the membership change (the write, then the incremental pass).
 */
export async function p5(database: BenchDatabase) {
  const ownerUrl = process.env.P5_DATABASE_URL ?? database.ownerUrl;
  await runMigrations(ownerUrl);
  const password = 'vinculo-bench-app-password';
  await setAppRolePassword(ownerUrl, password);
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  const db = new Database(createPool(appUrlFrom(ownerUrl, password), 4));
  const services = createServices({
    db,
    cursors: new Cursors('bench-cursor-secret-bench-cursor-secret'),
    clock: systemClock,
  });
  let segmentId: string | undefined;
  let tenantId: string | undefined;
  const actor = (id: string) => ({
    sub: 'bench',
    tenantId: id,
    scopes: new Set<string>(['segments:write', 'segments:read', 'orders:write', 'admin']),
    segments: null,
  });
  try {
    const found = await owner.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [TENANT]);
    let seeding: { ms: number } | undefined;
    tenantId =
      found.rows[0]?.id ??
      (
        await services.tenants.create({
          name: TENANT,
          slug: TENANT,
          currency: 'EUR',
          timezone: 'Europe/Madrid',
        })
      ).id;
    // a tenant whose seeding failed half-way has no customers (the seed is one transaction)
    const seeded = await owner.query('SELECT 1 FROM customers WHERE tenant_id = $1 LIMIT 1', [tenantId]);
    if (!seeded.rows.length) {
      const id = tenantId;
      seeding = await timed(async () => {
        await seed(owner, id);
        await services.scores.recompute(id);
      });
    }
    const id = tenantId;
    const counts = await owner.query<{ customers: number; orders: number }>(
      `SELECT (SELECT count(*)::int FROM customers WHERE tenant_id = $1) AS customers,
         (SELECT count(*)::int FROM orders WHERE tenant_id = $1) AS orders`,
      [id],
    );
    const compiled = () => services.segments.preview(actor(id), P5_DEFINITION, 0).then((p) => p.count);
    const hand = () =>
      db.withTenant(id, async (tx) => (await tx.$client.query<{ n: number }>(HAND_WRITTEN)).rows[0]!.n, {
        readOnly: true,
      });
    // warm both, check they agree, then alternate
    const [a, b] = [await compiled(), await hand()];
    if (a !== b) throw new Error(`the compiled count (${a}) differs from the hand-written one (${b})`);
    const compiledMs: number[] = [];
    const handMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      compiledMs.push((await timed(compiled)).ms);
      handMs.push((await timed(hand)).ms);
    }
    const build = await timed(() =>
      services.segments.create(actor(id), {
        name: `p5-${Date.now()}`,
        kind: 'dynamic',
        definition: P5_DEFINITION,
      }),
    );
    segmentId = build.value.id;
    const refresh = await timed(() => services.segments.membership.refresh(id, { segmentId }));

    // an order for a customer who matches everything but the order window
    const candidate = await db.withTenant(id, async (tx) => {
      const r = await tx.$client.query<{ id: string }>(
        `SELECT c.id FROM customers c JOIN customer_scores s ON s.tenant_id = c.tenant_id AND s.customer_id = c.id
         WHERE c.country = 'ES' AND (s.tier IN ('vip', 'gold') OR s.p_alive >= 0.5)
           AND (c.consent -> 'email' ->> 'granted')::boolean
           AND NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = $1 AND m.customer_id = c.id)
         LIMIT 1`,
        [segmentId],
      );
      return r.rows[0]?.id;
    });
    let latency: object = { skipped: 'no candidate customer' };
    if (candidate) {
      const placedAt = new Date(Date.now() - 60_000).toISOString();
      const write = await timed(() =>
        services.orders.recordMany(actor(id), [
          {
            source: 'p5-latency',
            externalId: `l-${Date.now()}`,
            customerId: candidate,
            placedAt,
            status: 'paid',
            total: { amount: 4990, currency: 'EUR' },
            items: [
              { sku: 'L', category: 'shoes', quantity: 1, unitPrice: { amount: 4990, currency: 'EUR' } },
            ],
          },
        ]),
      );
      const pass = await timed(() => services.segments.membership.evaluatePending(id));
      const entered = await db.withTenant(
        id,
        async (tx) =>
          (
            await tx.$client.query(
              `SELECT 1 FROM segment_members WHERE segment_id = $1 AND customer_id = $2`,
              [segmentId, candidate],
            )
          ).rowCount === 1,
        { readOnly: true },
      );
      latency = {
        orderWriteMs: write.ms,
        incrementalPassMs: pass.ms,
        customersInPass: pass.value.customers,
        entered,
      };
    }
    const c = median(compiledMs);
    const h = median(handMs);
    return {
      id: 'P5',
      work: 'count of a nested AND/OR segment (attributes, scores, 90-day order window)',
      customers: counts.rows[0]!.customers,
      orders: counts.rows[0]!.orders,
      members: a,
      ...(seeding ? { seedingMs: seeding.ms } : {}),
      baseline: { what: 'the equivalent hand-written SQL', medianMs: h, runs: handMs },
      compiled: { medianMs: c, runs: compiledMs, ratio: +(c / h).toFixed(2) },
      budget: '≤ 2 × the baseline',
      firstBuildMs: build.ms,
      fullRefreshMs: refresh.ms,
      orderToMembership: latency,
    };
  } finally {
    // a segment left behind would make every later write in the tenant mark pending customers
    if (segmentId && tenantId)
      await services.segments.remove(actor(tenantId), segmentId).catch(() => undefined);
    await owner.end();
    await db.close();
  }
}
