import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const BASE = Date.parse('2025-03-01T09:00:00.000Z');

type Line = { q: number; p: number };
type Pay = 'none' | 'onTime' | 'exact' | 'late' | 'unpaid';
const STATUSES = ['placed', 'paid', 'fulfilled', 'cancelled', 'refunded', 'partially_refunded'] as const;
type Status = (typeof STATUSES)[number];

/** What the test believes an order is: the last version it sent that was newer. */
type Model = {
  externalId: string;
  customer: number;
  day: number;
  lines: Line[];
  discountPct: number;
  shipping: number;
  usd: boolean;
  status: Status;
  refundPct: number;
  pay: Pay;
  updatedAt: number;
};

const linesOf = (m: Model) => m.lines.reduce((s, l) => s + l.q * l.p, 0);
const discountOf = (m: Model) => Math.floor((linesOf(m) * m.discountPct) / 100);
const totalOf = (m: Model) => linesOf(m) - discountOf(m) + m.shipping;
const baseOf = (m: Model) => (m.usd ? Math.round(totalOf(m) * 0.92) : totalOf(m));
const refundedOf = (m: Model) => {
  if (m.status === 'refunded') return totalOf(m);
  if (m.status !== 'partially_refunded') return 0;
  return Math.min(totalOf(m) - 1, Math.max(1, Math.floor((totalOf(m) * m.refundPct) / 100)));
};

function bodyOf(m: Model, customerIds: string[], sourceUpdatedAt = m.updatedAt) {
  const currency = m.usd ? 'USD' : 'EUR';
  const placed = BASE + m.day * DAY;
  const money = (amount: number) => ({ amount, currency });
  const payment =
    m.pay === 'none'
      ? undefined
      : {
          method: 'invoice',
          dueAt: iso(placed + 30 * DAY),
          ...(m.pay === 'unpaid'
            ? {}
            : { paidAt: iso(placed + { onTime: 10, exact: 30, late: 40 }[m.pay] * DAY) }),
        };
  return orderBody({
    source: 'prop',
    externalId: m.externalId,
    customerId: customerIds[m.customer],
    placedAt: iso(placed),
    status: m.status,
    total: money(totalOf(m)),
    discount: money(discountOf(m)),
    shipping: money(m.shipping),
    items: m.lines.map((l, i) => ({ sku: `P-${i}`, quantity: l.q, unitPrice: money(l.p) })),
    ...(m.usd ? { baseTotal: { amount: baseOf(m), currency: 'EUR' } } : {}),
    ...(m.status === 'partially_refunded' ? { refunded: money(refundedOf(m)) } : {}),
    ...(payment ? { payment } : {}),
    sourceUpdatedAt: iso(sourceUpdatedAt),
  });
}

type Order = Record<string, any>;
const counted = (o: Pick<Model, 'status'> | Order): boolean =>
  o.status !== 'cancelled' && o.status !== 'refunded';

/** The documented rule, applied to the orders as the API returns them. */
function recompute(customerId: string, list: Order[]) {
  const c = list.filter(counted);
  const placed = c.map((o) => o.placedAt as string).sort();
  const net = (o: Order) =>
    o.baseTotal.amount - Math.round((o.refunded.amount * o.baseTotal.amount) / o.total.amount);
  for (const o of list)
    expect(o.netTotal, o.externalId).toEqual({ amount: counted(o) ? net(o) : 0, currency: 'EUR' });
  const due = c.filter((o) => o.payment.dueAt);
  return {
    customerId,
    orders: c.length,
    firstOrderAt: placed[0] ?? null,
    lastOrderAt: placed.at(-1) ?? null,
    netRevenue: { amount: c.reduce((s, o) => s + net(o), 0), currency: 'EUR' },
    items: c.reduce(
      (s, o) => s + o.items.reduce((n: number, i: { quantity: number }) => n + i.quantity, 0),
      0,
    ),
    ordersWithDueDate: due.length,
    ordersPaidOnTime: due.filter(
      (o) => o.payment.paidAt && Date.parse(o.payment.paidAt) <= Date.parse(o.payment.dueAt),
    ).length,
  };
}

