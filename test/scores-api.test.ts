import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ jobs: true });
});
afterAll(() => t.close());

/** Polls until `done` holds for the GET body, or fails after about 20 s. */
async function until(get: () => Promise<any>, done: (body: any) => boolean) {
  for (let i = 0; i < 200; i++) {
    const body = await get();
    if (done(body)) return body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the condition never held');
}

const money = (amount: number) => ({
  total: { amount, currency: 'EUR' },
  items: [{ sku: 'S', quantity: 1, unitPrice: { amount, currency: 'EUR' } }],
});

describe('scores through the API and the workers', () => {
  it('POST /v1/scores/recompute → 202 and a job that GET /v1/jobs/:id follows to its result', async () => {
    const { client } = await t.newTenant();
    const c = await newCustomer(client);
    await client.post('/v1/orders', orderBody({ customerId: c.id }));
    const res = await client.post('/v1/scores/recompute', {});
    expect(res.statusCode, res.body).toBe(202);
    const job = res.json();
    expect(job).toMatchObject({ kind: 'scores.recompute', status: 'queued' });
    const done = await until(
      async () => (await client.get(`/v1/jobs/${job.id}`)).json(),
      (b) => b.status === 'succeeded' || b.status === 'failed',
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      progress: { step: 'done', percent: 100 },
      result: { customers: 1, fitted: false },
    });
    expect(done.finishedAt).not.toBeNull();
    const scores = (await client.get(`/v1/customers/${c.id}/scores`)).json();
    expect(scores.rfm).toMatchObject({ frequency: 1, r: 1, f: 1, m: 1, cell: 'Lost' });

    // the purchase days are kept from the scores rows; rebuild reads them from the orders again
    const run = async (body: object) => {
      const started = await client.post('/v1/scores/recompute', body);
      expect(started.statusCode, started.body).toBe(202);
      return until(
        async () => (await client.get(`/v1/jobs/${started.json().id}`)).json(),
        (b) => b.status === 'succeeded' || b.status === 'failed',
      );
    };
    expect(await run({})).toMatchObject({
      status: 'succeeded',
      result: { featuresFromOrders: 0, written: 0 },
    });
    expect(await run({ rebuild: true })).toMatchObject({
      status: 'succeeded',
      result: { featuresFromOrders: 1, written: 0 },
    });
    const bad = await client.post('/v1/scores/recompute', { rebuild: 'yes' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors).toEqual([expect.objectContaining({ path: 'rebuild' })]);
  });

  it('an order write refreshes the customer’s scores within seconds, without a manual recompute', async () => {
    const { client } = await t.newTenant();
    const c = await newCustomer(client);
    const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
    await client.post('/v1/orders', orderBody({ customerId: c.id, placedAt: daysAgo(10) }));
    // the first refresh of a tenant is a full recompute; then each write refreshes the touched customers
    await until(
      async () => (await client.get(`/v1/customers/${c.id}/scores`)).json(),
      (b) => b.rfm.frequency === 1,
    );
    await client.post('/v1/orders', orderBody({ customerId: c.id, placedAt: daysAgo(2) }));
    const after = await until(
      async () => (await client.get(`/v1/customers/${c.id}/scores`)).json(),
      (b) => b.rfm.frequency === 2,
    );
    expect(after.rfm.monetary).toEqual({ amount: 10000, currency: 'EUR' });
    expect(after.status).toEqual({ status: 'active', lifecyclePhase: 'retention' });
  });

  it('an import of orders refreshes the scores of the customers it touched', async () => {
    const { client, token } = await t.newTenant();
    const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
    const csv = [
      'source,externalId,customer.externalId,placedAt,status,currency,total',
      `shop,I1,imp-1,${day(20)},paid,EUR,3000`,
      `shop,I2,imp-1,${day(3)},paid,EUR,2000`,
    ].join('\n');
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/imports?type=orders',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(res.statusCode, res.body).toBe(202);
    const customer = await until(
      async () => (await client.get('/v1/customers?limit=10')).json().data,
      (list) => list.length === 1,
    );
    const scores = await until(
      async () => (await client.get(`/v1/customers/${customer[0].id}/scores`)).json(),
      (b) => b.rfm.frequency === 2,
    );
    expect(scores.rfm).toMatchObject({ recencyDays: 3, monetary: { amount: 5000, currency: 'EUR' } });
    expect(scores.status).toEqual({ status: 'active', lifecyclePhase: 'retention' });
  });

  it('a change of the score settings recomputes; bad settings are refused with their paths', async () => {
    const { client } = await t.newTenant();
    // one big order against three small ones: the weights decide who scores higher
    const big = await newCustomer(client);
    const small = await newCustomer(client);
    await client.post('/v1/orders', orderBody({ customerId: big.id, ...money(10_000) }));
    for (let k = 0; k < 3; k++)
      await client.post('/v1/orders', orderBody({ customerId: small.id, ...money(1000) }));
    const scoresOf = async (id: string) => (await client.get(`/v1/customers/${id}/scores`)).json();
    const before = await until(
      () => scoresOf(small.id),
      (b) => b.value.score !== null && b.rfm.frequency === 3,
    );
    expect(before.value.dimensions.volume.weight).toBe(1);
    const ok = await client.patch('/v1/settings', {
      scores: { weights: { volume: 0, frequency: 0, amount: 1, punctuality: 0, seniority: 0 } },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().scores.weights.amount).toBe(1);
    expect(ok.json().scores.tiers).toEqual({ vip: 0.05, gold: 0.2, silver: 0.5 });
    // the response explains the score with the weights it was made with: the new ones once the
    // recompute the change triggered has run
    const rescored = await until(
      () => scoresOf(small.id),
      (b) => b.value.dimensions.volume.weight === 0,
    );
    expect(rescored.value.score).toBeCloseTo(50, 6);
    expect(rescored.value.dimensions.amount).toMatchObject({ normalized: 0.5, weight: 1, contribution: 50 });
    expect((await scoresOf(big.id)).value.score).toBeCloseTo(100, 6);

    for (const [scores, path] of [
      [{ weights: { volume: 0, frequency: 0, amount: 0, punctuality: 0, seniority: 0 } }, 'scores.weights'],
      // punctuality alone would leave every buyer without due dates unscored
      [{ weights: { volume: 0, frequency: 0, amount: 0, punctuality: 1, seniority: 0 } }, 'scores.weights'],
      [
        { weights: { volume: -1, frequency: 1, amount: 1, punctuality: 1, seniority: 1 } },
        'scores.weights.volume',
      ],
      [{ tiers: { vip: 0.3, gold: 0.2, silver: 0.5 } }, 'scores.tiers'],
      [
        {
          status: {
            atRiskAfterDays: 400,
            inactiveAfterDays: 365,
            atRiskProbability: 0.3,
            atRiskGapMultiple: 3,
          },
        },
        'scores.status.atRiskAfterDays',
      ],
      [{ nightlyAt: '25:00' }, 'scores.nightlyAt'],
      [{ monthlyDiscountRate: 2 }, 'scores.monthlyDiscountRate'],
    ] as const) {
      const bad = await client.patch('/v1/settings', { scores });
      expect(bad.statusCode, JSON.stringify(scores)).toBe(400);
      expect(bad.json().errors.map((e: any) => e.path)).toContain(path);
    }
    expect((await client.get('/v1/settings')).json().scores.weights.amount).toBe(1);

    // weights stored before the punctuality rule still read and still take other changes
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    await owner.query(
      `UPDATE tenants SET settings = jsonb_set(settings, '{scores,weights}',
        '{"volume":0,"frequency":0,"amount":0,"punctuality":1,"seniority":0}') WHERE id = $1`,
      [tenantId],
    );
    await owner.end();
    const stored = await client.get('/v1/settings');
    expect(stored.statusCode, stored.body).toBe(200);
    expect(stored.json().scores.weights.punctuality).toBe(1);
    expect((await client.patch('/v1/settings', { scores: { nightlyAt: '04:00' } })).statusCode).toBe(200);
  });

  it('scopes, unknown and cross-tenant customers, bad queries', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const c = await newCustomer(a.client);
    expect((await b.client.get(`/v1/customers/${c.id}/scores`)).statusCode).toBe(404);
    expect((await a.client.get(`/v1/customers/${c.id}/scores?horizonDays=0`)).statusCode).toBe(400);
    expect((await a.client.get('/v1/customers/not-a-uuid/scores')).statusCode).toBe(400);
    const reader = t.as(await t.token(a, ['customers:read']));
    const denied = await reader.get(`/v1/customers/${c.id}/scores`);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().code).toBe('insufficient_scope');
    const scoresReader = t.as(await t.token(a, ['scores:read']));
    expect((await scoresReader.post('/v1/scores/recompute', {})).statusCode).toBe(403);
    expect((await scoresReader.get('/v1/scores/model')).statusCode).toBe(200);
    const job = (await a.client.post('/v1/scores/recompute', { refit: false })).json();
    expect((await b.client.get(`/v1/jobs/${job.id}`)).statusCode).toBe(404);
    expect((await a.client.post('/v1/scores/recompute', { refit: 'yes' })).statusCode).toBe(400);
    // no body at all is a recompute with a refit
    expect((await a.client.post('/v1/scores/recompute')).statusCode).toBe(202);
    expect(
      (await a.client.get('/v1/insights/lifecycle?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z'))
        .statusCode,
    ).toBe(400);
  });

  it('the client that started a job follows it without the scope of its result; others need it', async () => {
    const tenant = await t.newTenant();
    const admin = t.as(await t.token(tenant, ['admin']));
    const started = await admin.post('/v1/scores/recompute', { refit: false });
    expect(started.statusCode, started.body).toBe(202);
    const url = `/v1/jobs/${started.json().id}`;
    const own = await admin.get(url);
    expect(own.statusCode, own.body).toBe(200);
    expect(own.json().kind).toBe('scores.recompute');
    expect((await t.as(await t.token(tenant, ['admin'])).get(url)).statusCode).toBe(404);
    expect((await t.as(await t.token(tenant, ['scores:read'])).get(url)).statusCode).toBe(200);
  });

  it('a failed attempt requeues the job with its error, the last one fails it; no SQL is shown', async () => {
    const tenant = await t.newTenant();
    const { jobRuns } = t.app.services;
    const actor = {
      tenantId: tenant.id,
      sub: 'test',
      scopes: new Set(['admin', 'scores:read']),
      segments: null,
    };
    // a task no worker runs: the run stays where this test puts it
    const run = await jobRuns.start(actor as never, 'scores.recompute', 'test_never_runs');
    const failure = Object.assign(
      new Error('Failed query: insert into "customers" ("email") values ($1) params: ana@example.com'),
      { code: '40P01' },
    );
    await jobRuns.running(tenant.id, run.id);
    await jobRuns.finish(tenant.id, run.id, { error: failure, last: false });
    const retried = (await tenant.client.get(`/v1/jobs/${run.id}`)).json();
    expect(retried).toMatchObject({
      status: 'queued',
      finishedAt: null,
      error:
        'an unexpected error (database error 40P01) stopped the job; the worker log has it (this attempt failed; the job will be retried)',
    });
    await jobRuns.running(tenant.id, run.id);
    await jobRuns.finish(tenant.id, run.id, { error: failure, last: true });
    const failed = (await tenant.client.get(`/v1/jobs/${run.id}`)).json();
    expect(failed).toMatchObject({
      status: 'failed',
      error: 'an unexpected error (database error 40P01) stopped the job; the worker log has it',
    });
    expect(failed.finishedAt).not.toBeNull();
    expect(JSON.stringify(failed)).not.toContain('ana@example.com');
  });

  it('GraphQL: Customer.scores through a loader, the model, the insights and the recompute mutation', async () => {
    const { client } = await t.newTenant();
    const c = await newCustomer(client);
    await client.post('/v1/orders', orderBody({ customerId: c.id }));
    await until(
      async () => (await client.get(`/v1/customers/${c.id}/scores`)).json(),
      (b) => b.rfm.frequency === 1,
    );
    const { body } = await client.graphql(`{
      customers(first: 10) { nodes { id scores { rfm { frequency r cell } value { score tier } status { status } model { fitted reason } sixR { reactivation { times } } } } }
      scoreModel { fitted modelVersion timeUnit }
      rfmInsights { buyers cells { cell customers } }
      sixRInsights { customers buyers repeatPurchaseRate }
      lifecycleInsights(from: "2026-01-01T00:00:00Z") { flows { acquired } }
    }`);
    expect(body.errors).toBeUndefined();
    expect(body.data!.customers.nodes[0].scores).toMatchObject({
      rfm: { frequency: 1, r: 1, cell: 'Lost' },
      value: { tier: 'vip' },
      // the factory's order is from January: more than 180 days of silence
      status: { status: 'at_risk' },
      model: { fitted: false },
      sixR: { reactivation: { times: 0 } },
    });
    expect(body.data!.scoreModel).toMatchObject({ fitted: false, timeUnit: 'days' });
    expect(body.data!.rfmInsights.buyers).toBe(1);
    expect(body.data!.sixRInsights).toMatchObject({ customers: 1, buyers: 1, repeatPurchaseRate: 0 });
    expect(body.data!.lifecycleInsights.flows.acquired).toBe(1);

    const started = await client.graphql('mutation { recomputeScores(refit: false) { id kind status } }');
    expect(started.body.data!.recomputeScores).toMatchObject({ kind: 'scores.recompute', status: 'queued' });
    const reader = t.as(
      await t.token({ id: (await client.get('/v1/settings')).json().tenantId, slug: '' }, ['customers:read']),
    );
    const denied = await reader.graphql(`{ customers(first: 1) { nodes { scores { rfm { r } } } } }`);
    expect(denied.body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
  });
});
