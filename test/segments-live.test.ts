import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ jobs: true });
});
afterAll(() => t.close());

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('live membership with background jobs', () => {
  it('an order enters the buyer without anyone asking: trigger → notification → job → incremental pass', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const created = await client.post('/v1/segments', {
      name: 'recent buyers',
      definition: { version: 1, all: [{ orders: { within: 'P30D' } }] },
    });
    const id = created.json().id as string;
    expect(created.json().memberCount).toBe(0);
    const placedAt = new Date(Date.now() - 60_000).toISOString();
    expect(
      (
        await client.post(
          '/v1/orders',
          orderBody({ customerId: customer.id, placedAt, sourceUpdatedAt: placedAt }),
        )
      ).statusCode,
    ).toBe(201);
    const segment = await until(
      async () => (await client.get(`/v1/segments/${id}`)).json(),
      (s) => s.memberCount === 1,
    );
    expect(segment.memberCount).toBe(1);
    const history = (await client.get(`/v1/segments/${id}/history`)).json().data;
    expect(history).toMatchObject([{ customerId: customer.id, change: 'entered', reason: 'change' }]);
  });

  it('POST /v1/segments/:id/refresh runs a full refresh as a job', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const created = await client.post('/v1/segments', {
      name: 'everyone',
      definition: { version: 1, all: [] },
    });
    const id = created.json().id as string;
    const started = await client.post(`/v1/segments/${id}/refresh`);
    expect(started.statusCode).toBe(202);
    const job = await until(
      async () => (await client.get(`/v1/jobs/${started.json().id}`)).json(),
      (j) => j.status === 'succeeded' || j.status === 'failed',
    );
    expect(job).toMatchObject({ kind: 'segments.refresh', status: 'succeeded', result: { segments: 1 } });
    expect((await client.get(`/v1/segments/${id}`)).json().refreshedAt).not.toBeNull();
    // a partner token may read the segment, not the job (its counts cover members it cannot see)
    const partner = t.as(await t.token(tenant, ['segments:read'], { segments: [id] }));
    const refused = await partner.get(`/v1/jobs/${started.json().id}`);
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json().code).toBe('insufficient_scope');
    const overGraphql = await partner.graphql(`{ job(id: "${started.json().id}") { id result } }`);
    expect(overGraphql.body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
  });

  it('a customer written while the tenant’s first dynamic segment is built enters it all the same', async () => {
    const tenant = await t.newTenant();
    // a write in flight: begun before the segment exists, committed after its first build
    let commit!: () => void;
    const decided = new Promise<void>((r) => {
      commit = r;
    });
    let wrote!: () => void;
    const written = new Promise<void>((r) => {
      wrote = r;
    });
    const write = t.db.withTenant(tenant.id, async (tx) => {
      const actor = { sub: 'w', tenantId: tenant.id, scopes: new Set<string>(), segments: null };
      await t.app.services.customers.batchUpsertIn(tx, actor, [{ externalId: 'in-flight', tags: ['vip'] }]);
      wrote();
      await decided;
    });
    await written;
    const created = await tenant.client.post('/v1/segments', {
      name: 'vips',
      definition: { version: 1, all: [{ field: 'tags', op: 'contains', value: 'vip' }] },
    });
    expect(created.json().memberCount).toBe(0);
    commit();
    await write;
    const id = created.json().id as string;
    const after = await until(
      async () => (await tenant.client.get(`/v1/segments/${id}`)).json().memberCount as number,
      (n) => n === 1,
    );
    expect(after).toBe(1);
  });
});
