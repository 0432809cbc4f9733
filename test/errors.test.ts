import Fastify, { type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { mintToken, TENANT_SCOPES, type Verifier } from '../src/platform/auth.ts';
import { createPool, Database } from '../src/platform/db.ts';
import { httpPlatform } from '../src/platform/http.ts';
import { AUDIENCE, createTestApp, ISSUER, TEST_SECRET, type TestApp, testConfig } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const STACK = /\bat \S+ \(|\bat (file:\/\/|\/|node:)|\.(ts|js|mjs):\d+:\d+|node_modules|\/work\//;

/** An RFC 9457 body with the given status and code, and never a stack trace. */
function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  expect(typeof body.detail).toBe('string');
  expect(res.body).not.toMatch(STACK);
  expect(body.stack).toBeUndefined();
  return body as { errors?: { path: string; message: string }[]; [k: string]: unknown };
}

/** An order of one new buyer (by email) for the batch endpoint, with `extra` fields. */
const anOrder = (externalId: string, extra: Record<string, unknown> = {}) => ({
  source: 'shop',
  externalId,
  customer: { email: `${externalId}@example.com` },
  placedAt: '2026-01-02T10:00:00Z',
  status: 'paid',
  total: { amount: 100, currency: 'EUR' },
  ...extra,
});

describe('problem+json for every error', () => {
  it('refuses text holding U+0000 (PostgreSQL cannot store it) with a 400 naming where, nothing written', async () => {
    const { client } = await t.newTenant();
    const nul = 'a\u0000b';
    const create = expectProblem(
      await client.post('/v1/customers', { firstName: nul }),
      400,
      'validation_failed',
    );
    expect(create.errors?.map((e) => e.path)).toEqual(['firstName']);
    const search = expectProblem(await client.get('/v1/customers?q=a%00b'), 400, 'validation_failed');
    expect(search.errors?.map((e) => e.path)).toEqual(['querystring.q']);
    // in a batch, the item holding it is refused, the others are written
    const batch = await client.post('/v1/customers/batch', {
      items: [{ firstName: 'ok' }, { tags: ['x', nul] }],
    });
    expect(batch.statusCode, batch.body).toBe(200);
    expect(batch.json().results.map((r: { status: string }) => r.status)).toEqual(['created', 'error']);
    expect(batch.json().results[1].error).toMatchObject({
      code: 'validation_failed',
      errors: [{ path: 'items[1].tags[1]', message: 'text must not contain the NUL character (U+0000)' }],
    });
    const orders = await client.post('/v1/orders/batch', {
      items: [anOrder('n0'), anOrder('n1', { couponCode: nul })],
    });
    expect(orders.statusCode, orders.body).toBe(200);
    expect(orders.json().results.map((r: { status: string }) => r.status)).toEqual(['created', 'error']);
    expect(orders.json().results[1].error.errors).toEqual([
      { path: 'items[1].couponCode', message: 'text must not contain the NUL character (U+0000)' },
    ]);
    // outside the items it is still the request's problem
    const outside = expectProblem(
      await client.post('/v1/customers/batch', { items: [{ firstName: 'ok' }], [`x${nul}`]: 1 }),
      400,
      'validation_failed',
    );
    expect(outside.errors?.map((e) => e.path)).toEqual([`x${nul}`]);
    // the good customer, and the good order's buyer (the refused order created none)
    expect(
      (await client.get('/v1/customers')).json().data.map((c: { firstName: string }) => c.firstName),
    ).toEqual(['ok', null]);
    const written = new Set((await client.get('/v1/customers')).json().data.map((c: { id: string }) => c.id));
    // the escape in a key is found as well
    const key = expectProblem(
      await client.post('/v1/customers', { attributes: { [`k${nul}`]: 1 } }),
      400,
      'validation_failed',
    );
    expect(key.errors?.map((e) => e.path)).toEqual([`attributes.k${nul}`]);
    // GraphQL: in a literal or a variable, refused naming the argument's path
    const gql = await client.graphql(`mutation { createCustomer(input: { firstName: "x\\u0000y" }) { id } }`);
    expect(gql.body.errors?.[0]?.extensions).toMatchObject({
      code: 'validation_failed',
      errors: [{ path: 'input.firstName', message: 'text must not contain the NUL character (U+0000)' }],
    });
    const gqlVariable = await client.graphql(
      'mutation ($input: CustomerInput!) { createCustomer(input: $input) { id } }',
      { input: { tags: ['x', nul] } },
    );
    expect(gqlVariable.body.errors?.[0]?.extensions).toMatchObject({
      code: 'validation_failed',
      errors: [{ path: 'input.tags[1]' }],
    });
    const gqlSearch = await client.graphql(
      'query ($q: String) { customers(first: 5, filter: { q: $q }) { nodes { id } } }',
      {
        q: nul,
      },
    );
    expect(gqlSearch.body.errors?.[0]?.extensions).toMatchObject({
      code: 'validation_failed',
      errors: [{ path: 'filter.q' }],
    });
    expect(
      (await client.get('/v1/customers')).json().data.filter((c: { id: string }) => !written.has(c.id)),
    ).toEqual([]);
    // the text \u0000 (an escaped backslash, no NUL) is stored as sent
    const literal = await client.post('/v1/customers', { firstName: 'a\\u0000b' });
    expect(literal.statusCode).toBe(201);
    expect(literal.json().firstName).toBe('a\\u0000b');
    // and in a batch mutation, the item holding it is refused, the others are written
    const gqlBatch = await client.graphql(
      `mutation ($items: [OrderInput!]!) { recordOrders(items: $items) { results { status error { code errors { path } } } } }`,
      { items: [anOrder('g0'), anOrder('g1', { couponCode: nul })] },
    );
    expect(gqlBatch.body.errors, JSON.stringify(gqlBatch.body.errors)).toBeUndefined();
    expect(gqlBatch.body.data?.recordOrders.results).toEqual([
      { status: 'created', error: null },
      { status: 'error', error: { code: 'validation_failed', errors: [{ path: 'items[1].couponCode' }] } },
    ]);
  });

  it('refuses dates and times in year 0000 (PostgreSQL has none) with a 400 naming the field, nothing written', async () => {
    const { client } = await t.newTenant();
    expect(
      (await client.post('/v1/attributes', { key: 'since', label: 'Since', type: 'date' })).statusCode,
    ).toBe(201);
    const attribute = expectProblem(
      await client.post('/v1/customers', { email: 'y0@example.com', attributes: { since: '0000-06-01' } }),
      400,
      'invalid_attribute',
    );
    expect(attribute.errors?.map((e) => e.path)).toEqual(['attributes.since']);
    expect((await client.get('/v1/customers?email=y0@example.com')).json().data).toEqual([]);
    const segment = expectProblem(
      await client.post('/v1/segments/preview', {
        definition: { version: 1, all: [{ field: 'birthDate', op: 'eq', value: '0000-01-01' }] },
      }),
      400,
      'validation_failed',
    );
    expect(JSON.stringify(segment.errors)).toContain('value');
    const order = expectProblem(
      await client.post('/v1/orders', {
        source: 'shop',
        externalId: 'y0',
        customer: { email: 'y0@example.com' },
        placedAt: '0000-01-01T00:00:00Z',
        status: 'paid',
        total: { amount: 100, currency: 'EUR' },
      }),
      400,
      'validation_failed',
    );
    expect(new Set(order.errors?.map((e) => e.path))).toEqual(new Set(['placedAt']));
    expect(order.errors?.map((e) => e.message)).toContain('the year must be 0001 or later');
    expectProblem(await client.get('/v1/orders?placedFrom=0000-01-01T00:00:00Z'), 400, 'validation_failed');
    // year 1 with an offset is year 0 in UTC
    expectProblem(
      await client.get(`/v1/orders?placedFrom=${encodeURIComponent('0001-01-01T00:30:00+01:00')}`),
      400,
      'validation_failed',
    );
    expect((await client.get('/v1/orders?placedFrom=0001-01-01T00:00:00Z')).statusCode).toBe(200);
    // and year 9999 with a negative offset is year 10000 in UTC: refused as an item's problem, the
    // batch's other item recorded
    const lastDay = encodeURIComponent('9999-12-31T23:00:00-12:00');
    expectProblem(await client.get(`/v1/orders?placedTo=${lastDay}`), 400, 'validation_failed');
    expect(
      (await client.get(`/v1/orders?placedTo=${encodeURIComponent('9999-12-31T23:00:00Z')}`)).statusCode,
    ).toBe(200);
    const due = (dueAt: string) => ({ status: 'placed', payment: { method: 'invoice', dueAt } });
    const batch = await client.post('/v1/orders/batch', {
      items: [anOrder('y9a', due('9999-12-31T23:00:00-12:00')), anOrder('y9b', due('2026-02-01T00:00:00Z'))],
    });
    expect(batch.statusCode, batch.body).toBe(200);
    expect(batch.json().results.map((r: { status: string }) => r.status)).toEqual(['error', 'created']);
    expect(batch.json().results[0].error.errors).toEqual([
      { path: 'items[0].payment.dueAt', message: 'the year must be 9999 or earlier, in UTC' },
    ]);
  });

  it('answers a deadlock or serialization failure that outlived its retries with 503 write_conflict and Retry-After', async () => {
    const app = Fastify();
    await app.register(httpPlatform, { verify: (async () => null) as unknown as Verifier });
    const failures = {
      deadlock: Object.assign(new Error('deadlock detected'), { code: '40P01' }),
      // as Drizzle wraps the driver's error
      serialization: new Error('Failed query', {
        cause: Object.assign(new Error('could not serialize access'), { code: '40001' }),
      }),
      unique: Object.assign(new Error('duplicate key'), { code: '23505' }),
    };
    for (const [name, error] of Object.entries(failures)) {
      app.get(`/${name}`, async () => {
        throw error;
      });
    }
    for (const name of ['deadlock', 'serialization']) {
      const res = await app.inject({ method: 'GET', url: `/${name}` });
      expectProblem(res, 503, 'write_conflict');
      expect(res.headers['retry-after']).toBe('1');
    }
    const other = await app.inject({ method: 'GET', url: '/unique' });
    expectProblem(other, 500, 'internal_error');
    expect(other.headers['retry-after']).toBeUndefined();
    await app.close();
  });

  it('answers an unknown route with 404 not_found', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/nothing-here?x=1' });
    const body = expectProblem(res, 404, 'not_found');
    expect(body.instance).toBe('/v1/nothing-here');
  });

  it('answers an unknown method on a known path with a problem, not an HTML page', async () => {
    const { client } = await t.newTenant();
    const res = await client.delete('/v1/customers');
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('answers invalid JSON with 400 invalid_json and writes nothing', async () => {
    const { client } = await t.newTenant();
    const res = await client.post('/v1/customers', '{"firstName": "Ana",', {
      'content-type': 'application/json',
    });
    expectProblem(res, 400, 'invalid_json');
    expect((await client.get('/v1/customers')).json().data).toEqual([]);
  });

  it('answers a text/plain body with 415 unsupported_media_type and writes nothing', async () => {
    const { client } = await t.newTenant();
    const res = await client.post('/v1/customers', 'firstName=Ana', { 'content-type': 'text/plain' });
    expectProblem(res, 415, 'unsupported_media_type');
    expect((await client.get('/v1/customers')).json().data).toEqual([]);
  });

  it('answers a validation failure with 400 and the failing paths', async () => {
    const { client } = await t.newTenant();
    const res = await client.post('/v1/customers', { email: 'nope', tags: 'vip' });
    const body = expectProblem(res, 400, 'validation_failed');
    expect(body.errors?.map((e) => e.path).sort()).toEqual(['email', 'tags']);
  });

  it('answers a missing token with 401 and a wrong scope with 403, both problems', async () => {
    const tenant = await t.newTenant();
    expectProblem(await t.as().get('/v1/customers'), 401, 'unauthorized');
    expectProblem(await t.as('not-a-jwt').get('/v1/customers'), 401, 'invalid_token');
    const reader = t.as(await t.token(tenant, ['customers:read']));
    expectProblem(await reader.post('/v1/customers', { firstName: 'Eva' }), 403, 'insufficient_scope');
  });
});

describe('body size limit', () => {
  it('answers a body above BODY_LIMIT_BYTES with 413 payload_too_large and writes nothing', async () => {
    const small = await createTestApp({ env: { BODY_LIMIT_BYTES: '2048' } });
    try {
      const { client } = await small.newTenant();
      const ok = await client.post('/v1/customers', { firstName: 'Ana' });
      expect(ok.statusCode).toBe(201);
      const res = await client.post('/v1/customers', { firstName: 'Big', lastName: 'x'.repeat(3000) });
      expectProblem(res, 413, 'payload_too_large');
      const names = (await client.get('/v1/customers'))
        .json()
        .data.map((c: { firstName: string }) => c.firstName);
      expect(names).toEqual(['Ana']);
    } finally {
      await small.close();
    }
  });
});

describe('rate limit', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await createTestApp({ env: { RATE_LIMIT_MAX: '3' } });
  });
  afterAll(() => limited.close());

  it('refuses the 4th request in the window with 429 rate_limited and Retry-After', async () => {
    const { client } = await limited.newTenant();
    for (let i = 0; i < 3; i++) expect((await client.get('/v1/customers')).statusCode).toBe(200);
    const res = await client.get('/v1/customers');
    expectProblem(res, 429, 'rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('keeps a separate budget per token subject', async () => {
    const tenant = await limited.newTenant();
    const a = limited.as(await limited.token(tenant));
    const b = limited.as(await limited.token(tenant));
    for (let i = 0; i < 3; i++) expect((await a.get('/v1/customers')).statusCode).toBe(200);
    expect((await a.get('/v1/customers')).statusCode).toBe(429);
    expect((await b.get('/v1/customers')).statusCode).toBe(200);
  });

  it('limits GraphQL too', async () => {
    const { client } = await limited.newTenant();
    for (let i = 0; i < 3; i++) expect((await client.graphql('{ viewer { subject } }')).status).toBe(200);
    const res = await client.graphql('{ viewer { subject } }');
    expect(res.status).toBe(429);
    expect(JSON.stringify(res.body)).toContain('rate_limited');
  });

  it('limits refused requests too: by subject for a token without the scope, by address for a bad one', async () => {
    const tenant = await limited.newTenant();
    const unscoped = limited.as(await limited.token(tenant, ['orders:write']));
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await unscoped.get('/v1/customers')).statusCode);
    expect(statuses).toEqual([403, 403, 403, 429]);
    // its own subject's budget: another token of the tenant is not held up
    expect((await limited.as(await limited.token(tenant)).get('/v1/customers')).statusCode).toBe(200);

    // a bad token from an address: a REST read, or a GraphQL query
    const bad = (remoteAddress: string, graphql = false) =>
      limited.app.inject({
        method: graphql ? 'POST' : 'GET',
        url: graphql ? '/graphql' : '/v1/customers',
        remoteAddress,
        headers: { authorization: 'Bearer x.y.z' },
        ...(graphql ? { payload: { query: '{ viewer { subject } }' } } : {}),
      });
    const refused = [];
    for (let i = 0; i < 3; i++) refused.push((await bad('10.0.0.7')).statusCode);
    expect(refused).toEqual([401, 401, 401]);
    expect((await bad('10.0.0.7', true)).statusCode).toBe(429);
    // below the limit GraphQL answers its own shape
    const first = await bad('10.0.0.8', true);
    expect(first.statusCode).toBe(401);
    expect(first.json()).toMatchObject({ data: null, errors: [{ extensions: { code: 'invalid_token' } }] });
    expect(first.headers['www-authenticate']).toContain('Bearer');
    expect((await bad('10.0.0.9')).statusCode).toBe(401);
  });

  it('never limits the health checks', async () => {
    for (let i = 0; i < 6; i++) {
      expect((await limited.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    }
  });
});

describe('internal errors', () => {
  it('answers a failing database with a 500 that leaks nothing', async () => {
    const config = testConfig();
    const db = new Database(createPool('postgres://x@127.0.0.1:1/x', 1));
    const app = await buildApp({ config, db });
    try {
      await app.ready();
      const token = await mintToken({
        secret: TEST_SECRET,
        issuer: ISSUER,
        audience: AUDIENCE,
        sub: 'test-500',
        tenantId: '01936f0e-0000-7000-8000-000000000001',
        scopes: TENANT_SCOPES,
      });
      const headers = { authorization: `Bearer ${token}` };
      const res = await app.inject({ method: 'GET', url: '/v1/customers', headers });
      const body = expectProblem(res, 500, 'internal_error');
      expect(body.detail).toBe('An internal error occurred');
      expect(res.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres/i);

      const gql = await app.inject({
        method: 'POST',
        url: '/graphql',
        headers,
        payload: { query: '{ customers(first: 5) { nodes { id } } }' },
      });
      expect(gql.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres/i);
      expect(gql.body).not.toMatch(STACK);
      expect(gql.json().errors[0].extensions.code).toBe('internal_error');
    } finally {
      await app.close();
      await db.close();
    }
  });
});
