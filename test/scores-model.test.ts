import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectedPurchases, probabilityAlive } from '../src/modules/scores/scores.model.ts';
import { recomputeWork, scoresRepository, TEMP_WORK } from '../src/modules/scores/scores.repository.ts';
import { createServices } from '../src/modules/services.ts';
import { createPool, Database } from '../src/platform/db.ts';
import { Cursors } from '../src/platform/pagination.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { orderBody } from './helpers/factories.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-03-31T10:00:00.000Z');
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock: { now: () => new Date(NOW) } });
});
afterAll(() => t.close());

/** A small deterministic generator (mulberry32). */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Customer i buys as the BG/NBD story goes: a first purchase 400 − 2i days ago, then purchases at its
 * own rate (between one a week and one in 300 days) until it drops out, with its own probability
 * after each purchase. Returns the days ago of each purchase, at most one a day.
 */
const history = (i: number) => {
  const next = random(i + 1);
  const rate = Math.exp(Math.log(1 / 300) + next() * Math.log(300 / 7));
  const dropout = 0.05 + 0.5 * next();
  const spend = 1500 + 200 * (i % 11);
  const first = 400 - 2 * i;
  const days = [first];
  let day = first;
  for (;;) {
    if (next() < dropout) break;
    day -= Math.max(1, Math.round(-Math.log(1 - next()) / rate));
    if (day < 1) break;
    days.push(day);
  }
  // each order's amount varies around the customer's own mean spend
  const amounts = days.map((_, k) => Math.round(spend * (0.6 + 0.8 * random(1000 * i + k)())));
  return { first, days, amounts };
};

const money = (amount: number) => ({
  total: { amount, currency: 'EUR' },
  items: [{ sku: 'S', quantity: 1, unitPrice: { amount, currency: 'EUR' } }],
});

async function seed(customers: number, amountOf = (i: number, k: number) => history(i).amounts[k]!) {
  const tenant = await t.newTenant();
  const items = Array.from({ length: customers }, (_, i) =>
    history(i).days.map((daysAgo, k) =>
      orderBody({
        ...money(amountOf(i, k)),
        customer: { externalId: `m-${i}` },
        externalId: `m-${i}-${k}`,
        placedAt: new Date(NOW - daysAgo * DAY).toISOString(),
      }),
    ),
  ).flat();
  for (let i = 0; i < items.length; i += 500) {
    const res = await tenant.client.post('/v1/orders/batch', { items: items.slice(i, i + 500) });
    expect(res.json().summary.errors, res.body).toBe(0);
  }
  const ids = (await tenant.client.get('/v1/customers?limit=500')).json().data as {
    id: string;
    externalId: string;
  }[];
  return { tenant, idOf: (i: number) => ids.find((c) => c.externalId === `m-${i}`)!.id };
}

