import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, newOrder, orderBody } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

type Result = {
  index: number;
  status: string;
  id?: string;
  customerId?: string;
  reason?: string;
  error?: { code: string; status: number; errors?: { path: string }[] };
};
const unique = () => randomUUID().slice(0, 8);

async function batch(client: Client, items: unknown[], headers?: Record<string, string>) {
  const res = await client.post('/v1/orders/batch', { items }, headers);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { results: Result[]; summary: Record<string, number> };
}

/** Every order of a source, following cursors. */
async function ordersOf(client: Client, source: string) {
  const all: Record<string, any>[] = [];
  let cursor: string | null = null;
  do {
    const res = await client.get(
      `/v1/orders?source=${source}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.statusCode, res.body).toBe(200);
    all.push(...res.json().data);
    cursor = res.json().nextCursor;
  } while (cursor);
  return all;
}

async function customersWithEmail(client: Client, email: string) {
  const res = await client.get(`/v1/customers?email=${encodeURIComponent(email)}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as Record<string, any>[];
}

describe('POST /v1/orders/batch', () => {
  let client: Client;
  let source: string;
  let results: Result[];
  let summary: Record<string, number>;
  let existing: Record<string, any>[];
  const quantityMinusOne = [{ sku: 'S', quantity: -1, unitPrice: { amount: 2500, currency: 'EUR' } }];

  beforeAll(async () => {
    ({ client } = await t.newTenant());
    source = `mix-${unique()}`;
    const customer = await newCustomer(client);
    const at = '2026-01-02T10:00:00Z';
    existing = [
      await newOrder(client, { source, customerId: customer.id, status: 'placed', sourceUpdatedAt: at }),
      await newOrder(client, { source, customerId: customer.id, status: 'placed', sourceUpdatedAt: at }),
    ];
    const again = (o: Record<string, any>, patch: Record<string, unknown>) =>
      orderBody({ source, externalId: o.externalId, customerId: customer.id, sourceUpdatedAt: at, ...patch });
    ({ results, summary } = await batch(client, [
      orderBody({ source, externalId: 'good-1', customerId: customer.id }),
      orderBody({ source, externalId: 'bad-qty', customerId: customer.id, items: quantityMinusOne }),
      orderBody({ source, externalId: 'good-2', customer: { email: `mix-${unique()}@example.com` } }),
      orderBody({
        source,
        externalId: 'bad-sum',
        customerId: customer.id,
        total: { amount: 4999, currency: 'EUR' },
      }),
      again(existing[0]!, { status: 'fulfilled', sourceUpdatedAt: '2026-01-03T10:00:00Z' }),
      again(existing[1]!, { status: 'placed' }),
      orderBody({ source, externalId: 'bad-customer', customerId: randomUUID() }),
      'not an order',
      orderBody({
        source,
        externalId: 'bad-currency',
        customerId: customer.id,
        total: { amount: 100, currency: 'USD' },
        items: undefined,
      }),
    ]));
  });

  it('answers one result per item, in order, and the bad ones never reject the good ones', () => {
    expect(results.map((r) => [r.index, r.status])).toEqual([
      [0, 'created'],
      [1, 'error'],
      [2, 'created'],
      [3, 'error'],
      [4, 'updated'],
      [5, 'unchanged'],
      [6, 'error'],
      [7, 'error'],
      [8, 'error'],
    ]);
    expect(summary).toEqual({ created: 2, updated: 1, unchanged: 1, errors: 5 });
    expect(results[4]!.id).toBe(existing[0]!.id);
    expect(results[5]).toMatchObject({ id: existing[1]!.id, reason: expect.any(String) });
    expect(results.filter((r) => r.status === 'error').map((r) => [r.error?.code, r.error?.status])).toEqual([
      ['validation_failed', 400],
      ['order_total_mismatch', 422],
      ['invalid_reference', 422],
      ['validation_failed', 400],
      ['currency_conversion_required', 422],
    ]);
  });

  it('writes exactly the good items', async () => {
    const rows = await ordersOf(client, source);
    const byExternal = new Map(rows.map((o) => [o.externalId, o]));
    expect([...byExternal.keys()].sort()).toEqual(
      ['good-1', 'good-2', existing[0]!.externalId, existing[1]!.externalId].sort(),
    );
    expect(byExternal.get('good-1')!.id).toBe(results[0]!.id);
    expect(byExternal.get('good-2')!.customerId).toBe(results[2]!.customerId);
    expect(byExternal.get(existing[0]!.externalId)).toMatchObject({ status: 'fulfilled', version: 2 });
    expect(byExternal.get(existing[1]!.externalId)).toMatchObject({ status: 'placed', version: 1 });
  });

  it('reports each error with paths prefixed items[i]', () => {
    const expected: [number, string][] = [
      [1, 'items[1].items[0].quantity'],
      [3, 'items[3].total'],
      [6, 'items[6].customerId'],
      [7, 'items[7]'],
      [8, 'items[8].baseTotal'],
    ];
    for (const [index, path] of expected) {
      const paths = (results[index]!.error?.errors ?? []).map((e) => e.path);
      const at = paths.some((p) => p === path || p.startsWith(`${path}.`) || p.startsWith(`${path}[`));
      expect.soft(at, `item ${index}: expected an error at ${path}, got ${JSON.stringify(paths)}`).toBe(true);
    }
  });
});

describe('batch sizes and customers', () => {
  it('records 1,000 orders in one request', async () => {
    const { client } = await t.newTenant();
    const source = `big-${unique()}`;
    const items = Array.from({ length: 1000 }, (_, i) =>
      orderBody({ source, externalId: `big-${i}`, customer: { email: `buyer-${i % 50}@example.com` } }),
    );
    const { results, summary } = await batch(client, items);
    expect(summary).toEqual({ created: 1000, updated: 0, unchanged: 0, errors: 0 });
    expect(results.map((r) => r.index)).toEqual(items.map((_, i) => i));
    expect(new Set(results.map((r) => r.id)).size).toBe(1000);
    expect(new Set(results.map((r) => r.customerId)).size).toBe(50);
    expect((await ordersOf(client, source)).length).toBe(1000);
    const [buyer] = await customersWithEmail(client, 'buyer-7@example.com');
    const purchases = (await client.get(`/v1/customers/${buyer!.id}/purchases`)).json();
    expect(purchases).toMatchObject({
      orders: 20,
      netRevenue: { amount: 100_000, currency: 'EUR' },
      items: 40,
    });
  });

  it('refuses 1,001 items and an empty list with 400, writing nothing', async () => {
    const { client } = await t.newTenant();
    const source = `over-${unique()}`;
    const items = Array.from({ length: 1001 }, (_, i) =>
      orderBody({ source, externalId: `o-${i}`, customer: { email: 'over@example.com' } }),
    );
    for (const body of [{ items }, { items: [] }]) {
      const res = await client.post('/v1/orders/batch', body);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
      expect(res.json().errors.map((e: { path: string }) => e.path)).toContain('items');
    }
    expect(await ordersOf(client, source)).toEqual([]);
    expect(await customersWithEmail(client, 'over@example.com')).toEqual([]);
  });

  it('creates a customer for an unknown identity and matches a known one', async () => {
    const { client } = await t.newTenant();
    const known = await newCustomer(client, { email: 'known@example.com' });
    const { results } = await batch(client, [
      orderBody({ customer: { externalId: 'crm-1', email: 'Nueva@Example.com', firstName: 'Ana' } }),
      orderBody({ customer: { email: 'KNOWN@example.com', firstName: 'Ignored' } }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['created', 'created']);
    const created = (await client.get(`/v1/customers/${results[0]!.customerId}`)).json();
    expect(created).toMatchObject({ externalId: 'crm-1', email: 'nueva@example.com', firstName: 'Ana' });
    expect(created.status).toBe('active');
    expect(results[1]!.customerId).toBe(known.id);
    expect(await customersWithEmail(client, 'known@example.com')).toHaveLength(1);
  });

  it('creates one customer for two orders of the same new buyer in one batch', async () => {
    const { client } = await t.newTenant();
    const email = `twice-${unique()}@example.com`;
    const { results } = await batch(client, [
      orderBody({ customer: { email, firstName: 'Eva' } }),
      orderBody({ customer: { email } }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['created', 'created']);
    expect(results[0]!.customerId).toBe(results[1]!.customerId);
    const found = await customersWithEmail(client, email);
    expect(found.map((c) => c.id)).toEqual([results[0]!.customerId]);
    expect((await client.get(`/v1/customers/${found[0]!.id}/purchases`)).json().orders).toBe(2);
  });

  it('treats emails differing in case as one new buyer', async () => {
    const { client } = await t.newTenant();
    const { results } = await batch(client, [
      orderBody({ customer: { email: 'Pilar@Example.com' } }),
      orderBody({ customer: { email: 'pilar@example.com' } }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['created', 'created']);
    expect(results[0]!.customerId).toBe(results[1]!.customerId);
    expect(await customersWithEmail(client, 'pilar@example.com')).toHaveLength(1);
  });

  it('matches a phone whatever its spacing, and concurrent orders of one new phone create one customer', async () => {
    const { client } = await t.newTenant();
    // one batch: two spellings of one phone
    const { results } = await batch(client, [
      orderBody({ customer: { phone: '+34 699 000 111' } }),
      orderBody({ customer: { phone: '+34699000111' } }),
    ]);
    expect(results[0]!.customerId).toBe(results[1]!.customerId);
    // another request, another spelling
    const [third] = (await batch(client, [orderBody({ customer: { phone: '+34-699-000-111' } })])).results;
    expect(third!.customerId).toBe(results[0]!.customerId);
    expect((await client.get(`/v1/customers/${third!.customerId}`)).json().phone).toBe('+34 699 000 111');

    // six concurrent requests for one new phone-only buyer: one customer
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        client.post('/v1/orders', orderBody({ customer: { phone: '+34 600 222 333' } })),
      ),
    );
    for (const a of answers) expect(a.statusCode, a.body).toBe(201);
    expect(new Set(answers.map((a) => a.json().order.customerId)).size).toBe(1);

    // and when some of them also carry an email or an externalId that finds no one (they fall back
    // to the phone): still one customer
    const mixed = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        client.post(
          '/v1/orders',
          orderBody({
            customer: [
              { phone: '+34 600 444 555' },
              { phone: '+34600444555', email: 'mixed@example.com' },
              { phone: '+34 600 444 555', externalId: 'crm-mixed' },
              { phone: '+34 600-444-555' },
            ][i % 4],
          }),
        ),
      ),
    );
    for (const a of mixed) expect(a.statusCode, a.body).toBe(201);
    expect(new Set(mixed.map((a) => a.json().order.customerId)).size).toBe(1);
  });

  it('accepts a customerId in upper case as the same customer', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const { results } = await batch(client, [
      orderBody({ customerId: customer.id.toUpperCase() }),
      orderBody({ customerId: customer.id }),
    ]);
    expect(results.map((r) => [r.status, r.customerId])).toEqual([
      ['created', customer.id],
      ['created', customer.id],
    ]);
    expect((await client.get(`/v1/customers/${customer.id}/purchases`)).json().orders).toBe(2);
  });

  it('keeps the newest of two versions of one order in a batch, whatever their position', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const version = (externalId: string, status: string, at: string) =>
      orderBody({ externalId, customerId: customer.id, status, sourceUpdatedAt: at });
    const { results } = await batch(client, [
      version('newer-first', 'paid', '2026-01-02T12:00:00Z'),
      version('newer-first', 'placed', '2026-01-02T11:00:00Z'),
      version('older-first', 'placed', '2026-01-02T11:00:00Z'),
      version('older-first', 'paid', '2026-01-02T12:00:00Z'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['created', 'unchanged', 'unchanged', 'created']);
    expect(results[1]!.reason).toEqual(expect.any(String));
    expect(results[2]!.reason).toEqual(expect.any(String));
    const rows = await ordersOf(client, 'shop');
    expect(rows.map((o) => [o.externalId, o.status, o.version]).sort()).toEqual([
      ['newer-first', 'paid', 1],
      ['older-first', 'paid', 1],
    ]);
    expect((await client.get(`/v1/customers/${customer.id}/purchases`)).json().orders).toBe(2);
  });

  it('keeps the first of two equal versions in a batch, as two requests would', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const at = '2026-01-02T12:00:00Z';
    const { results } = await batch(client, [
      orderBody({ externalId: 'tie', customerId: customer.id, status: 'paid', sourceUpdatedAt: at }),
      orderBody({ externalId: 'tie', customerId: customer.id, status: 'placed', sourceUpdatedAt: at }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['created', 'unchanged']);
    expect((await ordersOf(client, 'shop')).map((o) => o.status)).toEqual(['paid']);
  });

  it('replays a batch sent again with its Idempotency-Key; refuses the key with other items', async () => {
    const { client } = await t.newTenant();
    const source = `idem-${unique()}`;
    const items = [
      orderBody({ source, customer: { email: `i-${unique()}@example.com` } }),
      orderBody({
        source,
        customer: { email: `j-${unique()}@example.com` },
        total: { amount: 1, currency: 'EUR' },
      }),
    ];
    const first = await client.post('/v1/orders/batch', { items }, { 'idempotency-key': 'b-1' });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().summary).toEqual({ created: 1, updated: 0, unchanged: 0, errors: 1 });
    const again = await client.post('/v1/orders/batch', { items }, { 'idempotency-key': 'b-1' });
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await client.post(
      '/v1/orders/batch',
      { items: [orderBody({ source, customer: { email: 'k@example.com' } })] },
      { 'idempotency-key': 'b-1' },
    );
    expect(other.statusCode).toBe(422);
    expect(other.json().code).toBe('idempotency_key_reused');
    // without the key, the same batch is deduplicated by (source, externalId) instead
    const unkeyed = await batch(client, items);
    expect(unkeyed.summary).toEqual({ created: 0, updated: 0, unchanged: 1, errors: 1 });
    expect((await ordersOf(client, source)).map((o) => o.id)).toEqual([first.json().results[0].id]);
  });
});
