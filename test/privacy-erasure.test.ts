import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { complaintBody, newCustomer, newOrder } from './helpers/factories.ts';

let t: TestApp;
let owner: pg.Client;
beforeAll(async () => {
  t = await createTestApp();
  owner = new pg.Client({ connectionString: inject('ownerUrl') });
  await owner.connect();
});
afterAll(async () => {
  await owner.end();
  await t.close();
});

/** Every table of the database (as the owner, whom RLS does not bind here), searched for a value. */
async function tablesHolding(value: string): Promise<string[]> {
  const tables = await owner.query<{ name: string }>(
    `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
     WHERE table_schema IN ('public', 'graphile_worker') AND table_type = 'BASE TABLE'`,
  );
  const found: string[] = [];
  for (const { name } of tables.rows) {
    const hit = await owner.query(`SELECT 1 FROM ${name} x WHERE strpos(x::text, $1) > 0 LIMIT 1`, [value]);
    if (hit.rowCount) found.push(name);
  }
  return found;
}

describe('erasure: DELETE /v1/customers/:id', () => {
  it('removes the personal data from every table, events and delivery logs included; orders stay', async () => {
    const { client } = await t.newTenant();
    const suffix = Math.random().toString(36).slice(2, 10);
    const email = `erase-${suffix}@example.com`;
    const phone = `+3460${Math.floor(Math.random() * 1e7)}`;
    const c = await newCustomer(client, {
      email,
      phone,
      firstName: `Nombre${suffix}`,
      birthDate: '1985-02-03',
      address: { line: `Calle ${suffix} 1`, city: 'Sevilla', country: 'ES' },
      consent: { email: { granted: true, source: 'web_form' } },
    });
    await client.post('/v1/webhooks', { url: 'https://example.com/hooks', events: ['*'] });
    const order = await newOrder(client, { customerId: c.id });
    await client.post(
      '/v1/interactions',
      complaintBody(c.id, { body: `Soy ${email}, llamadme al ${phone}` }),
    );
    await client.post('/v1/feedback', {
      customerId: c.id,
      dimension: 'overall',
      expectation: 6,
      perception: 3,
      comment: `escribidme a ${email}`,
    });
    const again = await client.post(
      '/v1/customers',
      { email: `other-${suffix}@example.com`, firstName: 'Otra' },
      { 'idempotency-key': `k-${suffix}` },
    );
    expect(again.statusCode).toBe(201);
    await client.patch(`/v1/customers/${c.id}`, { tags: ['vip'] }, { 'idempotency-key': `p-${suffix}` });
    const list = (await client.post('/v1/segments', { name: 'list', kind: 'static' })).json();
    await client.post(`/v1/segments/${list.id}/members`, { customerIds: [c.id] });
    expect(await tablesHolding(email)).not.toEqual([]);

    const erased = await client.delete(`/v1/customers/${c.id}`);
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json()).toMatchObject({ customerId: c.id, requestedBy: expect.any(String) });

    for (const value of [email, phone, `Nombre${suffix}`, `Calle ${suffix} 1`])
      expect(await tablesHolding(value)).toEqual([]);
    // a second request answers the same
    const second = await client.delete(`/v1/customers/${c.id}`);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual(erased.json());
    // the customer is gone from every read and search
    expect((await client.get(`/v1/customers/${c.id}`)).statusCode).toBe(404);
    for (const search of [`email=${encodeURIComponent(email)}`, `q=Nombre${suffix}`, 'tag=vip']) {
      const found = await client.get(`/v1/customers?${search}`);
      expect(found.statusCode).toBe(200);
      expect(found.json().data).toEqual([]);
    }
    expect((await client.get(`/v1/segments/${list.id}`)).json().memberCount).toBe(0);
    expect((await client.get(`/v1/customers/${c.id}/segments`)).statusCode).toBe(404);
    // the order stays, with no personal data
    const kept = await client.get(`/v1/orders/${order.id}`);
    expect(kept.statusCode).toBe(200);
    expect(kept.json().customerId).toBe(c.id);
    // customer.erased carries the id only; the customer's earlier events keep only the id
    const events = (await client.get('/v1/events')).json().data as {
      type: string;
      data: Record<string, unknown>;
    }[];
    expect(events.find((e) => e.type === 'customer.erased')?.data).toEqual({ customerId: c.id });
    expect(events.find((e) => e.type === 'customer.created')?.data).toEqual({
      customerId: c.id,
      erased: true,
    });
    // the other customer's events are untouched
    expect(JSON.stringify(events)).toContain(`other-${suffix}@example.com`);
  });

  it('needs privacy:manage; an unknown customer is 404; an order for the erased customer is refused', async () => {
    const tenant = await t.newTenant();
    const c = await newCustomer(tenant.client);
    const writer = t.as(await t.token(tenant, ['customers:write', 'customers:read']));
    expect((await writer.delete(`/v1/customers/${c.id}`)).statusCode).toBe(403);
    expect(
      (await tenant.client.delete('/v1/customers/0193a0a0-0000-7000-8000-000000000000')).statusCode,
    ).toBe(404);
    expect((await tenant.client.delete(`/v1/customers/${c.id}`)).statusCode).toBe(200);
    const late = await tenant.client.post('/v1/orders', {
      source: 'shop',
      externalId: 'late-1',
      customerId: c.id,
      placedAt: '2026-01-02T10:00:00.000Z',
      status: 'paid',
      total: { amount: 100, currency: 'EUR' },
    });
    expect(late.statusCode).toBe(422);
  });
});
