import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('orders', () => {
  it('records an order for a new customer identity, which becomes active', async () => {
    const { client } = await t.newTenant();
    const res = await client.post('/v1/orders', orderBody({ customer: { email: 'New.Buyer@example.com' } }));
    expect(res.statusCode, res.body).toBe(201);
    const { result, order } = res.json();
    expect(result).toBe('created');
    expect(order.total).toEqual({ amount: 5000, currency: 'EUR' });
    expect(order.netTotal).toEqual({ amount: 5000, currency: 'EUR' });
    const customer = (await client.get(`/v1/customers/${order.customerId}`)).json();
    expect(customer.email).toBe('new.buyer@example.com');
    expect(customer.status).toBe('active');
    const history = (await client.get(`/v1/customers/${order.customerId}/status-history`)).json();
    expect(history.data).toEqual([
      expect.objectContaining({
        fromStatus: 'potential',
        toStatus: 'active',
        reason: 'first_order',
        changedAt: order.placedAt,
      }),
    ]);
    const purchases = (await client.get(`/v1/customers/${order.customerId}/purchases`)).json();
    expect(purchases).toMatchObject({ orders: 1, netRevenue: { amount: 5000, currency: 'EUR' }, items: 2 });
  });

  it('keeps the newest version whatever the arrival order', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const paid = orderBody({
      customerId: customer.id,
      externalId: 'o-1',
      status: 'paid',
      sourceUpdatedAt: '2026-01-02T10:00:00Z',
    });
    const placed = orderBody({
      customerId: customer.id,
      externalId: 'o-1',
      status: 'placed',
      sourceUpdatedAt: '2026-01-02T09:00:00Z',
    });
    expect((await client.post('/v1/orders', paid)).json().result).toBe('created');
    const stale = await client.post('/v1/orders', placed);
    expect(stale.statusCode).toBe(200);
    expect(stale.json()).toMatchObject({ result: 'unchanged', order: { status: 'paid' } });
    expect(stale.json().reason).toMatch(/newer/);
  });

  it('replays an idempotent request and refuses the key with another body', async () => {
    const { client } = await t.newTenant();
    const body = orderBody({ customer: { email: 'idem@example.com' } });
    const first = await client.post('/v1/orders', body, { 'idempotency-key': 'k-1' });
    const again = await client.post('/v1/orders', body, { 'idempotency-key': 'k-1' });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await client.post('/v1/orders', { ...body, externalId: 'x' }, { 'idempotency-key': 'k-1' });
    expect(other.statusCode).toBe(422);
    expect(other.json().code).toBe('idempotency_key_reused');
  });

  it('checks the references of a customer created by an order, failing only that item', async () => {
    const { client } = await t.newTenant();
    const distributor = (
      await client.post('/v1/intermediaries', { kind: 'distributor', name: 'Distri' })
    ).json();
    const res = await client.post('/v1/orders/batch', {
      items: [
        orderBody({ customer: { email: 'a@example.com', accountManagerId: distributor.id } }),
        orderBody({
          customer: {
            email: 'b@example.com',
            referredBy: { kind: 'customer', id: '01936f0e-0000-7000-8000-0000000000ff' },
          },
        }),
        orderBody({ customer: { email: 'c@example.com' } }),
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    const [a, b, c] = res.json().results;
    expect(a).toMatchObject({
      status: 'error',
      error: { code: 'invalid_reference', errors: [{ path: 'items[0].customer.accountManagerId' }] },
    });
    expect(b).toMatchObject({
      status: 'error',
      error: { code: 'invalid_reference', errors: [{ path: 'items[1].customer.referredBy' }] },
    });
    expect(c.status).toBe('created');
    expect((await client.get('/v1/customers?email=a@example.com')).json().data).toEqual([]);
  });
});
