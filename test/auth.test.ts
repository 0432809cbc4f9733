import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createVerifier } from '../src/platform/auth.ts';
import { AUDIENCE, createTestApp, ISSUER, TEST_SECRET, type TestApp, testConfig } from './helpers/app.ts';

const encode = (s: string) => new TextEncoder().encode(s);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

type SignOptions = {
  alg?: string;
  secret?: string;
  iss?: string;
  aud?: string;
  /** null leaves the claim out */
  sub?: string | null;
  /** seconds since the epoch; null leaves the claim out */
  exp?: number | null;
  tid?: string;
  scope?: string;
};

/** An HMAC token as an identity provider would mint it; every claim can be bent. */
function sign(o: SignOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = { scope: o.scope ?? 'customers:read customers:write' };
  if (o.tid) claims.tid = o.tid;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: o.alg ?? 'HS256', typ: 'JWT' })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? AUDIENCE)
    .setIssuedAt(nowSeconds() - 120);
  if (o.sub !== null) jwt.setSubject(o.sub ?? 'auth-test');
  if (o.exp !== null) jwt.setExpirationTime(o.exp ?? nowSeconds() + 3600);
  return jwt.sign(encode(o.secret ?? TEST_SECRET));
}

/** Every 401 is problem+json with a stable code and a WWW-Authenticate challenge. */
function expectUnauthorized(res: LightMyRequestResponse, code: 'unauthorized' | 'invalid_token') {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
  const body = res.json();
  expect(body).toMatchObject({ status: 401, code, title: expect.any(String), detail: expect.any(String) });
  expect(body.type).toMatch(/^https:\/\//);
  expect(JSON.stringify(body)).not.toMatch(/at .+\.ts:\d+/); // no stack trace
}

function expectForbidden(res: LightMyRequestResponse) {
  expect(res.statusCode, res.body).toBe(403);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status: 403, code: 'insufficient_scope' });
}

let t: TestApp;
let tenantId: string;
beforeAll(async () => {
  t = await createTestApp();
  tenantId = (await t.newTenant()).id;
});
afterAll(() => t.close());

const get = (authorization?: string) =>
  t.app.inject({
    method: 'GET',
    url: '/v1/customers',
    headers: authorization === undefined ? {} : { authorization },
  });
const bearer = (token: string) => get(`Bearer ${token}`);

