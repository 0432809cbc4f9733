import { request } from 'node:http';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerFromCsv, orderFromCsv } from '../src/modules/imports/imports.rows.ts';
import { IMPORT_STALL, ImportsService } from '../src/modules/imports/imports.service.ts';
import type { Jobs } from '../src/platform/jobs.ts';
import { Cursors } from '../src/platform/pagination.ts';
import { createTestApp, TEST_CURSOR_SECRET, type TestApp } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ jobs: true });
});
afterAll(() => t.close());

async function waitFor(client: { get: (url: string) => Promise<{ json: () => any }> }, id: string) {
  for (let i = 0; i < 200; i++) {
    const body = (await client.get(`/v1/imports/${id}`)).json();
    if (body.status === 'completed' || body.status === 'failed') return body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the import did not finish');
}

/**
 * An upload over a real connection that the test feeds piece by piece (`req.write`, `req.end`), and
 * the answer when it comes (the connection is closed then, as a client would after a 408).
 */
function openUpload(url: string, token: string) {
  let req!: ReturnType<typeof request>;
  const answered = new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
    req = request(
      `${url}/v1/imports?type=customers`,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => {
          resolve({ status: res.statusCode!, body, connection: res.headers.connection });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
  });
  return { req, answered };
}

/** An import's status and stored chunks, bytes so far, as the database has them now. */
async function uploadsOf(app: TestApp, tenantId: string) {
  const rows = await app.db.withTenant(tenantId, (tx) =>
    tx.execute<{ status: string; bytes: number; chunks: number }>(
      sql`SELECT status, bytes::int, (SELECT count(*)::int FROM import_chunks) AS chunks FROM imports`,
    ),
  );
  return rows.rows;
}

/** The stored chunks of an import's file. */
async function chunksOf(tenantId: string, importId: string): Promise<number> {
  const result = await t.db.withTenant(tenantId, (tx) =>
    tx.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM import_chunks WHERE import_id = ${importId}::uuid`,
    ),
  );
  return result.rows[0]!.n;
}

function upload(t: TestApp, token: string, type: string, contentType: string, body: string) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/imports?type=${type}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    payload: body,
  });
}

describe('imports', () => {
  it('imports the good rows of a CSV of orders and reports the bad ones with their line numbers', async () => {
    const { client, token } = await t.newTenant();
    const csv = [
      'source,externalId,customer.email,customer.firstName,placedAt,status,currency,total,items',
      'shop,A1,ana@example.com,Ana,2026-01-05T10:00:00Z,paid,EUR,3000,"[{""sku"":""S1"",""category"":""shoes"",""quantity"":2,""unitPrice"":1500}]"',
      'shop,A2,ana@example.com,Ana,2026-01-06T10:00:00Z,paid,EUR,not-a-number,',
      'shop,A3,luis@example.com,Luis,2026-01-07T10:00:00Z,paid,EUR,1000,"[{""sku"":""S1"",""quantity"":1,""unitPrice"":999}]"',
      'shop,A4,"unterminated,2026-01-07T10:00:00Z,paid,EUR,1000,',
    ].join('\n');
    const res = await upload(t, token, 'orders', 'text/csv', csv);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.headers.location).toBe(`/v1/imports/${res.json().id}`);
    const done = await waitFor(client, res.json().id);
    // the last row opens a quote it never closes: nothing after it could be read, the import fails
    // there, saying so, with the rows before it imported or reported
    expect(done).toMatchObject({
      status: 'failed',
      succeeded: 1,
      failed: 2,
      error: expect.stringMatching(/^line 5: a quote opened there is never closed/),
    });
    const errors = (await client.get(`/v1/imports/${done.id}/errors`)).json().data;
    expect(errors.map((e: any) => e.line)).toEqual([3, 4]);
    expect(errors.find((e: any) => e.line === 3)).toMatchObject({
      code: 'validation_failed',
      errors: [expect.objectContaining({ path: 'total.amount' })],
    });
    expect(errors.find((e: any) => e.line === 4)).toMatchObject({ code: 'order_total_mismatch' });
    const orders = (await client.get('/v1/orders?source=shop')).json().data;
    expect(orders.map((o: any) => o.externalId)).toEqual(['A1']);
    expect(orders[0].items[0]).toMatchObject({
      sku: 'S1',
      quantity: 2,
      unitPrice: { amount: 1500, currency: 'EUR' },
    });
  });

  it('counts a CSV row with several stray quotes once, at its line, and the rows after it at theirs', async () => {
    const { client, token } = await t.newTenant();
    const csv = [
      'externalId,email,firstName',
      'q1,q1@example.com,Ana',
      'q2,q2@example.com,Ana "la" Pérez "x"',
      'q3,q3@example.com,"Eva\r\nLuz"',
      'q4,q4@example.com,Dan',
      'q5,not-an-email,Eve',
    ].join('\r\n');
    const res = await upload(t, token, 'customers', 'text/csv', csv);
    const done = await waitFor(client, res.json().id);
    expect(done).toMatchObject({ status: 'completed', rowsRead: 5, succeeded: 3, failed: 2 });
    const errors = (await client.get(`/v1/imports/${done.id}/errors`)).json().data;
    // q3's quoted line break makes q5 the file's line 7
    expect(errors.map((e: { line: number }) => e.line)).toEqual([3, 7]);
    expect(errors[0].detail).toMatch(/malformed CSV row/);
  });

  it('imports customers from NDJSON, reporting unparsable lines', async () => {
    const { client, token } = await t.newTenant();
    const ndjson = [
      JSON.stringify({
        externalId: 'c1',
        email: 'uno@example.com',
        address: { city: 'Lima', country: 'PE' },
      }),
      '{not json',
      JSON.stringify({ externalId: 'c2', email: 'bad-email' }),
      JSON.stringify({ externalId: 'c3', firstName: 'Tres' }),
    ].join('\n');
    const res = await upload(t, token, 'customers', 'application/x-ndjson', ndjson);
    expect(res.statusCode, res.body).toBe(202);
    const done = await waitFor(client, res.json().id);
    expect(done).toMatchObject({ status: 'completed', rowsRead: 4, succeeded: 2, failed: 2 });
    const errors = (await client.get(`/v1/imports/${done.id}/errors`)).json().data;
    expect(errors.map((e: any) => [e.line, e.code])).toEqual([
      [2, 'invalid_json'],
      [3, 'validation_failed'],
    ]);
    expect((await client.get('/v1/customers?externalId=c3')).json().data).toHaveLength(1);
  });

  it('reports a row whose key holds U+0000 like any bad row (its problem is stored with the escape)', async () => {
    const { client, token } = await t.newTenant();
    const ndjson = [
      '{"externalId":"z1","attributes":{"x\\u0000y":1}}',
      JSON.stringify({ externalId: 'z2', firstName: 'Dos' }),
    ].join('\n');
    const done = await waitFor(
      client,
      (await upload(t, token, 'customers', 'application/x-ndjson', ndjson)).json().id,
    );
    expect(done).toMatchObject({ status: 'completed', succeeded: 1, failed: 1 });
    const [error] = (await client.get(`/v1/imports/${done.id}/errors`)).json().data;
    expect(error).toMatchObject({ line: 1, code: 'validation_failed' });
    expect(error.detail).toContain('x\\u0000y');
  });

  it('shows progress while it runs', async () => {
    const { client, token } = await t.newTenant();
    const lines = ['externalId,email,tags'];
    for (let i = 0; i < 3500; i++) lines.push(`p${i},p${i}@example.com,a|b`);
    // process it ourselves, reading the progress through the API after each batch
    const upload_ = await t.app.services.imports.upload(
      {
        sub: 't',
        tenantId: (await client.get('/v1/settings')).json().tenantId,
        scopes: new Set(['customers:write']),
        segments: null,
      },
      'customers',
      'csv',
      [Buffer.from(lines.join('\n'))],
      { enqueue: false },
    );
    const seen: number[] = [];
    const percents: number[] = [];
    await t.app.services.imports.process((await client.get('/v1/settings')).json().tenantId, upload_.id, {
      afterBatch: async () => {
        const now = (await client.get(`/v1/imports/${upload_.id}`)).json();
        seen.push(now.rowsRead);
        percents.push(now.percentDone);
        expect(now.status).toBe('running');
      },
    });
    expect(seen).toEqual([1000, 2000, 3000]);
    expect(percents[0]).toBeGreaterThan(0);
    expect(percents[2]).toBeLessThan(100);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    const done = await waitFor(client, upload_.id);
    expect(done).toMatchObject({ status: 'completed', rowsRead: 3500, succeeded: 3500, percentDone: 100 });
    expect((await client.get('/v1/customers?tag=b&limit=1')).json().data).toHaveLength(1);
    void token;
  });

  it('reads a header naming __proto__ or constructor.prototype as a field like any other, refused per row', async () => {
    const { client, token } = await t.newTenant();
    const csv = [
      'externalId,email,__proto__.polluted,constructor.prototype.polluted',
      'k1,k1@example.com,yes,',
      'k2,k2@example.com,,yes',
      'k3,k3@example.com,,',
    ].join('\n');
    const done = await waitFor(client, (await upload(t, token, 'customers', 'text/csv', csv)).json().id);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(done).toMatchObject({ status: 'completed', rowsRead: 3, succeeded: 1, failed: 2 });
    const errors = (await client.get(`/v1/imports/${done.id}/errors`)).json().data;
    expect(errors.map((e: any) => [e.line, e.code])).toEqual([
      [2, 'validation_failed'],
      [3, 'validation_failed'],
    ]);
    expect((await client.get('/v1/customers?externalId=k3')).json().data).toHaveLength(1);
  });

  it('skips the byte-order mark that opens an NDJSON file', async () => {
    const { client, token } = await t.newTenant();
    const ndjson = `\uFEFF${JSON.stringify({ externalId: 'bom1', email: 'bom1@example.com' })}\n${JSON.stringify({ externalId: 'bom2' })}`;
    const done = await waitFor(
      client,
      (await upload(t, token, 'customers', 'application/x-ndjson', ndjson)).json().id,
    );
    expect(done).toMatchObject({ status: 'completed', rowsRead: 2, succeeded: 2, failed: 0 });
    // a row holding U+0000 (which PostgreSQL cannot store) is refused on its own
    const nul = [
      JSON.stringify({ externalId: 'nul1', firstName: 'a\u0000b' }),
      JSON.stringify({ externalId: 'nul2' }),
    ].join('\n');
    const withNul = await waitFor(
      client,
      (await upload(t, token, 'customers', 'application/x-ndjson', nul)).json().id,
    );
    expect(withNul).toMatchObject({ status: 'completed', rowsRead: 2, succeeded: 1, failed: 1 });
    const [problem] = (await client.get(`/v1/imports/${withNul.id}/errors`)).json().data;
    expect(problem).toMatchObject({
      line: 1,
      code: 'validation_failed',
      detail: expect.stringMatching(/firstName/),
    });
  });

  it('never runs again an import an erasure stopped, and one stopped while running writes no further batch', async () => {
    const { client } = await t.newTenant();
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    const actor = { sub: 't', tenantId, scopes: new Set(['customers:write']), segments: null };
    const { imports } = t.app.services;
    const erase = async (email: string) => {
      const [c] = (await client.get(`/v1/customers?email=${email}`)).json().data;
      expect((await client.delete(`/v1/customers/${c.id}`)).statusCode).toBe(200);
    };

    // stopped while queued: its job, when it comes, does nothing
    expect((await client.post('/v1/customers', { email: 'queued@example.com' })).statusCode).toBe(201);
    const queued = await imports.upload(
      actor,
      'customers',
      'csv',
      [Buffer.from('externalId,email\nq1,queued@example.com\nq2,q2@example.com\n')],
      { enqueue: false },
    );
    await erase('queued@example.com');
    await imports.process(tenantId, queued.id);
    expect((await client.get(`/v1/imports/${queued.id}`)).json()).toMatchObject({
      status: 'failed',
      rowsRead: 0,
      error: expect.stringMatching(/^stopped/),
    });
    expect((await client.get('/v1/customers?email=q2@example.com')).json().data).toHaveLength(0);

    // stopped after its first batch: the second one, which holds the erased customer, is not written
    expect((await client.post('/v1/customers', { email: 'running@example.com' })).statusCode).toBe(201);
    const lines = ['externalId,email'];
    for (let i = 0; i < 2500; i++)
      lines.push(i === 1500 ? 'r-x,running@example.com' : `r${i},r${i}@example.com`);
    const running = await imports.upload(actor, 'customers', 'csv', [Buffer.from(lines.join('\n'))], {
      enqueue: false,
    });
    let batches = 0;
    await imports.process(tenantId, running.id, {
      afterBatch: async () => {
        if (++batches === 1) await erase('running@example.com');
      },
    });
    expect(batches).toBe(1);
    expect((await client.get(`/v1/imports/${running.id}`)).json()).toMatchObject({
      status: 'failed',
      rowsRead: 1000,
      error: expect.stringMatching(/^stopped/),
    });
    expect((await client.get('/v1/customers?externalId=r999')).json().data).toHaveLength(1);
    expect((await client.get('/v1/customers?externalId=r1000')).json().data).toHaveLength(0);
    expect((await client.get('/v1/customers?externalId=r-x')).json().data).toHaveLength(0);

    // stopped while its body is still arriving: the chunks stored go, and no later one is stored
    expect((await client.post('/v1/customers', { email: 'uploading@example.com' })).statusCode).toBe(201);
    const chunks = async () =>
      (
        await t.db.withTenant(tenantId, (tx) =>
          tx.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM import_chunks`),
        )
      ).rows[0]!.n;
    const first = Buffer.from(
      `externalId,email\nu-x,uploading@example.com\n${'u0,u0@example.com\n'.repeat(70_000)}`,
    );
    async function* body() {
      yield first; // over 1 MiB: stored and committed as one chunk before the next piece is asked for
      expect(await chunks()).toBe(1);
      await erase('uploading@example.com');
      expect(await chunks()).toBe(0);
      yield first;
      yield first;
    }
    const stopped = imports.upload(actor, 'customers', 'csv', body(), { enqueue: false });
    await expect(stopped).rejects.toMatchObject({
      code: 'import_stopped',
      message: expect.stringMatching(/^stopped/),
    });
    expect(await chunks()).toBe(0);
    const [gone] = (
      await t.db.withTenant(tenantId, (tx) =>
        tx.execute<{ status: string; error: string }>(
          sql`SELECT status, error FROM imports ORDER BY created_at DESC LIMIT 1`,
        ),
      )
    ).rows;
    expect(gone).toMatchObject({ status: 'failed', error: expect.stringMatching(/^stopped/) });

    // an email split across two chunks is found all the same
    expect((await client.post('/v1/customers', { email: 'split@example.com' })).statusCode).toBe(201);
    const head = Buffer.from(`externalId,email\n${'s0,s0@example.com\n'.repeat(70_000)}s-x,spl`);
    const split = await imports.upload(
      actor,
      'customers',
      'csv',
      [head, Buffer.from('it@example.com\ns1,s1@example.com\n')],
      { enqueue: false },
    );
    expect(await chunks()).toBe(2);
    await erase('split@example.com');
    expect(await chunks()).toBe(0);
    expect((await client.get(`/v1/imports/${split.id}`)).json()).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^stopped/),
    });
  });

  it('leaves an import running with the error while its job will be retried, failed after the last attempt', async () => {
    const { client } = await t.newTenant();
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    const actor = { sub: 't', tenantId, scopes: new Set(['customers:write']), segments: null };
    const { imports } = t.app.services;
    const lines = ['externalId,email'];
    for (let i = 0; i < 1500; i++) lines.push(`a${i},a${i}@example.com`);
    const file = [Buffer.from(lines.join('\n'))];
    const broken = { afterBatch: () => Promise.reject(new Error('connection lost')) };

    const retried = await imports.upload(actor, 'customers', 'csv', file, { enqueue: false });
    await expect(imports.process(tenantId, retried.id, { ...broken, last: false })).rejects.toThrow(
      'connection lost',
    );
    expect((await client.get(`/v1/imports/${retried.id}`)).json()).toMatchObject({
      status: 'running',
      // the error's own text is the worker log's: readers are told it happened, not what it said
      error: expect.stringMatching(/^an unexpected error stopped the import.*will be retried\)$/),
    });
    await imports.process(tenantId, retried.id);
    expect((await client.get(`/v1/imports/${retried.id}`)).json()).toMatchObject({
      status: 'completed',
      rowsRead: 1500,
      succeeded: 1500,
      error: null,
    });

    const failed = await imports.upload(actor, 'customers', 'csv', file, { enqueue: false });
    await expect(imports.process(tenantId, failed.id, { ...broken, last: true })).rejects.toThrow(
      'connection lost',
    );
    expect((await client.get(`/v1/imports/${failed.id}`)).json()).toMatchObject({
      status: 'failed',
      error: 'an unexpected error stopped the import; the worker log has it',
    });
    // a failed import is final: a stray run of its job changes nothing
    await imports.process(tenantId, failed.id);
    expect((await client.get(`/v1/imports/${failed.id}`)).json().status).toBe('failed');
  });

  it('a retried import resumes after the last batch written: customers known by phone only are not created twice', async () => {
    const { client } = await t.newTenant();
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    const actor = { sub: 't', tenantId, scopes: new Set(['customers:write']), segments: null };
    const { imports } = t.app.services;
    const lines = ['phone,firstName'];
    for (let i = 0; i < 1500; i++) lines.push(`+34 600 ${String(100000 + i)},Ana`);
    lines.splice(700, 0, 'only-one-column'); // a malformed row inside the first batch
    const job = await imports.upload(actor, 'customers', 'csv', [Buffer.from(lines.join('\n'))], {
      enqueue: false,
    });
    let batches = 0;
    const failOnce = {
      afterBatch: async () => {
        batches += 1;
        if (batches === 1) throw new Error('connection lost');
      },
      last: false,
    };
    await expect(imports.process(tenantId, job.id, failOnce)).rejects.toThrow('connection lost');
    expect((await client.get(`/v1/imports/${job.id}`)).json()).toMatchObject({ rowsRead: 1000 });
    await imports.process(tenantId, job.id);
    expect((await client.get(`/v1/imports/${job.id}`)).json()).toMatchObject({
      status: 'completed',
      rowsRead: 1501,
      succeeded: 1500,
      failed: 1,
    });
    const errors = (await client.get(`/v1/imports/${job.id}/errors`)).json().data;
    expect(errors.map((e: { line: number }) => e.line)).toEqual([701]);
    const customers = await t.db.withTenant(tenantId, async (tx) => {
      const rows = await tx.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM customers`);
      return rows.rows[0]!.n;
    });
    expect(customers).toBe(1500);
  });

  it('runs one runner at a time, and the sweep restarts an import never started or left by a killed worker', async () => {
    const { client } = await t.newTenant();
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    const actor = { sub: 't', tenantId, scopes: new Set(['customers:write']), segments: null };
    const { imports } = t.app.services;
    const file = (n: number, tag: string) => {
      const lines = ['phone,firstName'];
      for (let i = 0; i < n; i++) lines.push(`+34 611 ${String(100000 + i)},${tag}`);
      return [Buffer.from(lines.join('\n'))];
    };
    const count = () =>
      t.db.withTenant(tenantId, async (tx) => {
        const rows = await tx.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM customers`);
        return rows.rows[0]!.n;
      });
    const state = async (id: string) => (await client.get(`/v1/imports/${id}`)).json();

    // a second run of the same import while the first is under way leaves it alone
    const one = await imports.upload(actor, 'customers', 'csv', file(1500, 'a'), { enqueue: false });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let first = true;
    const running = imports.process(tenantId, one.id, {
      afterBatch: async () => {
        if (first) {
          first = false;
          await held;
        }
      },
    });
    for (let i = 0; i < 200 && (await state(one.id)).rowsRead < 1000; i++)
      await new Promise((r) => setTimeout(r, 20));
    await imports.process(tenantId, one.id);
    expect((await state(one.id)).status).toBe('running');
    release();
    await running;
    expect(await state(one.id)).toMatchObject({ status: 'completed', rowsRead: 1500, succeeded: 1500 });
    expect(await count()).toBe(1500);

    // stored, but its job never queued: the sweep starts it
    const never = await imports.upload(actor, 'customers', 'csv', file(10, 'b'), { enqueue: false });
    const now = { queuedMinutes: 0, staleMinutes: 0, maxResumes: 1 };
    await imports.sweep([tenantId], now);
    expect(await waitFor(client, never.id)).toMatchObject({ status: 'completed', rowsRead: 10 });

    // a worker killed mid-way (an attempt broke off, none will follow): resumed once, then failed
    const killed = await imports.upload(actor, 'customers', 'csv', file(1500, 'c'), { enqueue: false });
    const kill = { afterBatch: () => Promise.reject(new Error('killed')), last: false };
    await expect(imports.process(tenantId, killed.id, kill)).rejects.toThrow('killed');
    await imports.sweep([tenantId], now);
    expect(await waitFor(client, killed.id)).toMatchObject({
      status: 'completed',
      rowsRead: 1500,
      succeeded: 1500,
    });
    const again = await imports.upload(actor, 'customers', 'csv', file(1500, 'd'), { enqueue: false });
    await expect(imports.process(tenantId, again.id, kill)).rejects.toThrow('killed');
    await imports.sweep([tenantId], { ...now, maxResumes: 0 });
    expect(await state(again.id)).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/stopped making progress 1 times .* up to line 1001 were imported/),
    });
    // never run again: its file (personal data) is gone
    expect(await chunksOf(tenantId, again.id)).toBe(0);

    // an upload whose process stopped while it was arriving: the sweep drops it and what it stored
    const orphan = await t.db.withTenant(tenantId, async (tx) => {
      const id = crypto.randomUUID();
      await tx.execute(sql`INSERT INTO imports (tenant_id, id, type, format, status, bytes)
        VALUES (${tenantId}, ${id}, 'customers', 'csv', 'uploading', 0)`);
      await tx.execute(sql`INSERT INTO import_chunks (tenant_id, import_id, seq, data)
        VALUES (${tenantId}, ${id}, 0, '\x6869'::bytea)`);
      return id;
    });
    expect((await state(orphan)).status).toBe('uploading');
    await imports.sweep([tenantId], now);
    expect((await client.get(`/v1/imports/${orphan}`)).statusCode).toBe(404);
  });

  it('commits an upload a chunk at a time, and drops one that stops sending with a 408 the client receives, keeping nothing of it', async () => {
    const quick = await createTestApp({ env: { UPLOAD_IDLE_MS: '1500' }, jobs: true });
    try {
      const tenant = await quick.newTenant();
      const url = await quick.app.listen({ port: 0, host: '127.0.0.1' });
      const { req, answered } = openUpload(url, tenant.token);
      // the header row and a first chunk of rows, then nothing more (the request is never ended)
      req.write('externalId,email\n');
      req.write(Array.from({ length: 40_000 }, (_, i) => `c-${i},c${i}@example.com\n`).join(''));
      const stored = () => uploadsOf(quick, tenant.id);
      // while the client is still sending, its first chunk is committed and seen from elsewhere
      let seen: Awaited<ReturnType<typeof stored>> = [];
      for (let i = 0; i < 100 && !seen[0]?.chunks; i++) {
        seen = await stored();
        if (!seen[0]?.chunks) await new Promise((r) => setTimeout(r, 10));
      }
      expect(seen).toEqual([{ status: 'uploading', bytes: expect.any(Number), chunks: 1 }]);
      expect(seen[0]!.bytes).toBeGreaterThanOrEqual(1024 * 1024);
      const answer = await answered;
      expect(answer.status).toBe(408);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'upload_stalled', status: 408 });
      expect(answer.connection).toBe('close');
      expect(await stored()).toEqual([]);
    } finally {
      await quick.close();
    }
  });

  it('answers a stored upload as queued even when its job cannot be queued right then (the sweep queues it)', async () => {
    const { client } = await t.newTenant();
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    const actor = { sub: 't', tenantId, scopes: new Set(['customers:write']), segments: null };
    const s = t.app.services;
    const failingQueue = { add: () => Promise.reject(new Error('the queue is away')) } as unknown as Jobs;
    const imports = new ImportsService({
      db: t.db,
      cursors: new Cursors(TEST_CURSOR_SECRET),
      jobs: () => failingQueue,
      customers: s.customers,
      orders: s.orders,
      attributes: s.attributes,
      tenants: s.tenants,
      events: s.events,
    });
    const stored = await imports.upload(actor, 'customers', 'csv', [Buffer.from('externalId\nq-1\n')]);
    expect(stored).toMatchObject({ status: 'queued', bytes: 15 });
    // the sweep finds it waiting (with no patience here) and runs it
    await t.app.services.imports.sweep([tenantId], { ...IMPORT_STALL, queuedMinutes: 0 });
    expect(await waitFor(client, stored.id)).toMatchObject({ status: 'completed', succeeded: 1 });
  });

  it('stores a slow upload’s bytes as often as the idle timeout, whole chunk or not', async () => {
    const quick = await createTestApp({ env: { UPLOAD_IDLE_MS: '1500' }, jobs: true });
    try {
      const tenant = await quick.newTenant();
      const url = await quick.app.listen({ port: 0, host: '127.0.0.1' });
      const { req, answered } = openUpload(url, tenant.token);
      req.write('externalId,email\n');
      // a row every 400 ms: never idle for the 1.5 s timeout, and far from a 1 MiB chunk
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 400));
        req.write(`s-${i},s${i}@example.com\n`);
      }
      const stored = await uploadsOf(quick, tenant.id);
      expect(stored).toEqual([
        { status: 'uploading', bytes: expect.any(Number), chunks: expect.any(Number) },
      ]);
      expect(stored[0]!.chunks).toBeGreaterThan(0);
      req.end();
      const answer = await answered;
      expect(answer.status, answer.body).toBe(202);
      expect(JSON.parse(answer.body)).toMatchObject({ status: 'queued' });
    } finally {
      await quick.close();
    }
  });

  it('fails a file it cannot read past a point, saying where, with the rows before it imported', async () => {
    const { client, token } = await t.newTenant();
    const rows = (n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => `u${from + i},u${from + i}@example.com`);
    // an open quote on line 3 swallows the 300 lines after it
    const quoted = await upload(
      t,
      token,
      'customers',
      'text/csv',
      ['externalId,email', ...rows(1), 'u1,"Ana', ...rows(300, 2)].join('\n'),
    );
    expect(await waitFor(client, quoted.json().id)).toMatchObject({
      status: 'failed',
      succeeded: 1,
      error:
        'line 3: a quote opened there is never closed, so the rest of the file (to line 303) reads as one field; the rows before line 3 were imported',
    });
    // a record over 1 MiB ends the file there, however much follows (here three more chunks' worth)
    const huge = await upload(
      t,
      token,
      'customers',
      'text/csv',
      ['externalId,email', ...rows(1), `big,${'x'.repeat(1_100_000)}`, ...rows(80_000, 2)].join('\n'),
    );
    expect(await waitFor(client, huge.json().id)).toMatchObject({
      status: 'failed',
      succeeded: 1,
      error: expect.stringMatching(/^line 3: the record is longer than 1 MiB/),
    });
    // Latin-1 bytes: refused at the line they are on, never stored mangled
    const latin = t.app.inject({
      method: 'POST',
      url: '/v1/imports?type=customers',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
      payload: Buffer.concat([
        Buffer.from(
          ['externalId,email,firstName', 'l0,l0@example.com,Ana', 'l1,l1@example.com,Garc'].join('\n'),
        ),
        Buffer.from([0xed]),
        Buffer.from('a\n'),
      ]),
    });
    expect(await waitFor(client, (await latin).json().id)).toMatchObject({
      status: 'failed',
      succeeded: 1,
      error: expect.stringMatching(/^line 3: the file is not UTF-8/),
    });
    expect((await client.get('/v1/customers?limit=10')).json().data.map((c: any) => c.externalId)).toEqual(
      expect.not.arrayContaining(['l1']),
    );
    // a character cut by a chunk boundary is whole again, and a real "�" is text: the line named is
    // the bad byte's (a first chunk of 1 MiB, mostly empty lines, ends inside the "ñ" after them)
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    const actor = { sub: 't', tenantId, scopes: new Set(['customers:write']), segments: null };
    const pad = 1024 * 1024;
    const ntilde = Buffer.from('ñ');
    const cut = await t.app.services.imports.upload(
      actor,
      'customers',
      'csv',
      [
        Buffer.concat([Buffer.from(`externalId,email\n${'\n'.repeat(pad)}`), ntilde.subarray(0, 1)]),
        Buffer.concat([
          ntilde.subarray(1),
          Buffer.from(',x@example.com\nq1\uFFFD,q1@example.com\nq2,q2@example.com'),
          Buffer.from([0xed]),
          Buffer.from('\n'),
        ]),
      ],
      { enqueue: false },
    );
    await t.app.services.imports.process(tenantId, cut.id);
    expect((await client.get(`/v1/imports/${cut.id}`)).json()).toMatchObject({
      status: 'failed',
      succeeded: 2,
      error: `line ${pad + 4}: the file is not UTF-8 (convert it, e.g. with iconv -t UTF-8); the rows before this line were imported`,
    });
    // a line cut by a chunk boundary, the bad byte on its far side: not imported truncated
    const straddling = await t.app.services.imports.upload(
      actor,
      'customers',
      'csv',
      [
        Buffer.from(`externalId,email,firstName\n${'\n'.repeat(pad)}s1,s1@example.com,Gar`),
        Buffer.concat([Buffer.from('c'), Buffer.from([0xed]), Buffer.from('a\n')]),
      ],
      { enqueue: false },
    );
    await t.app.services.imports.process(tenantId, straddling.id);
    expect((await client.get(`/v1/imports/${straddling.id}`)).json()).toMatchObject({
      status: 'failed',
      succeeded: 0,
      error: expect.stringMatching(new RegExp(`^line ${pad + 2}: the file is not UTF-8`)),
    });
    expect((await client.get('/v1/customers?externalId=s1')).json().data).toEqual([]);
    expect(await chunksOf(tenantId, straddling.id)).toBe(0);
    // a declared charset other than UTF-8 is refused at once
    const declared = await upload(t, token, 'customers', 'text/csv; charset=ISO-8859-1', 'externalId\nx');
    expect(declared.statusCode).toBe(415);
    expect(declared.json().detail).toMatch(/must be UTF-8 \(charset=ISO-8859-1 was declared\)/);
    expect((await upload(t, token, 'customers', 'text/csv; charset=utf-8', 'externalId\nx')).statusCode).toBe(
      202,
    );
    // an NDJSON file without line breaks is not read whole: a line over 1 MiB ends it
    const long = await upload(
      t,
      token,
      'customers',
      'application/x-ndjson',
      `{"externalId":"n0"}\n{"externalId":"n1","note":"${'x'.repeat(1_100_000)}"}`,
    );
    expect(await waitFor(client, long.json().id)).toMatchObject({
      status: 'failed',
      succeeded: 1,
      error: 'line 2: longer than 1 MiB; the lines before it were imported',
    });
  });

  it('writes as the uploader: the import and the consent it records name the token subject', async () => {
    const { client, token } = await t.newTenant();
    const sub = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sub as string;
    const csv = ['externalId,email,consent.email', 'k0,k0@example.com,true'].join('\n');
    const done = await waitFor(client, (await upload(t, token, 'customers', 'text/csv', csv)).json().id);
    expect(done).toMatchObject({ status: 'completed', succeeded: 1, createdBy: sub });
    const [customer] = (await client.get('/v1/customers?limit=1')).json().data;
    const history = (await client.get(`/v1/customers/${customer.id}/consent-history`)).json().data;
    expect(history).toEqual([expect.objectContaining({ channel: 'email', granted: true, recordedBy: sub })]);
  });

  it('reports a row that spans lines (a quoted line break) at the line where it starts', async () => {
    const { client, token } = await t.newTenant();
    const csv = [
      'externalId,email,firstName',
      '',
      'm0,m0@example.com,"Ana',
      'María"',
      'm1,not-an-email,"Luis',
      'Pedro"',
      'm2,bad',
      'm3,m3@example.com,Eva',
    ].join('\n');
    const done = await waitFor(client, (await upload(t, token, 'customers', 'text/csv', csv)).json().id);
    expect(done).toMatchObject({ status: 'completed', succeeded: 2, failed: 2 });
    const errors = (await client.get(`/v1/imports/${done.id}/errors`)).json().data;
    expect(errors.map((e: any) => e.line)).toEqual([5, 7]);
  });

  it('counts a quoted CRLF line break as one line (line numbers do not drift in a Windows file)', async () => {
    const { client, token } = await t.newTenant();
    const csv = [
      'externalId,email,firstName',
      'w0,w0@example.com,"Ana',
      'María',
      'José"',
      '',
      'w1,not-an-email,Luis',
      'w2,bad',
      'w3,w3@example.com,"Eva',
      'Luz"',
      'w4,also-bad,Rosa',
    ].join('\r\n');
    const done = await waitFor(client, (await upload(t, token, 'customers', 'text/csv', csv)).json().id);
    expect(done).toMatchObject({ status: 'completed', succeeded: 2, failed: 3 });
    const errors = (await client.get(`/v1/imports/${done.id}/errors`)).json().data;
    expect(errors.map((e: any) => e.line)).toEqual([6, 7, 10]);
  });

  it('refuses another content type, an unknown type and an empty body', async () => {
    const { token } = await t.newTenant();
    expect((await upload(t, token, 'orders', 'application/xml', '<a/>')).statusCode).toBe(415);
    // JSON has a parser of its own: the body would arrive parsed, not as a file
    const json = await upload(t, token, 'customers', 'application/json', '{"externalId":"j1"}');
    expect(json.statusCode, json.body).toBe(415);
    expect(json.json().code).toBe('unsupported_media_type');
    const unknown = await upload(t, token, 'coupons', 'text/csv', 'a\n1');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().errors[0].path).toBe('querystring.type');
    expect((await upload(t, token, 'orders', 'text/csv', '')).statusCode).toBe(400);
  });
});

