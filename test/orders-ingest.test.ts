import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, newIntermediary, newOrder, orderBody } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

type Order = Record<string, any> & { id: string; customerId: string };
const unique = () => randomUUID().slice(0, 8);

async function ordersWhere(client: Client, query: string): Promise<Order[]> {
  const res = await client.get(`/v1/orders?${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

async function purchasesOf(client: Client, customerId: string) {
  const res = await client.get(`/v1/customers/${customerId}/purchases`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function customersWithEmail(client: Client, email: string) {
  const res = await client.get(`/v1/customers?email=${encodeURIComponent(email)}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as { id: string }[];
}

/** A problem+json answer with this code and, when given, an error at `path` (or below it). */
function expectProblem(res: LightMyRequestResponse, status: number, code: string, path?: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = res.json();
  expect(problem).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  if (path) {
    const paths: string[] = (problem.errors ?? []).map((e: { path: string }) => e.path);
    expect(
      paths.some((p) => p === path || p.startsWith(`${path}.`) || p.startsWith(`${path}[`)),
      `expected an error at ${path}, got ${JSON.stringify(problem.errors)}`,
    ).toBe(true);
  }
  return problem;
}

describe('Idempotency-Key on POST /v1/orders', () => {
  it('replays the first response five times and writes one row', async () => {
    const { client } = await t.newTenant();
    const source = `src-${unique()}`;
    const email = `five-${unique()}@example.com`;
    const body = orderBody({ source, customer: { email } });
    const first = await client.post('/v1/orders', body, { 'idempotency-key': 'five' });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (let i = 0; i < 5; i++) {
      const again = await client.post('/v1/orders', body, { 'idempotency-key': 'five' });
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.json());
    }
    const rows = await ordersWhere(client, `source=${source}`);
    expect(rows.map((o) => o.id)).toEqual([first.json().order.id]);
    expect(rows[0]!.version).toBe(1);
    expect(await customersWithEmail(client, email)).toHaveLength(1);
  });

  it('refuses the key with another body (422) and writes nothing for it', async () => {
    const { client } = await t.newTenant();
    const source = `src-${unique()}`;
    const body = orderBody({ source, customer: { email: `k-${unique()}@example.com` } });
    expect((await client.post('/v1/orders', body, { 'idempotency-key': 'k' })).statusCode).toBe(201);
    const other = await client.post(
      '/v1/orders',
      { ...body, externalId: 'another' },
      { 'idempotency-key': 'k' },
    );
    expectProblem(other, 422, 'idempotency_key_reused');
    const rows = await ordersWhere(client, `source=${source}`);
    expect(rows.map((o) => o.externalId)).toEqual([body.externalId]);
  });

  it('answers 20 concurrent requests with one key with one order, never two rows', async () => {
    const { client } = await t.newTenant();
    const source = `src-${unique()}`;
    const email = `conc-${unique()}@example.com`;
    const body = orderBody({ source, customer: { email } });
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => client.post('/v1/orders', body, { 'idempotency-key': 'same' })),
    );
    for (const a of answers) expect([201, 409], a.body).toContain(a.statusCode);
    const ok = answers.filter((a) => a.statusCode === 201);
    expect(ok.length).toBeGreaterThan(0);
    expect(new Set(ok.map((a) => a.json().order.id)).size).toBe(1);
    expect(ok.filter((a) => a.headers['idempotent-replayed'] !== 'true')).toHaveLength(1);
    for (const conflict of answers.filter((a) => a.statusCode === 409)) {
      expectProblem(conflict, 409, 'idempotency_conflict');
    }
    const rows = await ordersWhere(client, `source=${source}`);
    expect(rows.map((o) => o.id)).toEqual([ok[0]!.json().order.id]);
    expect(await customersWithEmail(client, email)).toHaveLength(1);
  });

  it('keeps the same key in two tenants apart: two independent orders', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const body = orderBody({ customer: { email: 'shared@example.com' } });
    const inA = await a.client.post('/v1/orders', body, { 'idempotency-key': 'shared-key' });
    const inB = await b.client.post('/v1/orders', body, { 'idempotency-key': 'shared-key' });
    for (const res of [inA, inB]) {
      expect(res.statusCode, res.body).toBe(201);
      expect(res.headers['idempotent-replayed']).toBeUndefined();
    }
    expect(inA.json().order.id).not.toBe(inB.json().order.id);
    expect(inA.json().order.customerId).not.toBe(inB.json().order.customerId);
    expect((await ordersWhere(a.client, 'source=shop')).map((o) => o.id)).toEqual([inA.json().order.id]);
    expect((await ordersWhere(b.client, 'source=shop')).map((o) => o.id)).toEqual([inB.json().order.id]);
  });
});

