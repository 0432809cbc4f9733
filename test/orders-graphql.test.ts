import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Client, createTestApp, type GraphqlBody, type TestApp } from './helpers/app.ts';
import { newCustomer, newOrder, orderBody } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const unique = () => randomUUID().slice(0, 8);
const ORDER_FIELDS = `id source externalId customerId placedAt status currency version
  total { amount currency } netTotal { amount currency } refunded { amount currency }
  items { sku quantity unitPrice { amount currency } } payment { method dueAt paidAt }`;
const RECORD = `mutation ($input: OrderInput!, $key: String) {
  recordOrder(input: $input, idempotencyKey: $key) { result reason order { ${ORDER_FIELDS} } } }`;
const RECORD_MANY = `mutation ($items: [OrderInput!]!) {
  recordOrders(items: $items) {
    results { index status id customerId reason error { code message errors { path message } } }
    created updated unchanged errors } }`;

const codeOf = (body: GraphqlBody) => body.errors?.[0]?.extensions?.code;

async function ordersOf(client: Client, source: string) {
  const res = await client.get(`/v1/orders?source=${source}&limit=500`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as Record<string, any>[];
}

describe('recordOrder', () => {
  it('records an order, then answers unchanged for the same version', async () => {
    const { client } = await t.newTenant();
    const input = orderBody({
      customer: { email: `g-${unique()}@example.com`, firstName: 'Inés' },
      payment: { method: 'invoice', dueAt: '2026-02-01T00:00:00.000Z', paidAt: '2026-01-20T00:00:00.000Z' },
    });
    const first = await client.graphql(RECORD, { input });
    expect(first.body.errors).toBeUndefined();
    const { result, order } = first.body.data!.recordOrder;
    expect(result).toBe('created');
    expect(order).toMatchObject({
      externalId: input.externalId,
      status: 'paid',
      total: { amount: 5000, currency: 'EUR' },
      netTotal: { amount: 5000, currency: 'EUR' },
      items: [{ sku: 'SKU-1', quantity: 2, unitPrice: { amount: 2500, currency: 'EUR' } }],
      payment: { method: 'invoice', dueAt: '2026-02-01T00:00:00.000Z', paidAt: '2026-01-20T00:00:00.000Z' },
      version: 1,
    });
    expect((await client.get(`/v1/orders/${order.id}`)).json()).toMatchObject({
      id: order.id,
      status: 'paid',
    });
    const again = await client.graphql(RECORD, { input });
    expect(again.body.data!.recordOrder).toMatchObject({ result: 'unchanged', reason: expect.any(String) });
    expect(again.body.data!.recordOrder.order).toEqual(order);
  });

  it('replays with an idempotencyKey and refuses the key with another input', async () => {
    const { client } = await t.newTenant();
    const source = `gk-${unique()}`;
    const input = orderBody({ source, customer: { email: `gk-${unique()}@example.com` } });
    const first = await client.graphql(RECORD, { input, key: 'g-key' });
    const again = await client.graphql(RECORD, { input, key: 'g-key' });
    expect(first.body.errors).toBeUndefined();
    expect(again.body).toEqual(first.body);
    expect(again.body.data!.recordOrder.result).toBe('created');
    const other = await client.graphql(RECORD, { input: { ...input, externalId: 'other' }, key: 'g-key' });
    expect(codeOf(other.body)).toBe('idempotency_key_reused');
    expect((await ordersOf(client, source)).map((o) => o.id)).toEqual([
      first.body.data!.recordOrder.order.id,
    ]);
  });

  it('reports validation and rule errors with extensions.code, writing nothing', async () => {
    const { client } = await t.newTenant();
    const source = `ge-${unique()}`;
    const email = `ge-${unique()}@example.com`;
    const cases: [Record<string, unknown>, string, string?][] = [
      [
        { items: [{ sku: 'S', quantity: -1, unitPrice: { amount: 2500, currency: 'EUR' } }] },
        'validation_failed',
        'input.items[0].quantity',
      ],
      [{ placedAt: '2100-01-01T00:00:00Z' }, 'validation_failed', 'input.placedAt'],
      [{ total: { amount: 4000, currency: 'EUR' } }, 'order_total_mismatch'],
      [
        {
          total: { amount: 5000, currency: 'USD' },
          items: [{ sku: 'U', quantity: 2, unitPrice: { amount: 2500, currency: 'USD' } }],
        },
        'currency_conversion_required',
      ],
      [{ customer: null, customerId: randomUUID() }, 'invalid_reference'],
      [{ status: 'refunded', refunded: { amount: 10, currency: 'EUR' } }, 'order_refund_inconsistent'],
    ];
    for (const [patch, code, path] of cases) {
      const { status, body } = await client.graphql(RECORD, {
        input: { ...orderBody({ source, customer: { email } }), ...patch },
      });
      expect(status).toBe(200);
      expect(body.data ?? null, code).toBeNull();
      expect(codeOf(body), JSON.stringify(patch)).toBe(code);
      if (path) {
        const paths = (body.errors![0]!.extensions!.errors as { path: string }[]).map((e) => e.path);
        expect(paths).toContain(path);
      }
    }
    expect(await ordersOf(client, source)).toEqual([]);
    expect((await client.get(`/v1/customers?email=${email}`)).json().data).toEqual([]);
  });

  it('needs the orders:write scope', async () => {
    const tenant = await t.newTenant();
    const reader = t.as(await t.token(tenant, ['customers:read']));
    const { body } = await reader.graphql(RECORD, {
      input: orderBody({ customer: { email: 'r@example.com' } }),
    });
    expect(codeOf(body)).toBe('insufficient_scope');
    expect(await ordersOf(tenant.client, 'shop')).toEqual([]);
  });
});

describe('recordOrders', () => {
  it('records the good items of a mixed batch and reports the bad ones', async () => {
    const { client } = await t.newTenant();
    const source = `gb-${unique()}`;
    const customer = await newCustomer(client);
    const old = await newOrder(client, {
      source,
      customerId: customer.id,
      sourceUpdatedAt: '2026-01-02T10:00:00Z',
    });
    const same = await newOrder(client, { source, customerId: customer.id });
    const { body } = await client.graphql(RECORD_MANY, {
      items: [
        orderBody({ source, externalId: 'ok', customerId: customer.id }),
        orderBody({
          source,
          externalId: 'neg',
          customerId: customer.id,
          items: [{ sku: 'S', quantity: -1, unitPrice: { amount: 2500, currency: 'EUR' } }],
        }),
        orderBody({
          source,
          externalId: 'sum',
          customerId: customer.id,
          total: { amount: 1, currency: 'EUR' },
        }),
        orderBody({
          source,
          externalId: old.externalId,
          customerId: customer.id,
          status: 'cancelled',
          sourceUpdatedAt: '2026-01-03T10:00:00Z',
        }),
        orderBody({ source, externalId: same.externalId, customerId: customer.id }),
      ],
    });
    expect(body.errors).toBeUndefined();
    const out = body.data!.recordOrders;
    expect(out.results.map((r: { index: number; status: string }) => [r.index, r.status])).toEqual([
      [0, 'created'],
      [1, 'error'],
      [2, 'error'],
      [3, 'updated'],
      [4, 'unchanged'],
    ]);
    expect(out).toMatchObject({ created: 1, updated: 1, unchanged: 1, errors: 2 });
    expect(out.results[1].error.code).toBe('validation_failed');
    expect(out.results[1].error.errors.map((e: { path: string }) => e.path)).toContain(
      'items[1].items[0].quantity',
    );
    expect(out.results[2].error).toMatchObject({ code: 'order_total_mismatch', message: expect.any(String) });
    expect(out.results[4]).toMatchObject({ id: same.id, reason: expect.any(String) });
    const rows = await ordersOf(client, source);
    expect(rows.map((o) => [o.externalId, o.status, o.version]).sort()).toEqual(
      [
        [old.externalId, 'cancelled', 2],
        [same.externalId, 'paid', 1],
        ['ok', 'paid', 1],
      ].sort(),
    );
    expect(rows.find((o) => o.externalId === 'ok')!.id).toBe(out.results[0].id);
  });

  it('holds to the REST batch’s rules: 1 to 1,000 items, and an idempotencyKey replays the first result', async () => {
    const { client } = await t.newTenant();
    const empty = await client.graphql(RECORD_MANY, { items: [] });
    expect(codeOf(empty.body)).toBe('validation_failed');
    const keyed = `mutation ($items: [OrderInput!]!, $key: String) {
      recordOrders(items: $items, idempotencyKey: $key) { results { status id } created } }`;
    const items = [
      { ...orderBody({ source: `k-${unique()}` }), customer: { email: `k-${unique()}@example.com` } },
    ];
    const first = await client.graphql(keyed, { items, key: 'batch-1' });
    const again = await client.graphql(keyed, { items, key: 'batch-1' });
    expect(first.body.errors).toBeUndefined();
    expect(first.body.data!.recordOrders).toMatchObject({ created: 1 });
    expect(again.body.data).toEqual(first.body.data);
  });
});

describe('reading orders', () => {
  it('order(id): the order; null for an unknown id or another tenant’s; a bad id is validation_failed', async () => {
    const { client } = await t.newTenant();
    const order = await newOrder(client, { customer: { email: `r-${unique()}@example.com` } });
    const q = `query ($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`;
    const { body } = await client.graphql(q, { id: order.id });
    expect(body.data!.order).toMatchObject({
      id: order.id,
      externalId: order.externalId,
      total: order.total,
    });
    expect((await client.graphql(q, { id: randomUUID() })).body.data!.order).toBeNull();
    const other = await t.newTenant();
    expect((await other.client.graphql(q, { id: order.id })).body.data!.order).toBeNull();
    expect(codeOf((await client.graphql(q, { id: 'nope' })).body)).toBe('validation_failed');
  });

  it('orders(filter, first, after) walks a filtered connection without duplicates or skips', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const wanted: string[] = [];
    for (let i = 0; i < 5; i++)
      wanted.push((await newOrder(client, { source: 'gql', customerId: customer.id })).id);
    await newOrder(client, { source: 'elsewhere', customerId: customer.id });
    const q = `query ($filter: OrderFilter, $first: Int!, $after: String) {
      orders(filter: $filter, first: $first, after: $after) { nodes { id source } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    const more: boolean[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 6; guard++) {
      const { body } = await client.graphql(q, { filter: { source: 'gql' }, first: 2, after });
      expect(body.errors).toBeUndefined();
      const conn = body.data!.orders;
      for (const n of conn.nodes) expect(n.source).toBe('gql');
      seen.push(...conn.nodes.map((n: { id: string }) => n.id));
      more.push(conn.pageInfo.hasNextPage);
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toEqual([...wanted].sort());
    expect(more).toEqual([true, true, false]);
    const byStatus = await client.graphql(q, { filter: { status: 'cancelled' }, first: 10 });
    expect(byStatus.body.data!.orders.nodes).toEqual([]);
    expect(codeOf((await client.graphql(q, { first: 0 })).body)).toBe('validation_failed');
  });

  it('Customer.orders(first: 3) and Customer.purchases for 20 customers in one query', async () => {
    const { client } = await t.newTenant();
    const tag = `g20-${unique()}`;
    const customers: string[] = [];
    const items: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      const id = (await newCustomer(client, { tags: [tag] })).id;
      customers.push(id);
      const amount = 1000 * (i + 1);
      for (let k = 0; k < i % 6; k++) {
        items.push(
          orderBody({
            customerId: id,
            status: k === 1 ? 'cancelled' : 'paid',
            placedAt: `2026-01-0${k + 1}T10:00:00.000Z`,
            total: { amount, currency: 'EUR' },
            items: [{ sku: `S-${i}`, quantity: 1, unitPrice: { amount, currency: 'EUR' } }],
          }),
        );
      }
    }
    expect((await client.post('/v1/orders/batch', { items })).json().summary.errors).toBe(0);
    // no N+1: the loader reads each field's orders for all 20 customers at once
    const latest = vi.spyOn(t.app.services.orders, 'latestOrders');
    const purchasesOf = vi.spyOn(t.app.services.orders, 'purchases');
    const { body } = await client.graphql(
      `query ($tag: String) { customers(filter: { tag: $tag }, first: 20) { nodes { id
        orders(first: 3) { nodes { id customerId } pageInfo { hasNextPage } }
        latest: orders(first: 1) { nodes { id } }
        purchases { orders firstOrderAt lastOrderAt netRevenue { amount currency } items ordersWithDueDate ordersPaidOnTime }
      } } }`,
      { tag },
    );
    expect(body.errors).toBeUndefined();
    // one call per distinct `first` (3 and 1), one for the purchases, whatever the number of customers
    expect(latest.mock.calls.map((c) => [c[1].length, c[2]]).sort()).toEqual([
      [20, 1],
      [20, 3],
    ]);
    expect(purchasesOf).toHaveBeenCalledTimes(1);
    latest.mockRestore();
    purchasesOf.mockRestore();
    const nodes = body.data!.customers.nodes as Record<string, any>[];
    expect(nodes.map((n) => n.id).sort()).toEqual([...customers].sort());
    for (const node of nodes) {
      const i = customers.indexOf(node.id);
      const all = ((await client.get(`/v1/customers/${node.id}/orders`)).json().data as { id: string }[])
        .map((o) => o.id)
        .sort()
        .reverse();
      expect(all).toHaveLength(i % 6);
      expect(node.orders.nodes.map((o: { id: string }) => o.id)).toEqual(all.slice(0, 3));
      for (const o of node.orders.nodes) expect(o.customerId).toBe(node.id);
      expect(node.orders.pageInfo.hasNextPage).toBe(all.length > 3);
      expect(node.latest.nodes.map((o: { id: string }) => o.id)).toEqual(all.slice(0, 1));
      const { customerId, ...purchases } = (await client.get(`/v1/customers/${node.id}/purchases`)).json();
      expect(customerId).toBe(node.id);
      expect(node.purchases).toEqual(purchases);
      const counted = (i % 6) - (i % 6 >= 2 ? 1 : 0);
      expect(node.purchases).toMatchObject({
        orders: counted,
        netRevenue: { amount: counted * 1000 * (i + 1) },
      });
    }
    // the older orders: a page after the last one's cursor, to the end
    const busiest = customers[5]!;
    const all = ((await client.get(`/v1/customers/${busiest}/orders`)).json().data as { id: string }[])
      .map((o) => o.id)
      .sort()
      .reverse();
    const PAGE = `query ($id: ID!, $after: String) { customer(id: $id) {
      orders(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res = await client.graphql(PAGE, { id: busiest, after });
      expect(res.body.errors).toBeUndefined();
      const { edges, pageInfo } = res.body.data!.customer.orders;
      seen.push(...edges.map((e: { node: { id: string } }) => e.node.id));
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(seen).toEqual(all);
    expect(all).toHaveLength(5);
    const bad = await client.graphql(PAGE, { id: busiest, after: 'nope' });
    expect(bad.body.errors?.[0]?.extensions?.code).toBe('validation_failed');
  });
});