describe('CSV rows', () => {
  it('maps dotted headers, tags, consent, typed attributes and money', () => {
    const types = new Map([
      ['children', 'number'],
      ['car', 'enum'],
      ['newsletter', 'boolean'],
    ]);
    expect(
      customerFromCsv(
        {
          email: 'a@b.c',
          'address.city': 'Sevilla',
          tags: 'x| y',
          'consent.email': 'true',
          'attributes.children': '2',
          'attributes.car': 'SUV',
          'attributes.newsletter': 'false',
          phone: '',
        },
        types,
      ),
    ).toEqual({
      email: 'a@b.c',
      address: { city: 'Sevilla' },
      tags: ['x', 'y'],
      consent: { email: { granted: true } },
      attributes: { children: 2, car: 'SUV', newsletter: false },
    });
    expect(
      orderFromCsv(
        {
          source: 's',
          total: '1999',
          currency: 'USD',
          baseTotal: '1800',
          'customer.email': 'a@b.c',
          'payment.dueAt': '2026-01-01T00:00:00Z',
        },
        types,
        'EUR',
      ),
    ).toEqual({
      source: 's',
      total: { amount: 1999, currency: 'USD' },
      baseTotal: { amount: 1800, currency: 'EUR' },
      payment: { dueAt: '2026-01-01T00:00:00Z' },
      customer: { email: 'a@b.c' },
    });
  });
});
