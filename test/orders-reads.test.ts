import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, newOrder } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

type Order = Record<string, any> & { id: string };
const ids = (list: Order[]) => list.map((o) => o.id);
const sorted = (list: Order[]) => ids(list).sort();

async function page(client: Client, url: string) {
  const res = await client.get(url);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { data: Order[]; nextCursor: string | null };
}

describe('GET /v1/orders', () => {
  let client: Client;
  let ana: { id: string };
  let ben: { id: string };
  let o: Record<'a1' | 'a2' | 'b1', Order>;
  beforeAll(async () => {
    ({ client } = await t.newTenant());
    ana = await newCustomer(client);
    ben = await newCustomer(client);
    o = {
      a1: await newOrder(client, {
        customerId: ana.id,
        source: 'shop',
        placedAt: '2026-01-01T10:00:00.000Z',
      }),
      a2: await newOrder(client, {
        customerId: ana.id,
        source: 'pos',
        status: 'placed',
        placedAt: '2026-02-01T10:00:00.000Z',
      }),
      b1: await newOrder(client, {
        customerId: ben.id,
        source: 'shop',
        status: 'cancelled',
        placedAt: '2026-03-01T10:00:00.000Z',
      }),
    };
  });

  it.each([
    ['customerId', (): string => `customerId=${ana.id}`, ['a1', 'a2']],
    ['source', (): string => 'source=shop', ['a1', 'b1']],
    ['status', (): string => 'status=cancelled', ['b1']],
    ['placedFrom (inclusive)', (): string => 'placedFrom=2026-02-01T10:00:00Z', ['a2', 'b1']],
    ['placedTo (exclusive)', (): string => 'placedTo=2026-02-01T10:00:00Z', ['a1']],
    ['combined', (): string => `customerId=${ana.id}&source=shop&placedTo=2026-12-01T00:00:00Z`, ['a1']],
    ['nothing matching', (): string => 'source=nowhere', []],
  ] as const)('filters by %s', async (_name, query, expected) => {
    const { data, nextCursor } = await page(client, `/v1/orders?${query()}`);
    expect(sorted(data)).toEqual(expected.map((k) => o[k].id).sort());
    expect(nextCursor).toBeNull();
  });

  it('pages with a cursor, in id order, without duplicates or skips', async () => {
    const seen: string[] = [];
    let url = '/v1/orders?limit=1';
    for (let guard = 0; guard < 5; guard++) {
      const { data, nextCursor } = await page(client, url);
      seen.push(...ids(data));
      if (!nextCursor) break;
      url = `/v1/orders?limit=1&cursor=${encodeURIComponent(nextCursor)}`;
    }
    expect(seen).toEqual(ids(Object.values(o)).sort());
  });

  it('refuses bad filters (400 with the path) and a cursor from other filters', async () => {
    for (const [query, path] of [
      ['status=lost', 'querystring.status'],
      ['placedFrom=yesterday', 'querystring.placedFrom'],
      ['customerId=nope', 'querystring.customerId'],
    ]) {
      const res = await client.get(`/v1/orders?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().errors.map((e: { path: string }) => e.path)).toContain(path);
    }
    const { nextCursor } = await page(client, '/v1/orders?limit=1&source=shop');
    const res = await client.get(`/v1/orders?limit=1&source=pos&cursor=${encodeURIComponent(nextCursor!)}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_cursor');
  });

  it('answers 404 for an unknown customerId filter', async () => {
    const res = await client.get(`/v1/orders?customerId=${randomUUID()}`);
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('customer_not_found');
  });

  it('GET /v1/orders/:id: the order with its ETag; 404 for unknown or another tenant’s', async () => {
    const res = await client.get(`/v1/orders/${o.a2.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(o.a2);
    expect(res.headers.etag).toBe('"v1"');
    const other = await t.newTenant();
    for (const c of [client, other.client]) {
      const missing = await c.get(`/v1/orders/${c === client ? randomUUID() : o.a1.id}`);
      expect(missing.statusCode).toBe(404);
      expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(missing.json().code).toBe('order_not_found');
    }
    expect((await client.get('/v1/orders/not-a-uuid')).statusCode).toBe(400);
  });

  it('GET /v1/customers/:id/orders: only that customer’s, filtered; 404 for an unknown customer', async () => {
    expect(sorted((await page(client, `/v1/customers/${ana.id}/orders`)).data)).toEqual(
      [o.a1.id, o.a2.id].sort(),
    );
    expect(ids((await page(client, `/v1/customers/${ana.id}/orders?status=placed`)).data)).toEqual([o.a2.id]);
    expect(ids((await page(client, `/v1/customers/${ben.id}/orders`)).data)).toEqual([o.b1.id]);
    const other = await t.newTenant();
    for (const [c, id] of [
      [client, randomUUID()],
      [other.client, ana.id],
    ] as const) {
      const res = await c.get(`/v1/customers/${id}/orders`);
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('customer_not_found');
    }
  });

  it('does not let another tenant list these orders', async () => {
    const other = await t.newTenant();
    expect((await page(other.client, '/v1/orders?source=shop')).data).toEqual([]);
  });
});

describe('status history', () => {
  it('records potential → active at the first order’s placedAt, once', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    expect(customer.status).toBe('potential');
    const history = async () => {
      const res = await client.get(`/v1/customers/${customer.id}/status-history`);
      expect(res.statusCode).toBe(200);
      return res.json().data;
    };
    expect(await history()).toEqual([]);
    await newOrder(client, { customerId: customer.id, placedAt: '2026-01-10T08:00:00.000Z' });
    const first = [
      expect.objectContaining({
        fromStatus: 'potential',
        toStatus: 'active',
        reason: 'first_order',
        changedAt: '2026-01-10T08:00:00.000Z',
      }),
    ];
    expect(await history()).toEqual(first);
    expect((await client.get(`/v1/customers/${customer.id}`)).json().status).toBe('active');
    await newOrder(client, { customerId: customer.id, placedAt: '2026-01-05T08:00:00.000Z' });
    expect(await history()).toEqual(first);
  });

  it('a customer whose only order is cancelled stays potential', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    await newOrder(client, { customerId: customer.id, status: 'cancelled' });
    expect((await client.get(`/v1/customers/${customer.id}`)).json().status).toBe('potential');
    expect((await client.get(`/v1/customers/${customer.id}/status-history`)).json().data).toEqual([]);
  });
});
