import autocannon from 'autocannon';
import Fastify from 'fastify';
import pg from 'pg';
import { type BenchDatabase, benchApp } from './setup.ts';

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
  const { app, tenant, token, actor, close } = await benchApp(database, 'Bench P1');
  const { body: customer } = await app.services.customers.create(actor, {
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
    await close();
    await bare.close();
    await barePool.end();
  }
}