async function ordersOf(client: Client, customerId: string): Promise<Order[]> {
  const res = await client.get(`/v1/orders?customerId=${customerId}&limit=500`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

async function purchasesOf(client: Client, customerId: string) {
  const res = await client.get(`/v1/customers/${customerId}/purchases`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const lineArb = fc.array(
  fc.record({ q: fc.integer({ min: 1, max: 5 }), p: fc.integer({ min: 100, max: 5000 }) }),
  {
    minLength: 1,
    maxLength: 3,
  },
);
const payArb = fc.constantFrom<Pay>('none', 'onTime', 'exact', 'late', 'unpaid');
const target = fc.nat({ max: 50 });
const commandArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      customer: fc.nat({ max: 2 }),
      day: fc.nat({ max: 300 }),
      lines: lineArb,
      discountPct: fc.nat({ max: 50 }),
      shipping: fc.nat({ max: 900 }),
      usd: fc.boolean(),
      status: fc.constantFrom<Status>('placed', 'paid', 'fulfilled'),
      pay: payArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      target,
      status: fc.constantFrom(...STATUSES),
      refundPct: fc.integer({ min: 1, max: 99 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('retotal' as const),
      target,
      lines: lineArb,
      shipping: fc.nat({ max: 900 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('payment' as const), target, pay: payArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('move' as const), target, customer: fc.nat({ max: 2 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('stale' as const),
      target,
      status: fc.constantFrom(...STATUSES),
    }),
  },
);
type Command = typeof commandArb extends fc.Arbitrary<infer C> ? C : never;

describe('purchase aggregates', () => {
  it('equal a recomputation from the orders after any mix of creates, updates, cancellations and refunds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 25 }), async (commands: Command[]) => {
        const { client } = await t.newTenant();
        const customerIds = [
          (await newCustomer(client)).id,
          (await newCustomer(client)).id,
          (await newCustomer(client)).id,
        ];
        const models: Model[] = [];
        let clock = Date.parse('2026-01-01T00:00:00Z');
        for (const [n, cmd] of commands.entries()) {
          clock += 60_000;
          if (cmd.kind === 'create') {
            const { kind: _, ...fields } = cmd;
            const m: Model = { ...fields, externalId: `p-${n}`, refundPct: 50, updatedAt: clock };
            const res = await client.post('/v1/orders', bodyOf(m, customerIds));
            expect(res.statusCode, res.body).toBe(201);
            models.push(m);
            continue;
          }
          if (!models.length) continue;
          const m = models[cmd.target % models.length]!;
          if (cmd.kind === 'stale') {
            const res = await client.post(
              '/v1/orders',
              bodyOf({ ...m, status: cmd.status }, customerIds, m.updatedAt - 30_000),
            );
            expect(res.statusCode, res.body).toBe(200);
            expect(res.json().result).toBe('unchanged');
            continue;
          }
          const { kind: _, target: __, ...change } = cmd;
          Object.assign(m, change, { updatedAt: clock });
          const res = await client.post('/v1/orders', bodyOf(m, customerIds));
          expect(res.statusCode, res.body).toBe(200);
          expect(res.json().result).toBe('updated');
        }

        for (const [k, customerId] of customerIds.entries()) {
          const list = await ordersOf(client, customerId);
          const mine = models.filter((m) => m.customer === k);
          expect(list.map((o) => [o.externalId, o.status, o.total.amount]).sort()).toEqual(
            mine.map((m) => [m.externalId, m.status, totalOf(m)]).sort(),
          );
          const expected = recompute(customerId, list);
          expect(expected.netRevenue.amount).toBe(
            mine
              .filter(counted)
              .reduce((s, m) => s + baseOf(m) - Math.round((refundedOf(m) * baseOf(m)) / totalOf(m)), 0),
          );
          expect(await purchasesOf(client, customerId)).toEqual(expected);
        }
      }),
      { numRuns: 15, endOnFailure: true },
    );
  }, 60_000);

  it('lose no update under 20 concurrent orders, then concurrent cancellations and refunds, of one customer', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const amounts = Array.from({ length: 20 }, (_, i) => 1000 + i * 37);
    const body = (i: number, status = 'paid', extra: Record<string, unknown> = {}) =>
      orderBody({
        externalId: `c-${i}`,
        customerId: customer.id,
        status,
        placedAt: iso(BASE + i * DAY),
        total: { amount: amounts[i]!, currency: 'EUR' },
        items: [{ sku: 'C', quantity: 1, unitPrice: { amount: amounts[i]!, currency: 'EUR' } }],
        sourceUpdatedAt: iso(BASE + i * DAY + (status === 'paid' ? 0 : 60_000)),
        ...extra,
      });
    const created = await Promise.all(amounts.map((_, i) => client.post('/v1/orders', body(i))));
    for (const res of created) expect(res.statusCode, res.body).toBe(201);
    expect(await purchasesOf(client, customer.id)).toMatchObject({
      orders: 20,
      firstOrderAt: iso(BASE),
      lastOrderAt: iso(BASE + 19 * DAY),
      netRevenue: { amount: amounts.reduce((a, b) => a + b, 0), currency: 'EUR' },
      items: 20,
    });

    // even orders cancelled, every third partially refunded by 100, all at once
    const updates = await Promise.all(
      amounts.flatMap((_, i) =>
        i % 2 === 0
          ? [client.post('/v1/orders', body(i, 'cancelled'))]
          : i % 3 === 0
            ? [
                client.post(
                  '/v1/orders',
                  body(i, 'partially_refunded', { refunded: { amount: 100, currency: 'EUR' } }),
                ),
              ]
            : [],
      ),
    );
    for (const res of updates) expect(res.json().result, res.body).toBe('updated');
    const left = amounts.filter((_, i) => i % 2 === 1);
    const refunds = amounts.filter((_, i) => i % 2 === 1 && i % 3 === 0).length * 100;
    const purchases = await purchasesOf(client, customer.id);
    expect(purchases).toMatchObject({
      orders: 10,
      netRevenue: { amount: left.reduce((a, b) => a + b, 0) - refunds, currency: 'EUR' },
      items: 10,
    });
    expect(purchases).toEqual(recompute(customer.id, await ordersOf(client, customer.id)));
  });

  it('count a distributor’s units past what an integer holds, in the aggregates and the scores', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const customer = await newCustomer(client);
    const line = (sku: string) => ({ sku, quantity: 100_000, unitPrice: { amount: 1, currency: 'EUR' } });
    const big = (n: number) =>
      orderBody({
        customerId: customer.id,
        total: { amount: n * 100_000, currency: 'EUR' },
        items: Array.from({ length: n }, (_, i) => line(`S${i}`)),
      });
    expect((await client.post('/v1/orders', big(1))).statusCode).toBe(201);
    // as if it had bought 2,147 million units before (an integer holds 2,147,483,647)
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      await owner.query('UPDATE customer_aggregates SET items = 2147000000 WHERE customer_id = $1', [
        customer.id,
      ]);
    } finally {
      await owner.end();
    }
    const res = await client.post('/v1/orders', big(10));
    expect(res.statusCode, res.body).toBe(201);
    expect((await purchasesOf(client, customer.id)).items).toBe(2_148_000_000);
    await t.app.services.scores.refresh(tenantId);
    const scores = await client.get(`/v1/customers/${customer.id}/scores`);
    expect(scores.statusCode, scores.body).toBe(200);
    expect(scores.json().value.dimensions.volume.raw).toBe(2_148_000_000);
  });

  it('creates one customer when 10 concurrent orders name the same new buyer', async () => {
    const { client } = await t.newTenant();
    const email = 'concurrent-buyer@example.com';
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        client.post('/v1/orders', orderBody({ externalId: `n-${i}`, customer: { email } })),
      ),
    );
    for (const res of answers) expect(res.statusCode, res.body).toBe(201);
    const ids = new Set(answers.map((a) => a.json().order.customerId));
    expect(ids.size).toBe(1);
    const found = (await client.get(`/v1/customers?email=${email}`)).json().data;
    expect(found.map((c: { id: string }) => c.id)).toEqual([...ids]);
    expect(await purchasesOf(client, found[0].id)).toMatchObject({
      orders: 10,
      netRevenue: { amount: 50_000 },
    });
  });
  it('recomputes the previous customer of an order another writer recorded between the look-up and the write', async () => {
    const { client } = await t.newTenant();
    const ours = await newCustomer(client);
    const theirs = await newCustomer(client);
    const blocker = await newCustomer(client, { email: `blocker-${Date.now()}@example.com` });
    const externalId = `raced-${Date.now()}`;
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      // hold the blocker's row: our batch looks its orders up, then waits to lock that customer
      await owner.query('BEGIN');
      await owner.query('SELECT 1 FROM customers WHERE id = $1 FOR UPDATE', [blocker.id]);
      const batch = client.post('/v1/orders/batch', {
        items: [
          orderBody({ externalId, customerId: ours.id, sourceUpdatedAt: '2026-01-02T12:00:00.000Z' }),
          orderBody({ customer: { email: blocker.email } }),
        ],
      });
      for (let waited = 0; ; waited += 10) {
        const { rows } = await owner.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pg_blocking_pids(pid) @> ARRAY[pg_backend_pid()]`,
        );
        if (rows[0].n > 0) break;
        if (waited > 10_000) throw new Error('the batch never waited for the lock');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // meanwhile another writer records the same order, an older version of it, for another customer
      const other = await client.post(
        '/v1/orders',
        orderBody({ externalId, customerId: theirs.id, sourceUpdatedAt: '2026-01-02T11:00:00.000Z' }),
      );
      expect(other.statusCode, other.body).toBe(201);
      await owner.query('COMMIT');
      const res = await batch;
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().results[0]).toMatchObject({ status: 'updated', customerId: ours.id });
    } finally {
      await owner.query('ROLLBACK').catch(() => undefined);
      await owner.end();
    }
    // the order moved to our customer: the other one no longer counts it
    for (const customer of [ours, theirs]) {
      expect(await purchasesOf(client, customer.id)).toEqual(
        recompute(customer.id, await ordersOf(client, customer.id)),
      );
    }
    expect((await purchasesOf(client, theirs.id)).orders).toBe(0);
    expect((await purchasesOf(client, ours.id)).orders).toBe(1);
  });
});
