import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, REDACTED_PATHS } from '../src/app.ts';
import { createPool, Database } from '../src/platform/db.ts';
import { Jobs } from '../src/platform/jobs.ts';
import { createTestApp, type TestApp, testConfig } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** A writable stream that keeps every log line. */
function captureStream() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

describe('health', () => {
  it('answers /health/live without auth', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers /health/ready 200 when the database answers', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers /health/ready 503 problem+json when the database does not', async () => {
    const db = new Database(createPool('postgres://x@127.0.0.1:1/x', 1));
    const app = await buildApp({ config: testConfig(), db });
    try {
      await app.ready();
      const live = await app.inject({ method: 'GET', url: '/health/live' });
      expect(live.statusCode).toBe(200);
      const res = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
      expect(res.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    } finally {
      await app.close();
      await db.close();
    }
  });
});

describe('metrics', () => {
  it('serves Prometheus text with request durations per route', async () => {
    // prom-client's registry is global and each buildApp clears it: measure on the newest app
    const m = await createTestApp();
    const { client } = await m.newTenant();
    expect((await client.get('/v1/customers')).statusCode).toBe(200);
    const res = await m.app.inject({ method: 'GET', url: '/metrics' });
    await m.close();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('# TYPE http_request_duration_seconds histogram');
    expect(res.body).toMatch(
      /http_request_duration_seconds_count\{[^}]*route="\/v1\/customers"[^}]*\} [1-9]/,
    );
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });

  it('needs no token and is not limited', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
  });
});

