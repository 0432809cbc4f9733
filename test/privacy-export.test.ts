import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { complaintBody, newCustomer, newOrder } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const profile = {
  externalId: 'exp-1',
  email: 'marta.exporta@example.com',
  phone: '+34600111222',
  firstName: 'Marta',
  lastName: 'Ruiz',
  birthDate: '1990-07-15',
  address: { line: 'Calle Feria 3', city: 'Sevilla', postalCode: '41003', country: 'ES' },
  tags: ['vip-event'],
  consent: { email: { granted: true, at: '2026-01-02T09:00:00.000Z', source: 'web_form' } },
};

describe('GET /v1/customers/:id/export', () => {
  it('holds everything seeded for the customer, and nothing of another tenant’s customer with the same email', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const c = await newCustomer(a.client, profile);
    const other = await newCustomer(b.client, { ...profile, firstName: 'Otra' });
    await newOrder(b.client, { customerId: other.id, externalId: 'b-order' });
    const order = await newOrder(a.client, { customerId: c.id, externalId: 'a-order' });
    const interaction = (await a.client.post('/v1/interactions', complaintBody(c.id))).json();
    const feedback = (
      await a.client.post('/v1/feedback', {
        customerId: c.id,
        dimension: 'overall',
        expectation: 6,
        perception: 4,
        nps: 5,
      })
    ).json();

    const list = (await a.client.post('/v1/segments', { name: 'hand picked', kind: 'static' })).json();
    await a.client.post(`/v1/segments/${list.id}/members`, { customerIds: [c.id] });

    const res = await a.client.get(`/v1/customers/${c.id}/export`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-disposition']).toContain(`customer-${c.id}.json`);
    const doc = res.json();
    expect(doc.format).toBe('vinculo.customer-export/1');
    expect(doc.customer).toMatchObject({
      id: c.id,
      email: profile.email,
      phone: profile.phone,
      firstName: 'Marta',
      birthDate: '1990-07-15',
      address: { line: 'Calle Feria 3', city: 'Sevilla', postalCode: '41003', country: 'ES' },
      tags: ['vip-event'],
    });
    expect(doc.consentHistory).toMatchObject([{ channel: 'email', granted: true, source: 'web_form' }]);
    expect(doc.orders.map((o: any) => o.id)).toEqual([order.id]);
    expect(doc.interactions.map((i: any) => i.id)).toEqual([interaction.id]);
    expect(doc.feedback.map((f: any) => f.id)).toEqual([feedback.id]);
    expect(doc.scores.customerId).toBe(c.id);
    expect(doc.statusHistory).toMatchObject([
      { fromStatus: 'potential', toStatus: 'active', reason: 'first_order' },
    ]);
    expect(doc.tierHistory).toEqual([]);
    expect(doc.segments).toMatchObject([{ segment: { id: list.id, name: 'hand picked', kind: 'static' } }]);
    expect(doc.segmentHistory).toMatchObject([{ segmentId: list.id, change: 'entered', reason: 'manual' }]);
    // nothing of tenant B: not its customer, not its order, not its name
    expect(res.body).not.toContain(other.id);
    expect(res.body).not.toContain('b-order');
    expect(res.body).not.toContain('Otra');
  });

  it('is one snapshot: feedback committed while the export is being read is not in it', async () => {
    const a = await t.newTenant();
    const c = await newCustomer(a.client);
    const { interactions, feedback } = t.app.services;
    const list = interactions.list.bind(interactions);
    const actor = { sub: 'other', tenantId: a.id, scopes: new Set<string>(), segments: null };
    // between the export's reads of the orders and of the feedback, another client records feedback
    interactions.list = (async (...args: Parameters<typeof list>) => {
      interactions.list = list;
      await feedback.create(actor, { customerId: c.id, dimension: 'overall', expectation: 5, perception: 6 });
      return list(...args);
    }) as typeof list;
    try {
      const res = await a.client.get(`/v1/customers/${c.id}/export`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().feedback).toEqual([]);
    } finally {
      interactions.list = list;
    }
    expect((await a.client.get(`/v1/customers/${c.id}/export`)).json().feedback).toHaveLength(1);
  });

  it('needs privacy:manage; another tenant’s customer is 404', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const c = await newCustomer(a.client);
    const reader = t.as(await t.token(a, ['customers:read', 'customers:pii']));
    const denied = await reader.get(`/v1/customers/${c.id}/export`);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().code).toBe('insufficient_scope');
    const privacy = t.as(await t.token(a, ['privacy:manage']));
    const ok = await privacy.get(`/v1/customers/${c.id}/export`);
    expect(ok.statusCode, ok.body).toBe(200);
    // privacy:manage alone sees the personal data: an export without it would be incomplete
    expect(ok.json().customer.email).toBe(c.email);
    expect((await b.client.get(`/v1/customers/${c.id}/export`)).statusCode).toBe(404);
    expect((await a.client.get('/v1/customers/nope/export')).statusCode).toBe(400);
  });
});