describe('JWT matrix (REST)', () => {
  it('accepts a well-formed token (the control for every case below)', async () => {
    const res = await bearer(await sign({ tid: tenantId }));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ data: [], nextCursor: null });
  });

  it('missing Authorization header → 401 unauthorized', async () => {
    expectUnauthorized(await get(), 'unauthorized');
  });

  it('"Basic x" → 401 invalid_token', async () => {
    expectUnauthorized(await get('Basic x'), 'invalid_token');
  });

  it('"Bearer notajwt" → 401 invalid_token', async () => {
    expectUnauthorized(await get('Bearer notajwt'), 'invalid_token');
  });

  it('a token expired beyond the clock tolerance → 401', async () => {
    const res = await bearer(await sign({ tid: tenantId, exp: nowSeconds() - 60 }));
    expectUnauthorized(res, 'invalid_token');
    expect(res.json().detail).toMatch(/expired/);
  });

  it('a token expired 10 s ago is still accepted (30 s clock tolerance)', async () => {
    const res = await bearer(await sign({ tid: tenantId, exp: nowSeconds() - 10 }));
    expect(res.statusCode, res.body).toBe(200);
  });

  it('a token signed with another secret → 401', async () => {
    const res = await bearer(await sign({ tid: tenantId, secret: 'another-secret-another-secret-0123456' }));
    expectUnauthorized(res, 'invalid_token');
  });

  it('an unsecured `alg: none` token → 401', async () => {
    const payload = { sub: 'auth-test', tid: tenantId, scope: 'customers:read', iss: ISSUER, aud: AUDIENCE };
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...payload, exp: nowSeconds() + 3600 })}.`;
    expectUnauthorized(await bearer(token), 'invalid_token');
  });

  it('a token for another audience → 401', async () => {
    expectUnauthorized(await bearer(await sign({ tid: tenantId, aud: 'someone-else' })), 'invalid_token');
  });

  it('a token from another issuer → 401', async () => {
    expectUnauthorized(await bearer(await sign({ tid: tenantId, iss: 'evil-issuer' })), 'invalid_token');
  });

  it('an HS512 token (algorithm outside the allow-list) → 401', async () => {
    const res = await bearer(await sign({ tid: tenantId, alg: 'HS512' }));
    expectUnauthorized(res, 'invalid_token');
    expect(res.json().detail).toMatch(/algorithm/);
  });

  it('a token without `sub` → 401', async () => {
    expectUnauthorized(await bearer(await sign({ tid: tenantId, sub: null })), 'invalid_token');
  });

  it('a token without `exp` → 401', async () => {
    expectUnauthorized(await bearer(await sign({ tid: tenantId, exp: null })), 'invalid_token');
  });

  it('a rejected token writes nothing', async () => {
    const externalId = `auth-${randomUUID()}`;
    const bad = await sign({ tid: tenantId, secret: 'another-secret-another-secret-0123456' });
    const res = await t.as(bad).post('/v1/customers', { externalId, firstName: 'Eve' });
    expectUnauthorized(res, 'invalid_token');
    const after = await t.as(await sign({ tid: tenantId })).get(`/v1/customers?externalId=${externalId}`);
    expect(after.statusCode).toBe(200);
    expect(after.json().data).toEqual([]);
  });

  it('a valid token without the needed scope → 403 insufficient_scope', async () => {
    const res = await bearer(await t.token({ id: tenantId, slug: '' }, ['customers:write']));
    expectForbidden(res);
    expect(res.json().detail).toMatch(/customers:read/);
  });

  it('a platform token (no tid) on a tenant route → 403', async () => {
    expectForbidden(await bearer(await t.token(null, ['platform:admin', 'customers:read'])));
  });

  it('a well-signed token naming no tenant of this service → 401, on every route and in GraphQL', async () => {
    const ghost = await sign({ tid: randomUUID(), scope: 'customers:read customers:write webhooks:manage' });
    expectUnauthorized(await bearer(ghost), 'invalid_token');
    const hook = await t.as(ghost).post('/v1/webhooks', { url: 'https://example.com/h', events: ['*'] });
    expectUnauthorized(hook, 'invalid_token');
    expect(hook.json().detail).toMatch(/tenant/);
    expectUnauthorized(await t.as(ghost).post('/v1/customers', { email: 'x@example.com' }), 'invalid_token');
    const gql = await t.as(ghost).graphql('{ viewer { subject } }');
    expect(gql.status).toBe(401);
  });

  it('a tenant token carrying platform:admin is still a tenant token: the platform routes refuse it', async () => {
    const both = await t.token({ id: tenantId, slug: '' }, ['platform:admin', 'customers:read']);
    const listed = await t.as(both).get('/v1/tenants');
    expectForbidden(listed);
    expect(listed.json().detail).toMatch(/platform token/);
    expect((await t.as(await t.token(null, ['platform:admin'])).get('/v1/tenants')).statusCode).toBe(200);
  });

  it('does not remember a token verified at its expiry (a ttl of 0 would keep it forever)', async () => {
    const verify = createVerifier({
      secret: TEST_SECRET,
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceSeconds: 30,
    });
    const exp = nowSeconds() + 3600;
    const token = await sign({ tid: tenantId, exp });
    vi.useFakeTimers({ now: exp * 1000, toFake: ['Date'] });
    try {
      await expect(verify(token)).resolves.toMatchObject({ tenantId });
      vi.setSystemTime(exp * 1000 + 30 * 86_400_000);
      await expect(verify(token)).rejects.toMatchObject({ code: 'invalid_token' });
      // a token remembered earlier is not served past its expiry either
      vi.setSystemTime(exp * 1000 - 10 * 60_000);
      const fresh = await sign({ tid: tenantId, exp });
      await expect(verify(fresh)).resolves.toMatchObject({ tenantId });
      vi.setSystemTime(exp * 1000 + 60_000);
      await expect(verify(fresh)).rejects.toMatchObject({ code: 'invalid_token' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('a tenant token on POST /v1/tenants (needs platform:admin) → 403, nothing created', async () => {
    const slug = `auth-${randomUUID().slice(0, 8)}`;
    const body = { name: 'Nope', slug, currency: 'EUR', timezone: 'Europe/Madrid' };
    const tenantToken = await t.token({ id: tenantId, slug: '' });
    expectForbidden(await t.as(tenantToken).post('/v1/tenants', body));
    expect(await t.app.services.tenants.find(slug)).toBeUndefined();
    // the same request with a platform token succeeds, so the 403 was about the token
    const ok = await t.as(await t.token(null, ['platform:admin'])).post('/v1/tenants', body);
    expect(ok.statusCode, ok.body).toBe(201);
    expect((await t.app.services.tenants.find(slug))?.id).toBe(ok.json().id);
  });
});

/** GraphQL answers authentication failures with the HTTP status and challenge of REST, in GraphQL's shape. */
function expectGraphqlUnauthorized(res: Awaited<ReturnType<TestApp['app']['inject']>>, code: string) {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  const body = res.json();
  expect(body.data).toBeNull();
  expect(body.errors[0].extensions.code).toBe(code);
}

describe('JWT matrix (GraphQL)', () => {
  const post = (headers: Record<string, string>, query = '{ viewer { subject tenantId scopes } }') =>
    t.app.inject({ method: 'POST', url: '/graphql', headers, payload: { query } });

  it('accepts a valid token', async () => {
    const res = await post({ authorization: `Bearer ${await sign({ tid: tenantId, sub: 'gql' })}` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.viewer).toMatchObject({ subject: 'gql', tenantId });
  });

  it('missing Authorization header → 401', async () => {
    expectGraphqlUnauthorized(await post({}), 'unauthorized');
  });

  it('"Bearer notajwt" → 401', async () => {
    expectGraphqlUnauthorized(await post({ authorization: 'Bearer notajwt' }), 'invalid_token');
  });

  it('an expired token → 401', async () => {
    const token = await sign({ tid: tenantId, exp: nowSeconds() - 120 });
    expectGraphqlUnauthorized(await post({ authorization: `Bearer ${token}` }), 'invalid_token');
  });

  it('a wrong audience → 401', async () => {
    const token = await sign({ tid: tenantId, aud: 'someone-else' });
    expectGraphqlUnauthorized(await post({ authorization: `Bearer ${token}` }), 'invalid_token');
  });

  it('a valid token without the scope → error with extensions.code insufficient_scope', async () => {
    const token = await t.token({ id: tenantId, slug: '' }, ['customers:write']);
    const { body } = await t.as(token).graphql('{ customers(first: 5) { nodes { id } } }');
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
  });

  it('a platform token on a tenant query → insufficient_scope', async () => {
    const token = await t.token(null, ['platform:admin', 'customers:read']);
    const { body } = await t.as(token).graphql(`{ customer(id: "${randomUUID()}") { id } }`);
    expect(body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
    expect(body.data?.customer ?? null).toBeNull();
  });
});

describe('JWKS (remote key set, RS256)', () => {
  type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  type Signer = { kid: string; privateKey: PrivateKey; jwk: JWK };
  const newSigner = async (kid: string): Promise<Signer> => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
  };
  const signRs = (s: { kid: string; privateKey: PrivateKey }, tid: string) =>
    new SignJWT({ tid, scope: 'customers:read' })
      .setProtectedHeader({ alg: 'RS256', kid: s.kid, typ: 'JWT' })
      .setSubject('idp-client')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(s.privateKey);

  let server: Server;
  let jwksUrl: string;
  let published: JWK[] = [];
  let fetches = 0;
  let j: TestApp;
  let tid: string;
  let kid1: Signer;
  let kid2: Signer;

  beforeAll(async () => {
    [kid1, kid2] = await Promise.all([newSigner('kid1'), newSigner('kid2')]);
    published = [kid1.jwk];
    server = createServer((req, res) => {
      if (req.url !== '/jwks.json') return res.writeHead(404).end();
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    j = await createTestApp({ env: { AUTH_JWT_SECRET: '', AUTH_JWKS_URL: jwksUrl } });
    tid = (await j.newTenant()).id;
  });
  afterAll(async () => {
    vi.useRealTimers();
    await j?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  const call = (token: string) => j.as(token).get('/v1/customers');

  it('the config validates: an empty AUTH_JWT_SECRET is unset, the JWKS URL is used', () => {
    const config = testConfig({ AUTH_JWT_SECRET: '', AUTH_JWKS_URL: jwksUrl });
    expect(config.AUTH_JWT_SECRET).toBeUndefined();
    expect(config.AUTH_JWKS_URL).toBe(jwksUrl);
    expect(config.CURSOR_SECRET).toBeTruthy();
  });

  it('the config takes an allow-list of jose’s algorithm names that the configured key can verify', () => {
    expect(
      testConfig({ AUTH_JWT_SECRET: '', AUTH_JWKS_URL: jwksUrl, AUTH_ALGORITHMS: 'EdDSA,ES256' }),
    ).toMatchObject({ AUTH_ALGORITHMS: 'EdDSA,ES256' });
    expect(testConfig({ AUTH_ALGORITHMS: 'HS256,HS512' })).toMatchObject({ AUTH_ALGORITHMS: 'HS256,HS512' });
    expect(() => testConfig({ AUTH_ALGORITHMS: 'none' })).toThrow(/AUTH_ALGORITHMS/);
    expect(() => testConfig({ AUTH_ALGORITHMS: 'RS256' })).toThrow(/verifies only HS256/);
    expect(() =>
      testConfig({ AUTH_JWT_SECRET: '', AUTH_JWKS_URL: jwksUrl, AUTH_ALGORITHMS: 'RS256,HS256' }),
    ).toThrow(/cannot verify HS256/);
  });

  it('accepts an RS256 token whose kid is published', async () => {
    const res = await call(await signRs(kid1, tid));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ data: [], nextCursor: null });
    expect(fetches).toBe(1);
  });

  it('refuses the shared-secret token once a JWKS is configured', async () => {
    expectUnauthorized(await call(await sign({ tid })), 'invalid_token');
  });

  it('refuses a token signed by an unknown key (same kid, other key; unknown kid)', async () => {
    const impostor = await newSigner('kid1');
    expectUnauthorized(await call(await signRs(impostor, tid)), 'invalid_token');
    const stranger = await newSigner('stranger');
    expectUnauthorized(await call(await signRs(stranger, tid)), 'invalid_token');
  });

  it('follows key rotation: a token signed with a newly published kid is accepted', async () => {
    published = [kid2.jwk]; // the provider rotates: kid1 retired, kid2 published
    const before = fetches;
    // jose refetches on an unknown kid only after its 30 s cooldown since the last fetch; move the
    // clock (Date only, timers stay real) past it instead of waiting.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 31_000);
    try {
      const res = await call(await signRs(kid2, tid));
      expect(res.statusCode, res.body).toBe(200);
      expect(fetches).toBe(before + 1);
      // the retired key is gone from the refreshed set
      expectUnauthorized(await call(await signRs(kid1, tid)), 'invalid_token');
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers 503, not 401, while the key set cannot be fetched', async () => {
    const signer = await newSigner('kid1');
    const token = await signRs(signer, tid);
    const options = { issuer: ISSUER, audience: AUDIENCE, clockToleranceSeconds: 0 };
    // nothing listens there
    const refused = createVerifier({ ...options, jwksUrl: 'http://127.0.0.1:1/jwks.json' });
    await expect(refused(token)).rejects.toMatchObject({ code: 'service_unavailable', status: 503 });
    // the provider answers, but not with the key set
    const failing = createVerifier({ ...options, jwksUrl: jwksUrl.replace('jwks.json', 'down') });
    await expect(failing(token)).rejects.toMatchObject({ code: 'service_unavailable', status: 503 });
    // a key set that does not hold the token's key still says the token is not accepted
    const working = createVerifier({ ...options, jwksUrl });
    await expect(working(token)).rejects.toMatchObject({ code: 'invalid_token', status: 401 });
  });
});
