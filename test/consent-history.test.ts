import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('consent history', () => {
  it('keeps every consent given or withdrawn, with when, how and which client recorded it', async () => {
    const tenant = await t.newTenant();
    const c = await newCustomer(tenant.client, {
      consent: {
        email: { granted: true, at: '2026-01-05T10:00:00.000Z', source: 'web_form' },
        sms: { granted: false },
      },
    });
    const withdrawn = await tenant.client.patch(`/v1/customers/${c.id}`, {
      consent: { email: { granted: false, at: '2026-02-01T08:00:00.000Z', source: 'unsubscribe_link' } },
    });
    expect(withdrawn.statusCode, withdrawn.body).toBe(200);
    // a change of something else records nothing
    expect((await tenant.client.patch(`/v1/customers/${c.id}`, { firstName: 'Lola' })).statusCode).toBe(200);

    const res = await tenant.client.get(`/v1/customers/${c.id}/consent-history`);
    expect(res.statusCode, res.body).toBe(200);
    const history = res.json().data;
    const subject = (await tenant.client.graphql('{ viewer { subject } }')).body.data!.viewer.subject;
    // oldest first by the consent's own time: the sms one, without `at`, is dated by the request
    expect(history).toEqual([
      {
        channel: 'email',
        granted: true,
        at: '2026-01-05T10:00:00.000Z',
        source: 'web_form',
        recordedBy: subject,
        recordedAt: expect.any(String),
      },
      {
        channel: 'email',
        granted: false,
        at: '2026-02-01T08:00:00.000Z',
        source: 'unsubscribe_link',
        recordedBy: subject,
        recordedAt: expect.any(String),
      },
      {
        channel: 'sms',
        granted: false,
        at: expect.any(String),
        source: null,
        recordedBy: subject,
        recordedAt: expect.any(String),
      },
    ]);
    // the customer shows the current state
    expect((await tenant.client.get(`/v1/customers/${c.id}`)).json().consent.email).toEqual({
      granted: false,
      at: '2026-02-01T08:00:00.000Z',
    });
  });

  it('keeps the latest consent current whatever the arrival order; a consent dated in the future is refused', async () => {
    const tenant = await t.newTenant();
    const c = await newCustomer(tenant.client, {
      consent: { email: { granted: false, at: '2026-02-01T08:00:00.000Z', source: 'unsubscribe_link' } },
    });
    // a grant from a year before, arriving late (an import of old records, a delayed sync)
    const late = await tenant.client.patch(`/v1/customers/${c.id}`, {
      consent: { email: { granted: true, at: '2025-01-01T00:00:00.000Z', source: 'old_crm' } },
    });
    expect(late.statusCode, late.body).toBe(200);
    expect(late.json().consent.email).toMatchObject({ granted: false, at: '2026-02-01T08:00:00.000Z' });
    const history = (await tenant.client.get(`/v1/customers/${c.id}/consent-history`)).json().data;
    expect(history.map((h: any) => [h.granted, h.at])).toEqual([
      [true, '2025-01-01T00:00:00.000Z'],
      [false, '2026-02-01T08:00:00.000Z'],
    ]);
    const future = await tenant.client.patch(`/v1/customers/${c.id}`, {
      consent: { email: { granted: true, at: new Date(Date.now() + 86_400_000).toISOString() } },
    });
    expect(future.statusCode).toBe(400);
    expect(future.json().errors.map((e: any) => e.path)).toEqual(['consent.email.at']);
  });

  it('a repeated write (a retried upsert) adds no entry; a consent without its own time is dated by its request', async () => {
    const tenant = await t.newTenant();
    const body = {
      externalId: `rep-${Date.now()}`,
      consent: { email: { granted: true, at: '2026-03-01T10:00:00.000Z', source: 'web_form' } },
    };
    for (let i = 0; i < 3; i++)
      expect((await tenant.client.post('/v1/customers/batch', { items: [body] })).statusCode).toBe(200);
    const [c] = (await tenant.client.get(`/v1/customers?externalId=${body.externalId}`)).json().data;
    const history = async () =>
      (await tenant.client.get(`/v1/customers/${c.id}/consent-history`)).json().data;
    expect(await history()).toHaveLength(1);
    // a grant stamped a few minutes ahead (a fast clock), then a withdrawal without a time: the
    // withdrawal is dated by its own request, not by the grant it lost to
    const ahead = new Date(Date.now() + 3 * 60_000).toISOString();
    await tenant.client.patch(`/v1/customers/${c.id}`, { consent: { sms: { granted: true, at: ahead } } });
    const before = Date.now();
    await tenant.client.patch(`/v1/customers/${c.id}`, { consent: { sms: { granted: false } } });
    const sms = (await history()).filter((h: { channel: string }) => h.channel === 'sms');
    expect(sms.map((h: { granted: boolean }) => h.granted)).toEqual([false, true]);
    expect(Date.parse(sms[0].at)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(sms[0].at)).toBeLessThan(Date.parse(ahead));
  });

  it('refuses a customer referring themselves, naming the field', async () => {
    const tenant = await t.newTenant();
    const c = await newCustomer(tenant.client);
    const res = await tenant.client.patch(`/v1/customers/${c.id}`, {
      referredBy: { kind: 'customer', id: c.id },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'invalid_reference', errors: [{ path: 'referredBy.id' }] });
  });

  it('records the consent of customers created by a batch upsert and by an order’s buyer identity', async () => {
    const tenant = await t.newTenant();
    const batch = await tenant.client.post('/v1/customers/batch', {
      items: [{ externalId: 'cb-1', consent: { mail: { granted: true, source: 'store' } } }],
    });
    expect(batch.statusCode, batch.body).toBe(200);
    const id = batch.json().results[0].id;
    const first = (await tenant.client.get(`/v1/customers/${id}/consent-history`)).json().data;
    expect(first).toMatchObject([{ channel: 'mail', granted: true, source: 'store' }]);

    const order = await tenant.client.post(
      '/v1/orders',
      orderBody({
        customer: { externalId: 'buyer-1', consent: { email: { granted: true, source: 'checkout' } } },
      }),
    );
    expect(order.statusCode, order.body).toBe(201);
    const buyer = order.json().order.customerId;
    const bought = (await tenant.client.get(`/v1/customers/${buyer}/consent-history`)).json().data;
    expect(bought).toMatchObject([{ channel: 'email', granted: true, source: 'checkout' }]);
  });

  it('GraphQL writes keep the history too', async () => {
    const tenant = await t.newTenant();
    const { body } = await tenant.client.graphql(
      'mutation { createCustomer(input: { externalId: "g-1", consent: { sms: { granted: true, source: "call_center" } } }) { id } }',
    );
    expect(body.errors).toBeUndefined();
    const history = (
      await tenant.client.get(`/v1/customers/${body.data!.createCustomer.id}/consent-history`)
    ).json();
    expect(history.data).toMatchObject([{ channel: 'sms', granted: true, source: 'call_center' }]);
  });

  it('bad input and other tenants', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const c = await newCustomer(a.client);
    const bad = await a.client.patch(`/v1/customers/${c.id}`, {
      consent: { email: { granted: true, source: 'x'.repeat(101) } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toBe('consent.email.source');
    expect((await a.client.get(`/v1/customers/${c.id}/consent-history`)).json().data).toEqual([]);
    expect((await b.client.get(`/v1/customers/${c.id}/consent-history`)).statusCode).toBe(404);
  });
});
