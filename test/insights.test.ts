import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, placeOrder } from './helpers/factories.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock: { now: () => new Date(NOW) } });
});
afterAll(() => t.close());

describe('tenant insights on a hand-made tenant', () => {
  it('the 6R scorecard, the RFM grid and the lifecycle flows equal the figures by hand', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const buy = (customerId: string, daysAgo: number, amount: number) =>
      placeOrder(client, customerId, NOW - daysAgo * DAY, amount);
    // a: three orders and a conversation; b: one big order; c: two orders, referred by a;
    // d: never bought; e: one order 400 days ago (inactive after 365 days)
    const a = await newCustomer(client);
    const b = await newCustomer(client);
    const c = await newCustomer(client, { referredBy: { kind: 'customer', id: a.id } });
    await newCustomer(client);
    const e = await newCustomer(client);
    for (const day of [30, 20, 10]) await buy(a.id, day, 1000);
    await buy(b.id, 5, 5000);
    for (const day of [40, 15]) await buy(c.id, day, 2000);
    await buy(e.id, 400, 500);
    const asked = await client.post('/v1/interactions', {
      customerId: a.id,
      channel: 'email',
      direction: 'inbound',
      type: 'inquiry',
      body: '¿Cuándo llega?',
      occurredAt: new Date(NOW - 3 * DAY).toISOString(),
    });
    expect(asked.statusCode, asked.body).toBe(201);
    expect(
      (await client.post(`/v1/interactions/${asked.json().id}/replies`, { body: 'Mañana' })).statusCode,
    ).toBe(201);
    await t.app.services.scores.recompute(tenantId);

    const sixR = (await client.get('/v1/insights/6r')).json();
    expect(sixR).toEqual({
      customers: 5,
      buyers: 4,
      relationship: { twoWayShare: 1 / 5 },
      retention: { repeatPurchaseRate: 2 / 4, retentionRate: 3 / 4, meanProbabilityAlive: null },
      profitability: { revenuePerBuyer: { amount: 3125, currency: 'EUR' }, clvPerBuyer: null },
      referral: { referralRate: 1 / 5, referredRevenue: { amount: 4000, currency: 'EUR' } },
      recovery: { recoveryRate: null, complaints: 0 },
      reactivation: { reactivationRate: 0, reactivated: 0 },
    });

    // the grid holds each buyer once, in the cell its own scores name, with its revenue
    const rfm = (await client.get('/v1/insights/rfm')).json();
    expect(rfm.buyers).toBe(4);
    const expected = new Map<string, { customers: number; revenue: number }>();
    for (const [id, revenue] of [
      [a.id, 3000],
      [b.id, 5000],
      [c.id, 4000],
      [e.id, 500],
    ] as const) {
      const s = (await client.get(`/v1/customers/${id}/scores`)).json().rfm;
      const key = `${s.r}${s.f}`;
      const cell = expected.get(key) ?? { customers: 0, revenue: 0 };
      expected.set(key, { customers: cell.customers + 1, revenue: cell.revenue + revenue });
    }
    for (const g of rfm.grid) {
      const want = expected.get(`${g.r}${g.f}`) ?? { customers: 0, revenue: 0 };
      expect({ r: g.r, f: g.f, customers: g.customers, revenue: g.revenue.amount }).toEqual({
        r: g.r,
        f: g.f,
        ...want,
      });
    }
    expect(rfm.cells.reduce((n: number, x: { customers: number }) => n + x.customers, 0)).toBe(4);
    // the most recent, most frequent buyer is not among the lost; the one silent 400 days is
    const cellOf = async (id: string) => (await client.get(`/v1/customers/${id}/scores`)).json().rfm.cell;
    expect(await cellOf(e.id)).toBe('Lost');

    // e's lapse, recorded by the recompute with its time
    const history = (await client.get(`/v1/customers/${e.id}/status-history`)).json().data;
    expect(history.map((h: { toStatus: string; reason: string }) => [h.toStatus, h.reason])).toEqual([
      ['active', 'first_order'],
      ['inactive', 'inactivity'],
    ]);
    // lifecycle over the last 500 days (to just after the recompute): four acquisitions, one lapse (e)
    const from = new Date(NOW - 500 * DAY).toISOString();
    const to = new Date(NOW + 1000).toISOString();
    const life = (await client.get(`/v1/insights/lifecycle?from=${from}&to=${to}`)).json();
    expect(life.flows).toEqual({ acquired: 4, atRisk: 0, lapsed: 1, reactivated: 0, recovered: 0 });
    // now: d potential; b a first-time buyer; a and c repeat buyers; e inactive
    expect(life.current).toHaveLength(4);
    expect(life.current).toEqual(
      expect.arrayContaining([
        { status: 'potential', lifecyclePhase: 'acquisition', customers: 1 },
        { status: 'active', lifecyclePhase: 'acquisition', customers: 1 },
        { status: 'active', lifecyclePhase: 'retention', customers: 2 },
        { status: 'inactive', lifecyclePhase: 'recovery', customers: 1 },
      ]),
    );
  });
});