describe('deduplication by (source, externalId)', () => {
  it('answers an identical resend with 200 unchanged, a reason, and the order as it was', async () => {
    const { client } = await t.newTenant();
    const body = orderBody({ customer: { email: `d-${unique()}@example.com` } });
    const first = await client.post('/v1/orders', body);
    expect(first.statusCode).toBe(201);
    const again = await client.post('/v1/orders', body);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().result).toBe('unchanged');
    expect(again.json().reason).toEqual(expect.any(String));
    expect(again.json().order).toEqual(first.json().order);
    expect(await ordersWhere(client, `source=${body.source}`)).toHaveLength(1);
  });

  it('updates on a newer sourceUpdatedAt (version 2) and ignores an older one', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const base = { customerId: customer.id, externalId: 'ord-1', sourceUpdatedAt: '2026-01-02T10:00:00Z' };
    const created = await newOrder(client, { ...base, status: 'placed' });
    const newer = await client.post(
      '/v1/orders',
      orderBody({ ...base, status: 'fulfilled', sourceUpdatedAt: '2026-01-03T10:00:00Z' }),
    );
    expect(newer.statusCode, newer.body).toBe(200);
    expect(newer.json()).toMatchObject({
      result: 'updated',
      order: { id: created.id, status: 'fulfilled', version: 2 },
    });
    const got = await client.get(`/v1/orders/${created.id}`);
    expect(got.json()).toMatchObject({ status: 'fulfilled', version: 2 });
    expect(got.headers.etag).toBe('"v2"');
  });

  it('keeps `paid` when an older `placed` arrives after it', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const base = { customerId: customer.id, externalId: 'ooo-1' };
    const paid = await newOrder(client, { ...base, status: 'paid', sourceUpdatedAt: '2026-01-02T12:00:00Z' });
    const stale = await client.post(
      '/v1/orders',
      orderBody({ ...base, status: 'placed', sourceUpdatedAt: '2026-01-02T11:00:00Z' }),
    );
    expect(stale.statusCode).toBe(200);
    expect(stale.json()).toMatchObject({ result: 'unchanged', order: { status: 'paid', version: 1 } });
    const got = (await client.get(`/v1/orders/${paid.id}`)).json();
    expect(got).toMatchObject({ status: 'paid', version: 1, sourceUpdatedAt: '2026-01-02T12:00:00.000Z' });
  });

  it('never creates the customer of a version that changes nothing (stale, or superseded in its batch)', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const paid = await newOrder(client, {
      customerId: customer.id,
      externalId: 'ghost-1',
      sourceUpdatedAt: '2026-01-02T12:00:00Z',
    });
    const ghost = (email: string, at: string, externalId = 'ghost-1') =>
      orderBody({ customer: { email }, customerId: undefined, externalId, sourceUpdatedAt: at });

    const stale = await client.post('/v1/orders', ghost('ghost-a@example.com', '2026-01-02T11:00:00Z'));
    expect(stale.json()).toMatchObject({
      result: 'unchanged',
      order: { id: paid.id, customerId: customer.id },
    });
    const batch = await client.post('/v1/orders/batch', {
      items: [
        ghost('ghost-b@example.com', '2026-01-02T10:00:00Z'), // stale against the recorded one
        ghost('ghost-c@example.com', '2026-01-03T10:00:00Z', 'ghost-2'), // superseded by the next
        ghost('ghost-d@example.com', '2026-01-03T11:00:00Z', 'ghost-2'),
      ],
    });
    expect(batch.statusCode, batch.body).toBe(200);
    const [old, superseded, newest] = batch.json().results;
    expect(old).toMatchObject({ status: 'unchanged', id: paid.id, customerId: customer.id });
    expect(newest.status).toBe('created');
    expect(superseded).toMatchObject({ status: 'unchanged', customerId: newest.customerId });
    for (const email of ['ghost-a@example.com', 'ghost-b@example.com', 'ghost-c@example.com']) {
      expect(await customersWithEmail(client, email)).toHaveLength(0);
    }
    expect(await customersWithEmail(client, 'ghost-d@example.com')).toHaveLength(1);
    // the newest version refused (an unknown customer): the older one says so, and writes nothing
    const refused = await client.post('/v1/orders/batch', {
      items: [
        ghost('ghost-e@example.com', '2026-01-04T10:00:00Z', 'ghost-3'),
        orderBody({
          externalId: 'ghost-3',
          customerId: randomUUID(),
          sourceUpdatedAt: '2026-01-04T11:00:00Z',
        }),
      ],
    });
    const [older, newer] = refused.json().results;
    expect(newer).toMatchObject({ status: 'error', error: { code: 'invalid_reference' } });
    expect(older).toEqual({
      index: 0,
      status: 'unchanged',
      reason: 'the newest version of this order in the same batch was refused',
    });
    expect(await customersWithEmail(client, 'ghost-e@example.com')).toHaveLength(0);
    expect(await ordersWhere(client, 'source=shop&limit=100')).not.toContainEqual(
      expect.objectContaining({ externalId: 'ghost-3' }),
    );
    // the same when the newest breaks a business rule or its schema: no older version in its place
    for (const [externalId, newer, code] of [
      ['ghost-4', { total: { amount: 1, currency: 'EUR' } }, 'order_total_mismatch'],
      ['ghost-5', { status: 'partially_refunded', refunded: 0 }, 'validation_failed'],
    ] as const) {
      const ruled = await client.post('/v1/orders/batch', {
        items: [
          ghost('ghost-f@example.com', '2026-01-04T10:00:00Z', externalId),
          { ...ghost('ghost-f@example.com', '2026-01-04T12:00:00Z', externalId), ...newer },
        ],
      });
      const [first, broken] = ruled.json().results;
      expect(broken, externalId).toMatchObject({ status: 'error', error: { code } });
      expect(first, externalId).toMatchObject({
        status: 'unchanged',
        reason: 'the newest version of this order in the same batch was refused',
      });
    }
    expect(await customersWithEmail(client, 'ghost-f@example.com')).toHaveLength(0);
    const created = (await client.get('/v1/events?type=customer.created&limit=100')).json().data;
    expect(created.map((e: any) => e.data.email).filter((m: string) => m?.startsWith('ghost'))).toEqual([
      'ghost-d@example.com',
    ]);
  });
});

