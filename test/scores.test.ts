import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody } from './helpers/factories.ts';

const DAY = 86_400_000;
const now = new Date('2026-06-30T12:00:00.000Z');
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock: { now: () => now } });
});
afterAll(() => t.close());

/** An order of one item at `amount`, placed `daysAgo` days before the clock. */
const order = (customerId: string, daysAgo: number, amount = 1000, extra: Record<string, unknown> = {}) =>
  orderBody({
    customerId,
    placedAt: new Date(now.getTime() - daysAgo * DAY).toISOString(),
    total: { amount, currency: 'EUR' },
    items: [{ sku: 'S', quantity: 1, unitPrice: { amount, currency: 'EUR' } }],
    ...extra,
  });

async function record(client: Client, bodies: unknown[]) {
  const res = await client.post('/v1/orders/batch', { items: bodies });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json().summary.errors, res.body).toBe(0);
}

/**
 * Ten buyers: customer k (1..10) bought once a day on k consecutive days, 1,000 each, the last one
 * (11 − k) × 10 days ago; one prospect never bought.
 */
async function tenMonotoneBuyers() {
  const tenant = await t.newTenant();
  const buyers: string[] = [];
  for (let k = 1; k <= 10; k++) {
    const c = await newCustomer(tenant.client);
    buyers.push(c.id);
    const last = (11 - k) * 10;
    await record(
      tenant.client,
      Array.from({ length: k }, (_, i) => order(c.id, last + i)),
    );
  }
  const prospect = await newCustomer(tenant.client);
  return { tenant, buyers, prospect: prospect.id };
}