describe('fitted models', () => {
  it('fits BG/NBD and Gamma-Gamma per tenant and explains each customer with them', async () => {
    const { tenant, idOf } = await seed(120);
    const summary = await t.app.services.scores.recompute(tenant.id);
    expect(summary).toMatchObject({ fitted: true, modelVersion: 1, customers: 120 });
    const repeat = (n: number) =>
      Array.from({ length: n }, (_, i) => history(i)).filter((h) => h.days.length > 1).length;

    const model = (await tenant.client.get('/v1/scores/model')).json();
    expect(model).toMatchObject({
      fitted: true,
      modelVersion: 1,
      timeUnit: 'days',
      customersUsed: 120,
      repeatBuyers: repeat(120),
      window: { from: '2025-02-24', to: '2026-03-31' },
    });
    for (const k of ['r', 'alpha', 'a', 'b']) expect(model.bgnbd[k]).toBeGreaterThan(0);
    expect(model.gammaGamma.q).toBeGreaterThan(1);

    // a repeat buyer's inputs: x repeat days, tx from the first to the last, T since the first
    const i = Array.from({ length: 120 }, (_, k) => k).find((k) => history(k).days.length >= 3)!;
    const h = history(i);
    const inputs = { x: h.days.length - 1, tx: h.first - h.days.at(-1)!, T: h.first };
    const s = (await tenant.client.get(`/v1/customers/${idOf(i)}/scores`)).json();
    const repeatSpend = h.amounts.slice(1).reduce((a, b) => a + b, 0) / inputs.x;
    expect(s.model.inputs).toEqual({ ...inputs, meanRepeatSpend: expect.closeTo(repeatSpend, 9) });
    const params = model.bgnbd;
    expect(s.model.probabilityAlive).toBeCloseTo(probabilityAlive(params, inputs.x, inputs.tx, inputs.T), 12);
    expect(s.model.churnRisk).toBeCloseTo(1 - s.model.probabilityAlive, 12);
    expect(s.model.expectedPurchases).toEqual({
      days: 90,
      value: expect.closeTo(expectedPurchases(params, inputs.x, inputs.tx, inputs.T, 90), 10),
    });
    expect(s.modelVersion).toBe(1);
    expect(s.model.clv.amount).toBeGreaterThan(0);
    // a far longer horizon expects more purchases
    const year = (await tenant.client.get(`/v1/customers/${idOf(i)}/scores?horizonDays=365`)).json();
    expect(year.model.expectedPurchases.days).toBe(365);
    expect(year.model.expectedPurchases.value).toBeGreaterThan(s.model.expectedPurchases.value);
    // a one-time buyer is alive by the model's definition until they buy again
    const single = Array.from({ length: 120 }, (_, k) => k).find((k) => history(k).days.length === 1)!;
    const once = (await tenant.client.get(`/v1/customers/${idOf(single)}/scores`)).json();
    expect(once.model).toMatchObject({ probabilityAlive: 1, inputs: { x: 0, tx: 0, meanRepeatSpend: null } });

    // refitting on the same data keeps the version and rewrites nothing
    const again = await t.app.services.scores.recompute(tenant.id);
    expect(again).toMatchObject({ modelVersion: 1, written: 0, statusChanges: 0, tierChanges: 0 });
  });

  it('an incremental refresh equals a full recompute for the touched customer (same fit)', async () => {
    const { tenant, idOf } = await seed(90);
    await t.app.services.scores.recompute(tenant.id);
    const id = idOf(20);
    const res = await tenant.client.post(
      '/v1/orders',
      orderBody({ customerId: id, placedAt: new Date(NOW - 2 * DAY).toISOString() }),
    );
    expect(res.statusCode).toBe(201);
    expect(await t.app.services.scores.refresh(tenant.id)).toEqual({ customers: 1 });
    const incremental = (await tenant.client.get(`/v1/customers/${id}/scores`)).json();
    expect(incremental.rfm).toMatchObject({ recencyDays: 2, frequency: history(20).days.length + 1 });

    await t.app.services.scores.recompute(tenant.id, { refit: false });
    const full = (await tenant.client.get(`/v1/customers/${id}/scores`)).json();
    // everything that does not depend on where the other customers stand is identical
    expect(incremental.rfm.recencyDays).toBe(full.rfm.recencyDays);
    expect(incremental.rfm.monetary).toEqual(full.rfm.monetary);
    expect(incremental.status).toEqual(full.status);
    expect(incremental.sixR).toEqual(full.sixR);
    expect(incremental.model.inputs).toEqual(full.model.inputs);
    expect(incremental.modelVersion).toBe(full.modelVersion);
    for (const k of ['probabilityAlive', 'churnRisk'] as const) {
      expect(incremental.model[k]).toBeCloseTo(full.model[k], 12);
    }
    expect(incremental.model.expectedPurchases.value).toBeCloseTo(full.model.expectedPurchases.value, 10);
    expect(incremental.model.clv).toEqual(full.model.clv);
    expect(incremental.model.expectedOrderValue).toEqual(full.model.expectedOrderValue);
    for (const d of ['volume', 'frequency', 'amount', 'punctuality', 'seniority']) {
      expect(incremental.value.dimensions[d].raw).toEqual(full.value.dimensions[d].raw);
    }
  });

  it('repeat spends the spend model cannot describe leave it out, with the reason, never the recompute', async () => {
    // every repeat order free: BG/NBD fits, Gamma-Gamma has no positive spend to fit
    const free = await seed(120, (i, k) => (k === 0 ? history(i).amounts[0]! : 0));
    expect(await t.app.services.scores.recompute(free.tenant.id)).toMatchObject({ fitted: true });
    const model = (await free.tenant.client.get('/v1/scores/model')).json();
    expect(model.gammaGamma).toBeNull();
    const i = Array.from({ length: 120 }, (_, k) => k).find((k) => history(k).days.length >= 3)!;
    const s = (await free.tenant.client.get(`/v1/customers/${free.idOf(i)}/scores`)).json();
    expect(s.model.probabilityAlive).toBeGreaterThan(0);
    expect(s.model).toMatchObject({ clv: null, expectedOrderValue: null });
    expect(s.model.reason).toMatch(/^Gamma-Gamma not fitted .*: expected order value and CLV are null$/);

    // one buyer whose mean repeat spend is a third of a cent (1, 0, 0 after 50.00): the spend model
    // fits on the others, and the recompute goes through
    const { tenant } = await seed(120);
    const odd = [5000, 1, 0, 0].map((amount, k) =>
      orderBody({
        ...money(amount),
        customer: { externalId: 'odd' },
        externalId: `odd-${k}`,
        placedAt: new Date(NOW - (40 - 10 * k) * DAY).toISOString(),
      }),
    );
    expect((await tenant.client.post('/v1/orders/batch', { items: odd })).json().summary.errors).toBe(0);
    expect(await t.app.services.scores.recompute(tenant.id)).toMatchObject({ fitted: true });
    expect((await tenant.client.get('/v1/scores/model')).json().gammaGamma.q).toBeGreaterThan(1);
  });

  it('below the minimum of repeat buyers the model is not fitted and says why', async () => {
    const { tenant, idOf } = await seed(30);
    const summary = await t.app.services.scores.recompute(tenant.id);
    expect(summary).toMatchObject({ fitted: false, modelVersion: 0 });
    const model = (await tenant.client.get('/v1/scores/model')).json();
    const repeatBuyers = Array.from({ length: 30 }, (_, i) => history(i)).filter(
      (h) => h.days.length > 1,
    ).length;
    expect(model).toMatchObject({
      fitted: false,
      bgnbd: null,
      gammaGamma: null,
      customersUsed: 30,
      repeatBuyers,
    });
    expect(model.reason).toMatch(/at least 50 buyers and 20 repeat buyers/);
    const s = (await tenant.client.get(`/v1/customers/${idOf(3)}/scores`)).json();
    expect(s.model).toMatchObject({
      fitted: false,
      probabilityAlive: null,
      clv: null,
      expectedPurchases: null,
    });
    expect(s.model.reason).toMatch(/not fitted/);
    expect(s.rfm.r).not.toBeNull();
  });

  it('the recompute reads its working tables with parallel workers, gets the same rows, and leaves none behind', async () => {
    const [a, b] = await Promise.all([seed(120), seed(120)]);
    // each tenant's recompute has working tables of its own (the state lock serializes one tenant's)
    const names = [...recomputeWork(a.tenant.id).names, ...recomputeWork(b.tenant.id).names];
    expect(new Set(names).size).toBe(14);
    await Promise.all([
      t.app.services.scores.recompute(a.tenant.id),
      t.app.services.scores.recompute(b.tenant.id),
    ]);
    const rowsOf = (db: Database, tenantId: string) =>
      db.withTenant(
        tenantId,
        async (tx) => (await tx.execute(sql`SELECT * FROM customer_scores ORDER BY customer_id`)).rows,
      );
    const before = await rowsOf(t.db, a.tenant.id);
    expect(before).toHaveLength(120);

    // a session whose planner picks parallel plans even for these small tables
    const forcing = ['parallel_setup_cost=0', 'parallel_tuple_cost=0', 'min_parallel_table_scan_size=0']
      .map((o) => `-c ${o}`)
      .join(' ');
    const url = new URL(inject('appUrl'));
    url.searchParams.set('options', forcing);
    const parallel = new Database(createPool(url.toString(), 2));
    try {
      const at = { now: new Date(NOW), day: '2026-03-31', timezone: 'Europe/Madrid' };
      const plans = await parallel.withTenant(a.tenant.id, async (tx) => {
        const work = recomputeWork(a.tenant.id);
        await scoresRepository.createAllFeatures(tx, work, at, false);
        await scoresRepository.createAllFeatures(tx, TEMP_WORK, at, false);
        const plan = async (table: string) =>
          (await tx.execute<{ 'QUERY PLAN': string }>(sql.raw(`EXPLAIN SELECT count(*) FROM ${table}`))).rows
            .map((r) => r['QUERY PLAN'])
            .join('\n');
        const plans = {
          unlogged: await plan(`vinculo_work.score_features_${a.tenant.id.replaceAll('-', '')}`),
        };
        await scoresRepository.dropWork(tx, work);
        return { ...plans, temporary: await plan('score_features') };
      });
      expect(plans.unlogged).toMatch(/Gather/);
      // what the working tables were before: a temporary table is never read in parallel
      expect(plans.temporary).not.toMatch(/Gather/);

      const services = createServices({
        db: parallel,
        cursors: new Cursors('parallel-cursor-secret-parallel-cursor'),
        clock: { now: () => new Date(NOW) },
      });
      // every customer's purchase days read again from the orders, in parallel: nothing differs
      const summary = await services.scores.recompute(a.tenant.id, { rebuild: true });
      expect(summary).toMatchObject({
        customers: 120,
        featuresFromOrders: 120,
        written: 0,
        statusChanges: 0,
      });
      expect(await rowsOf(parallel, a.tenant.id)).toEqual(before);
    } finally {
      await parallel.close();
    }
    // nothing of any run was committed
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      const left = await owner.query(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'vinculo_work'`,
      );
      expect(left.rows).toEqual([]);
    } finally {
      await owner.end();
    }
  });
});
