import autocannon from 'autocannon';
import Fastify from 'fastify';
import pg from 'pg';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { mintToken, TENANT_SCOPES } from '../../src/platform/auth.ts';
import { createPool, Database } from '../../src/platform/db.ts';
import type { BenchDatabase } from './setup.ts';

const SECRET = 'bench-secret-bench-secret-bench-secret-00';
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 20;

async function load(url: string, headers: Record<string, string> = {}) {
  await autocannon({ url, connections: CONNECTIONS, duration: 2, headers }); // warm-up
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return {
    requestsPerSecond: Math.round(result.requests.average),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
  };
}

/**
 * P1: GET /v1/customers/:id through the full stack (JWT, RLS transaction as the app role, zod
 * serialization) against a bare Fastify route running the same SELECT on the same database.
 */
export async function p1(database: BenchDatabase) {
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'silent',
    AUTH_JWT_SECRET: SECRET,
    CURSOR_SECRET: SECRET,
    DATABASE_URL: database.ownerUrl,
    DATABASE_APP_URL: database.appUrl,
    RATE_LIMIT_MAX: '100000000',
  });
  const db = new Database(createPool(database.appUrl, 10));
  const app = await buildApp({ config, db });
  const tenant = await app.services.tenants.create({
    name: 'Bench',
    slug: `bench-${Date.now()}`,
    currency: 'EUR',
    timezone: 'Europe/Madrid',
  });
  const token = await mintToken({
    secret: SECRET,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    sub: 'bench',
    tenantId: tenant.id,
    scopes: TENANT_SCOPES,
  });
  const actor = { sub: 'bench', tenantId: tenant.id, scopes: new Set(TENANT_SCOPES), segments: null };
  const customer = await app.services.customers.create(actor, {
    email: 'bench@example.com',
    firstName: 'Lucía',
    lastName: 'García',
    address: { city: 'Sevilla', country: 'ES' },
    tags: ['bench'],
    attributes: {},
  });
  const fullUrl = `${await app.listen({ port: 0, host: '127.0.0.1' })}/v1/customers/${customer.id}`;

  const barePool = new pg.Pool({ connectionString: database.ownerUrl, max: 10 });
  const bare = Fastify();
  bare.get<{ Params: { id: string } }>('/customers/:id', async (request) => {
    // a named prepared statement: the strongest baseline a bare route can have
    const { rows } = await barePool.query({
      name: 'bare_customer_by_id',
      text: 'SELECT * FROM customers WHERE tenant_id = $1 AND id = $2',
      values: [tenant.id, request.params.id],
    });
    return rows[0];
  });
  const bareUrl = `${await bare.listen({ port: 0, host: '127.0.0.1' })}/customers/${customer.id}`;

  try {
    const baseline = await load(bareUrl);
    const vinculo = await load(fullUrl, { authorization: `Bearer ${token}` });
    const ratio = vinculo.requestsPerSecond / baseline.requestsPerSecond;
    return {
      id: 'P1',
      work: 'GET /v1/customers/:id with auth and RLS, autocannon',
      connections: CONNECTIONS,
      seconds: DURATION,
      baseline: { name: 'bare Fastify + pg, same SELECT', ...baseline },
      vinculo,
      ratio: Number(ratio.toFixed(3)),
      budget: '>= 0.5',
      withinBudget: ratio >= 0.5,
    };
  } finally {
    await app.close();
    await bare.close();
    await barePool.end();
    await db.close();
  }
}