describe('cancellations and refunds are updates', () => {
  it('a cancellation drops the order from the aggregates', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const one = await newOrder(client, { customerId: customer.id, sourceUpdatedAt: '2026-01-02T10:00:00Z' });
    await newOrder(client, { customerId: customer.id, placedAt: '2026-01-05T10:00:00.000Z' });
    expect(await purchasesOf(client, customer.id)).toMatchObject({
      orders: 2,
      netRevenue: { amount: 10000, currency: 'EUR' },
      items: 4,
    });
    const cancel = await client.post(
      '/v1/orders',
      orderBody({
        customerId: customer.id,
        externalId: one.externalId,
        status: 'cancelled',
        sourceUpdatedAt: '2026-01-03T10:00:00Z',
      }),
    );
    expect(cancel.json()).toMatchObject({ result: 'updated', order: { status: 'cancelled' } });
    expect(cancel.json().order.netTotal).toEqual({ amount: 0, currency: 'EUR' });
    expect(await purchasesOf(client, customer.id)).toMatchObject({
      orders: 1,
      firstOrderAt: '2026-01-05T10:00:00.000Z',
      lastOrderAt: '2026-01-05T10:00:00.000Z',
      netRevenue: { amount: 5000, currency: 'EUR' },
      items: 2,
    });
  });

  it('a partial refund nets the order; a full refund removes it', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const order = await newOrder(client, {
      customerId: customer.id,
      sourceUpdatedAt: '2026-01-02T10:00:00Z',
    });
    const update = (status: string, at: string, extra: Record<string, unknown> = {}) =>
      client.post(
        '/v1/orders',
        orderBody({
          customerId: customer.id,
          externalId: order.externalId,
          status,
          sourceUpdatedAt: at,
          ...extra,
        }),
      );
    const partial = await update('partially_refunded', '2026-01-03T10:00:00Z', {
      refunded: { amount: 1500, currency: 'EUR' },
    });
    expect(partial.statusCode, partial.body).toBe(200);
    expect(partial.json().order).toMatchObject({
      refunded: { amount: 1500, currency: 'EUR' },
      netTotal: { amount: 3500, currency: 'EUR' },
    });
    expect(await purchasesOf(client, customer.id)).toMatchObject({
      orders: 1,
      netRevenue: { amount: 3500, currency: 'EUR' },
    });
    const full = await update('refunded', '2026-01-04T10:00:00Z');
    expect(full.json().order).toMatchObject({
      refunded: { amount: 5000, currency: 'EUR' },
      netTotal: { amount: 0, currency: 'EUR' },
    });
    expect(await purchasesOf(client, customer.id)).toMatchObject({
      orders: 0,
      firstOrderAt: null,
      netRevenue: { amount: 0, currency: 'EUR' },
      items: 0,
    });
  });
});