describe('logs', () => {
  it('redacts authorization, emails and phones with the REDACTED_PATHS pino configuration', () => {
    const { stream, lines, records } = captureStream();
    const logger = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream);
    const secret = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    logger.info({ req: { method: 'GET', headers: { authorization: secret, cookie: 'sid=1' } } }, 'request');
    logger.info({ customer: { email: 'ana@example.com', phone: '+34 600 123 456' } }, 'customer');
    logger.info({ body: { items: { email: 'deep@example.com' } } }, 'nested');
    const all = lines.join('\n');
    expect(all).not.toContain('eyJhbGciOiJIUzI1NiJ9');
    expect(all).not.toContain('sid=1');
    expect(all).not.toContain('ana@example.com');
    expect(all).not.toContain('600 123 456');
    expect(all).not.toContain('deep@example.com');
    const [req, customer] = records();
    expect(req!.req.headers.authorization).toBe('[redacted]');
    expect(customer!.customer).toEqual({ email: '[redacted]', phone: '[redacted]' });
  });

  it("logs each request with a request id and never the bearer token or a customer's email", async () => {
    const { stream, lines, records } = captureStream();
    const logged = await createTestApp({ env: { LOG_LEVEL: 'info' }, logStream: stream });
    try {
      const { client, token } = await logged.newTenant();
      const customer = await newCustomer(client, {
        email: 'secret.person@example.com',
        phone: '+34 600 999 888',
      });
      const dup = await client.post('/v1/customers', { email: 'secret.person@example.com' });
      expect(dup.statusCode).toBe(409);
      const bad = await client.post('/v1/customers', { email: 'not-an-email@', phone: 'x' });
      expect(bad.statusCode).toBe(400);
      const res = await client.get(`/v1/customers/${customer.id}`, { 'x-request-id': 'req-abc-123' });
      expect(res.statusCode).toBe(200);
      expect((await client.graphql('{ viewer { subject } }')).status).toBe(200);
      // a search by email or phone: the query string is logged without their values
      const found = await client.get('/v1/customers?email=secret.person%40example.com&limit=5');
      expect(found.json().data).toHaveLength(1);
      expect((await client.get('/v1/customers?q=secret.person')).statusCode).toBe(200);

      expect(lines.length).toBeGreaterThan(0);
      const withReq = records().filter((r) => r.req || r.res);
      expect(withReq.length).toBeGreaterThan(0);
      for (const r of withReq) expect(typeof r.reqId).toBe('string');
      expect(records().some((r) => r.reqId === 'req-abc-123')).toBe(true);

      const all = lines.join('\n');
      expect(all).not.toContain(token);
      expect(all).not.toContain(token.split('.')[2]!);
      expect(all).not.toContain('secret.person@example.com');
      expect(all).not.toContain('secret.person%40example.com');
      expect(all).not.toContain('q=secret.person');
      expect(all).not.toContain('600 999 888');
      expect(records().some((r) => r.req?.url === '/v1/customers?email=[redacted]&limit=5')).toBe(true);
    } finally {
      await logged.close();
    }
  });

  it('logs and stores a failed query without its values: a task failing in graphile-worker keeps only the code', async () => {
    const email = 'failing.query@example.com';
    const { stream, lines } = captureStream();
    const logged = await createTestApp({ env: { LOG_LEVEL: 'info' }, logStream: stream });
    const tasks = {
      fails: async () => {
        await logged.db.withTenant(tenant.id, (tx) => tx.execute(sql`SELECT ${email}::int`));
      },
    };
    const tenant = await logged.newTenant();
    const jobs = await Jobs.start({
      connectionString: inject('ownerUrl'),
      runWorkers: true,
      concurrency: 1,
      tasks,
      onTaskError: (task, error) => logged.app.log.error({ task, err: error }, 'background task failed'),
    });
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      const id = await jobs.add('fails', {}, { maxAttempts: 1 });
      let stored: { last_error: string | null } | undefined;
      for (let i = 0; i < 100 && !stored?.last_error; i++) {
        await new Promise((r) => setTimeout(r, 100));
        stored = (await owner.query('SELECT last_error FROM graphile_worker.jobs WHERE id = $1', [id]))
          .rows[0];
      }
      expect(stored?.last_error).toMatch(/database error 22P02/);
      expect(stored?.last_error).not.toContain(email);
      // the log has the statement and the code, not the value
      const all = lines.join('\n');
      expect(all).toContain('background task failed');
      expect(all).toContain('Failed query: SELECT $1::int');
      expect(all).toContain('22P02');
      expect(all).not.toContain(email);
      // a unique violation's detail quotes the key: the log has the constraint, not the detail
      const c = await newCustomer(logged.as(await logged.token(tenant)), { email });
      const dup = await logged.db
        .withTenant(tenant.id, (tx) =>
          tx.execute(
            sql`INSERT INTO customers (tenant_id, id, email) VALUES (vinculo_current_tenant(), ${c.id}, ${email})`,
          ),
        )
        .catch((error: unknown) => error);
      logged.app.log.error({ err: dup }, 'write failed');
      const after = lines.join('\n');
      expect(after).toContain('customers_tenant_id_id_pk');
      expect(after).not.toContain(email);
    } finally {
      await owner.end();
      await jobs.stop();
      await logged.close();
    }
  });

  it('a shutdown gives back a job still running after its grace period, rather than leave it locked for hours', async () => {
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let end: () => void = () => {};
    const tasks = {
      // does not end within the grace period (a pass waiting on a receiver that never answers, say)
      stuck: () => {
        started();
        return new Promise<void>((resolve) => {
          end = resolve;
        });
      },
    };
    const jobs = await Jobs.start({
      connectionString: inject('ownerUrl'),
      runWorkers: true,
      concurrency: 1,
      tasks,
    });
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      const id = await jobs.add('stuck', {}, { maxAttempts: 3 });
      await running;
      await jobs.stop(300);
      const [job] = (
        await owner.query(
          'SELECT locked_at, attempts, run_at <= now() AS due FROM graphile_worker.jobs WHERE id = $1',
          [id],
        )
      ).rows;
      // given back, its attempt counted, to be taken up at once by another worker
      expect(job).toEqual({ locked_at: null, attempts: 1, due: true });
    } finally {
      end(); // lets the runner's own shutdown finish (the process would have exited)
      await owner.end();
    }
  });
});