describe('full recompute', () => {
  it('RFM quintiles, cells, value dimensions, score and tier on a hand-made data set', async () => {
    const { tenant, buyers, prospect } = await tenMonotoneBuyers();
    const summary = await t.app.services.scores.recompute(tenant.id);
    expect(summary).toMatchObject({ customers: 10, fitted: false });

    const expectedQuintile = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
    const cells = [
      'Lost',
      'Lost',
      'Hibernating',
      'Hibernating',
      'Needs attention',
      'Needs attention',
      'Loyal',
      'Loyal',
      'Champions',
      'Champions',
    ];
    const tiers = [
      'bronze',
      'bronze',
      'bronze',
      'bronze',
      'bronze',
      'silver',
      'silver',
      'silver',
      'gold',
      'vip',
    ];
    for (const [i, id] of buyers.entries()) {
      const k = i + 1;
      const res = await tenant.client.get(`/v1/customers/${id}/scores`);
      expect(res.statusCode, res.body).toBe(200);
      const s = res.json();
      expect(s.rfm).toEqual({
        recencyDays: (11 - k) * 10,
        frequency: k,
        monetary: { amount: 1000 * k, currency: 'EUR' },
        r: expectedQuintile[i],
        f: expectedQuintile[i],
        m: expectedQuintile[i],
        cell: cells[i],
      });
      expect(s.value.dimensions.volume).toMatchObject({ raw: k, normalized: expect.closeTo(k / 10, 6) });
      expect(s.value.dimensions.amount.normalized).toBeCloseTo(k / 10, 6);
      // seniority: days since the first order, 109 − 9k, so the oldest buyer (k = 1) ranks highest
      expect(s.value.dimensions.seniority).toMatchObject({ raw: 109 - 9 * k });
      expect(s.value.dimensions.seniority.normalized).toBeCloseTo((11 - k) / 10, 6);
      expect(s.value.dimensions.punctuality).toMatchObject({ raw: null, normalized: null, contribution: 0 });
      // equal weights over the four known dimensions: 100 × (3k/10 + (11 − k)/10) / 4
      expect(s.value.score).toBeCloseTo(5 * k + 27.5, 4);
      expect(s.value.tier).toBe(tiers[i]);
      expect(s.model).toMatchObject({ fitted: false, probabilityAlive: null, clv: null });
      expect(s.model.reason).toMatch(/not fitted: 10 buyers and 9 repeat buyers/);
      expect(s.modelVersion).toBeNull();
    }
    const p = (await tenant.client.get(`/v1/customers/${prospect}/scores`)).json();
    expect(p.rfm).toMatchObject({ frequency: 0, r: null, cell: null });
    expect(p.value).toMatchObject({ score: null, tier: null });
    expect(p.status).toEqual({ status: 'potential', lifecyclePhase: 'acquisition' });
  });

  it('status from the recency rules without a model: a repeat buyer silent for 3 × its usual gap is at risk', async () => {
    const { tenant, buyers } = await tenMonotoneBuyers();
    await t.app.services.scores.recompute(tenant.id);
    const one = (await tenant.client.get(`/v1/customers/${buyers[0]}`)).json();
    expect(one).toMatchObject({ status: 'active', lifecyclePhase: 'acquisition' });
    const two = (await tenant.client.get(`/v1/customers/${buyers[1]}`)).json();
    expect(two).toMatchObject({ status: 'at_risk', lifecyclePhase: 'retention' });
    const history = (await tenant.client.get(`/v1/customers/${buyers[1]}/status-history`)).json().data;
    expect(history.at(-1)).toMatchObject({
      fromStatus: 'active',
      toStatus: 'at_risk',
      toPhase: 'retention',
      reason: 'longer_than_usual_gap',
      changedAt: now.toISOString(),
    });
  });

  it('punctuality counts the orders paid by their due date against those paid late or overdue, not those not yet due', async () => {
    const tenant = await t.newTenant();
    const [c, waiting] = [await newCustomer(tenant.client), await newCustomer(tenant.client)];
    const iso = (days: number) => new Date(now.getTime() + days * DAY).toISOString();
    const pay = (dueIn: number, paidIn?: number) => ({
      payment: {
        method: 'transfer',
        dueAt: iso(dueIn),
        ...(paidIn === undefined ? {} : { paidAt: iso(paidIn) }),
      },
    });
    await record(tenant.client, [
      order(c.id, 40, 1000, pay(-30, -31)), // paid on time
      order(c.id, 30, 1000, pay(-20, -10)), // paid late
      order(c.id, 20, 1000, pay(-10)), // unpaid, overdue
      order(c.id, 2, 1000, pay(28)), // unpaid, not due yet
      order(waiting.id, 1, 1000, pay(29)),
    ]);
    await t.app.services.scores.recompute(tenant.id);
    const scores = async (id: string) => (await tenant.client.get(`/v1/customers/${id}/scores`)).json();
    expect((await scores(c.id)).value.dimensions.punctuality.raw).toBeCloseTo(1 / 3, 6);
    expect((await scores(waiting.id)).value.dimensions.punctuality).toMatchObject({
      raw: null,
      normalized: null,
    });
  });

  it('re-running with no new data changes nothing', async () => {
    const { tenant, buyers } = await tenMonotoneBuyers();
    await t.app.services.scores.recompute(tenant.id);
    const before = (await tenant.client.get(`/v1/customers/${buyers[4]}/scores`)).json();
    const events = (await tenant.client.get('/v1/events?limit=500')).json().data.length;
    const again = await t.app.services.scores.recompute(tenant.id);
    expect(again).toMatchObject({ written: 0, statusChanges: 0, tierChanges: 0 });
    expect((await tenant.client.get(`/v1/customers/${buyers[4]}/scores`)).json()).toEqual(before);
    expect((await tenant.client.get('/v1/events?limit=500')).json().data.length).toBe(events);
  });

  it('keeps the purchase days of customers whose orders did not change, and equals a rebuild from the orders', async () => {
    const { tenant, buyers } = await tenMonotoneBuyers();
    const at = (days: number) => new Date(now.getTime() - days * DAY).toISOString();
    // buyer 6 has one more order, on a day of its own, that is cancelled later
    await record(tenant.client, [
      order(buyers[5]!, 2, 3000, { externalId: 'kept-1', sourceUpdatedAt: at(2) }),
    ]);
    const first = await t.app.services.scores.recompute(tenant.id);
    expect(first).toMatchObject({ customers: 10, featuresFromOrders: 10 });
    const six = (await tenant.client.get(`/v1/customers/${buyers[5]}/scores`)).json();
    expect(six.rfm).toMatchObject({ frequency: 7, recencyDays: 2 });

    // a new purchase day for buyer 1, the cancellation for buyer 6: only those two are read again
    await record(tenant.client, [
      order(buyers[0]!, 1),
      order(buyers[5]!, 2, 3000, { externalId: 'kept-1', status: 'cancelled', sourceUpdatedAt: at(1) }),
    ]);
    const second = await t.app.services.scores.recompute(tenant.id);
    expect(second).toMatchObject({ customers: 10, featuresFromOrders: 2 });
    const one = (await tenant.client.get(`/v1/customers/${buyers[0]}/scores`)).json();
    expect(one.rfm).toMatchObject({ frequency: 2, recencyDays: 1 });
    expect((await tenant.client.get(`/v1/customers/${buyers[5]}/scores`)).json().rfm).toMatchObject({
      frequency: 6,
      recencyDays: 50,
    });

    // every row kept is what the orders give: a rebuild from all the orders changes nothing
    const rebuilt = await t.app.services.scores.recompute(tenant.id, { rebuild: true });
    expect(rebuilt).toMatchObject({ featuresFromOrders: 10, written: 0, statusChanges: 0, tierChanges: 0 });
    // another time zone moves purchase days: the next recompute reads every customer's orders again
    const patched = await tenant.client.patch('/v1/settings', { timezone: 'America/Mexico_City' });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(await t.app.services.scores.recompute(tenant.id)).toMatchObject({ featuresFromOrders: 10 });
    expect(await t.app.services.scores.recompute(tenant.id)).toMatchObject({
      featuresFromOrders: 0,
      written: 0,
    });
    // rows refreshed in another zone meanwhile are not kept when the first zone comes back
    await tenant.client.patch('/v1/settings', { timezone: 'Asia/Tokyo' });
    await record(tenant.client, [order(buyers[2]!, 1)]);
    expect(await t.app.services.scores.refresh(tenant.id)).toEqual({ customers: 1 });
    await tenant.client.patch('/v1/settings', { timezone: 'America/Mexico_City' });
    expect(await t.app.services.scores.recompute(tenant.id)).toMatchObject({ featuresFromOrders: 10 });
  });
});