describe('orders in another currency', () => {
  const usd = (overrides: Record<string, unknown> = {}) =>
    orderBody({
      total: { amount: 5000, currency: 'USD' },
      items: [{ sku: 'U-1', quantity: 2, unitPrice: { amount: 2500, currency: 'USD' } }],
      ...overrides,
    });

  it('refuses a USD order for a EUR tenant without baseTotal (422), writing nothing', async () => {
    const { client } = await t.newTenant();
    const email = `usd-${unique()}@example.com`;
    const res = await client.post('/v1/orders', usd({ source: 'us', customer: { email } }));
    expectProblem(res, 422, 'currency_conversion_required', 'baseTotal');
    expect(await ordersWhere(client, 'source=us')).toEqual([]);
    expect(await customersWithEmail(client, email)).toEqual([]);
  });

  it('records it with baseTotal in EUR and counts the net in EUR, refunds at the order’s rate', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const body = usd({
      customerId: customer.id,
      baseTotal: { amount: 4600, currency: 'EUR' },
      sourceUpdatedAt: '2026-01-02T10:00:00Z',
    });
    const res = await client.post('/v1/orders', body);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().order).toMatchObject({
      currency: 'USD',
      total: { amount: 5000, currency: 'USD' },
      baseTotal: { amount: 4600, currency: 'EUR' },
      netTotal: { amount: 4600, currency: 'EUR' },
    });
    expect((await purchasesOf(client, customer.id)).netRevenue).toEqual({ amount: 4600, currency: 'EUR' });
    const refund = await client.post('/v1/orders', {
      ...body,
      status: 'partially_refunded',
      refunded: { amount: 1000, currency: 'USD' },
      sourceUpdatedAt: '2026-01-03T10:00:00Z',
    });
    expect(refund.statusCode, refund.body).toBe(200);
    // 1000 USD of 5000 USD is 920 of 4600 EUR
    expect(refund.json().order.netTotal).toEqual({ amount: 3680, currency: 'EUR' });
    expect((await purchasesOf(client, customer.id)).netRevenue).toEqual({ amount: 3680, currency: 'EUR' });
  });

  it('refuses baseTotal in a currency other than the tenant’s (400)', async () => {
    const { client } = await t.newTenant();
    const res = await client.post(
      '/v1/orders',
      usd({
        source: 'us',
        customer: { email: `gbp-${unique()}@example.com` },
        baseTotal: { amount: 4000, currency: 'GBP' },
      }),
    );
    expectProblem(res, 400, 'validation_failed', 'baseTotal.currency');
    expect(await ordersWhere(client, 'source=us')).toEqual([]);
  });
});

describe('bad input: 400/422 with the path, nothing written', () => {
  type Case = { name: string; patch: Record<string, unknown>; status: number; code: string; path: string };
  const items = (quantity: number) => [{ sku: 'S', quantity, unitPrice: { amount: 2500, currency: 'EUR' } }];
  const invalid = (name: string, patch: Record<string, unknown>, path: string): Case => ({
    name,
    patch,
    status: 400,
    code: 'validation_failed',
    path,
  });
  const cases: Case[] = [
    invalid('a negative quantity', { items: items(-1) }, 'items[0].quantity'),
    invalid('quantity 0', { items: items(0) }, 'items[0].quantity'),
    invalid(
      'an unknown currency',
      { total: { amount: 5000, currency: 'EUX' }, items: undefined },
      'total.currency',
    ),
    {
      name: 'items that disagree with the total',
      patch: { items: items(3) },
      status: 422,
      code: 'order_total_mismatch',
      path: 'total',
    },
    invalid('placedAt in 2100', { placedAt: '2100-01-01T00:00:00Z' }, 'placedAt'),
    invalid('an unknown status', { status: 'lost' }, 'status'),
    invalid('both customerId and customer', { customerId: randomUUID() }, 'customerId'),
    invalid('neither customerId nor customer', { customer: undefined }, 'customerId'),
    invalid('an identity without externalId, email or phone', { customer: { firstName: 'Ana' } }, 'customer'),
    {
      name: 'an unknown intermediaryId',
      patch: { intermediaryId: randomUUID() },
      status: 422,
      code: 'invalid_reference',
      path: 'intermediaryId',
    },
    {
      name: 'refunded above the total',
      patch: { status: 'partially_refunded', refunded: { amount: 6000, currency: 'EUR' } },
      status: 422,
      code: 'order_refund_inconsistent',
      path: 'refunded.amount',
    },
    {
      name: 'status refunded with a partial refund',
      patch: { status: 'refunded', refunded: { amount: 1000, currency: 'EUR' } },
      status: 422,
      code: 'order_refund_inconsistent',
      path: 'refunded',
    },
  ];

  let client: Client;
  beforeAll(async () => {
    ({ client } = await t.newTenant());
  });

  it.each(cases)('$name → $status $code at $path', async ({ patch, status, code, path }) => {
    const source = `bad-${unique()}`;
    const email = `bad-${unique()}@example.com`;
    // undefined drops a field: JSON leaves it out
    const body = { ...orderBody({ source, customer: { email } }), ...patch };
    expectProblem(await client.post('/v1/orders', body), status, code, path);
    expect(await ordersWhere(client, `source=${source}`)).toEqual([]);
    expect(await customersWithEmail(client, email)).toEqual([]);
  });

  it('a customerId of another tenant → 422 invalid_reference, nothing written in either tenant', async () => {
    const other = await t.newTenant();
    const foreign = await newCustomer(other.client);
    const source = `bad-${unique()}`;
    const res = await client.post('/v1/orders', orderBody({ source, customerId: foreign.id }));
    expectProblem(res, 422, 'invalid_reference', 'customerId');
    expect(await ordersWhere(client, `source=${source}`)).toEqual([]);
    expect(await ordersWhere(other.client, `source=${source}`)).toEqual([]);
    expect((await purchasesOf(other.client, foreign.id)).orders).toBe(0);
  });

  it('accepts a placedAt up to five minutes ahead, refuses one ten minutes ahead', async () => {
    const customer = await newCustomer(client);
    const at = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
    const soon = await client.post('/v1/orders', orderBody({ customerId: customer.id, placedAt: at(2) }));
    expect(soon.statusCode, soon.body).toBe(201);
    const source = `late-${unique()}`;
    const late = await client.post(
      '/v1/orders',
      orderBody({ source, customerId: customer.id, placedAt: at(10) }),
    );
    expectProblem(late, 400, 'validation_failed', 'placedAt');
    expect(await ordersWhere(client, `source=${source}`)).toEqual([]);
  });

  it('a known intermediary is recorded on the order', async () => {
    const intermediary = await newIntermediary(client, { kind: 'distributor' });
    const customer = await newCustomer(client);
    const order = await newOrder(client, {
      customerId: customer.id,
      intermediaryId: intermediary.id,
      channel: 'distributor',
    });
    expect(order).toMatchObject({ intermediaryId: intermediary.id, channel: 'distributor' });
  });
});
