import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { complaintBody, newCustomer, newIntermediary } from './helpers/factories.ts';

let now = new Date('2026-06-20T12:00:00.000Z');
const clock = { now: () => now };
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(() => t.close());

function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toContain('application/problem+json');
  expect(res.json()).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  return res.json();
}

async function create(client: Client, body: Record<string, unknown>) {
  const res = await client.post('/v1/interactions', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as Record<string, any> & { id: string };
}

async function listIds(client: Client, query: string) {
  const res = await client.get(`/v1/interactions?${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.map((r: { id: string }) => r.id);
}

describe('recording an interaction', () => {
  it('rejects each invalid field with 400 and its path, and writes nothing', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const cases: [Record<string, unknown>, string][] = [
      [{ customerId: 'not-a-uuid' }, 'customerId'],
      [{ customerId: undefined }, 'customerId'],
      [{ channel: 'fax' }, 'channel'],
      [{ direction: 'sideways' }, 'direction'],
      [{ type: 'rant' }, 'type'],
      [{ subject: '   ' }, 'subject'],
      [{ subject: 'x'.repeat(301) }, 'subject'],
      [{ body: 42 }, 'body'],
      [{ occurredAt: 'yesterday' }, 'occurredAt'],
      [{ occurredAt: future }, 'occurredAt'],
      [{ intermediaryId: 'someone' }, 'intermediaryId'],
      [{ tags: ['ok', ''] }, 'tags[1]'],
      [{ tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, 'tags'],
      [{ sentiment: 2 }, 'sentiment'],
      [{ sentiment: -1.01 }, 'sentiment'],
      [{ sentiment: 'bad' }, 'sentiment'],
      [{ sentiment: 1e-50 }, 'sentiment'], // a 4-byte float holds nothing that close to 0
      [{ metadata: { blob: 'x'.repeat(16_374) } }, 'metadata'], // 16,385 bytes of JSON
      [{ metadata: [1, 2] }, 'metadata'],
      [{ gap: 1 }, 'gap'],
    ];
    for (const [patch, path] of cases) {
      const res = await client.post('/v1/interactions', complaintBody(customer.id, patch));
      const problem = expectProblem(res, 400, 'validation_failed');
      expect(
        problem.errors.map((e: { path: string }) => e.path),
        JSON.stringify(patch).slice(0, 80),
      ).toContain(path);
    }
    expect(await listIds(client, `customerId=${customer.id}`)).toEqual([]);
    // 16,384 bytes of JSON is the limit, and is accepted
    const atLimit = await create(
      client,
      complaintBody(customer.id, { metadata: { blob: 'x'.repeat(16_373) } }),
    );
    expect(JSON.stringify(atLimit.metadata)).toHaveLength(16_384);
    for (const sentiment of [-1, 1, 0.25, 0]) {
      expect((await create(client, complaintBody(customer.id, { sentiment }))).sentiment).toBe(sentiment);
    }
  });

  it('counts the 16 KB metadata limit in bytes, not in UTF-16 characters', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const metadata = { nota: '€'.repeat(6_000) }; // 6,011 characters, 18,011 bytes of JSON
    expect(Buffer.byteLength(JSON.stringify(metadata))).toBeGreaterThan(16_384);
    const res = await client.post('/v1/interactions', complaintBody(customer.id, { metadata }));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors.map((e: { path: string }) => e.path)).toEqual(['metadata']);
    expect(await listIds(client, `customerId=${customer.id}`)).toEqual([]);
  });

  it('refuses a customer or an intermediary that is not in the tenant with 422', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const theirs = await newCustomer(b.client);
    const theirEmployee = await newIntermediary(b.client);
    const ours = await newCustomer(a.client);
    const foreignCustomer = await a.client.post('/v1/interactions', complaintBody(theirs.id));
    expect(expectProblem(foreignCustomer, 422, 'invalid_reference').detail).toContain('customerId');
    expect(foreignCustomer.json().errors).toEqual([expect.objectContaining({ path: 'customerId' })]);
    const unknownCustomer = await a.client.post('/v1/interactions', complaintBody(randomUUID()));
    expectProblem(unknownCustomer, 422, 'invalid_reference');
    for (const intermediaryId of [randomUUID(), theirEmployee.id]) {
      const res = await a.client.post('/v1/interactions', complaintBody(ours.id, { intermediaryId }));
      expect(expectProblem(res, 422, 'invalid_reference').detail).toContain('intermediaryId');
      expect(res.json().errors).toEqual([expect.objectContaining({ path: 'intermediaryId' })]);
    }
    expect(await listIds(a.client, 'limit=500')).toEqual([]);
    expect(await listIds(b.client, 'limit=500')).toEqual([]);
    // the same on update: the row stays as it was
    const row = await create(a.client, complaintBody(ours.id));
    const patch = await a.client.patch(`/v1/interactions/${row.id}`, { intermediaryId: theirEmployee.id });
    expectProblem(patch, 422, 'invalid_reference');
    expect((await a.client.get(`/v1/interactions/${row.id}`)).json()).toMatchObject({
      version: 1,
      intermediaryId: null,
    });
  });
});

describe('reading and updating one interaction', () => {
  it('serves an ETag and refuses a PATCH with a stale If-Match with 412', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const created = await client.post('/v1/interactions', complaintBody(customer.id, { tags: ['talla'] }));
    expect(created.headers.etag).toBe('"v1"');
    const got = await client.get(`/v1/interactions/${created.json().id}`);
    expect(got.statusCode).toBe(200);
    expect(got.headers.etag).toBe('"v1"');
    expect(got.json()).toEqual(created.json());
    const url = `/v1/interactions/${created.json().id}`;

    const updated = await client.patch(
      url,
      { tags: ['talla', 'urgente', 'talla'], sentiment: -0.5, subject: null },
      { 'if-match': '"v1"' },
    );
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.headers.etag).toBe('"v2"');
    expect(updated.json()).toMatchObject({
      version: 2,
      tags: ['talla', 'urgente'],
      sentiment: -0.5,
      subject: null,
    });

    const stale = await client.patch(url, { sentiment: 0.9 }, { 'if-match': '"v1"' });
    expectProblem(stale, 412, 'precondition_failed');
    expect((await client.get(url)).json()).toMatchObject({ version: 2, sentiment: -0.5 });

    // channel, type and customer are not editable
    expectProblem(await client.patch(url, { channel: 'phone' }), 400, 'validation_failed');
    expectProblem(
      await client.patch(url, { sentiment: 2 }, { 'if-match': '"v2"' }),
      400,
      'validation_failed',
    );
    expect((await client.get(url)).json()).toMatchObject({ version: 2, channel: 'email', sentiment: -0.5 });

    // a reply moves the case, so an ETag read before it is stale
    await client.post(`${url}/replies`, { body: 'Lo miramos' });
    expectProblem(await client.patch(url, { tags: [] }, { 'if-match': '"v2"' }), 412, 'precondition_failed');
    const fresh = await client.get(url);
    expect(fresh.headers.etag).toBe('"v3"');
    const ok = await client.patch(url, { tags: [] }, { 'if-match': fresh.headers.etag as string });
    expect(ok.json()).toMatchObject({ version: 4, tags: [], case: { status: 'in_progress' } });
  });

  it('answers 404 for another tenant’s interaction on GET, PATCH, replies and transitions', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const theirs = await create(b.client, complaintBody((await newCustomer(b.client)).id));
    const url = `/v1/interactions/${theirs.id}`;
    expectProblem(await a.client.get(url), 404, 'interaction_not_found');
    expectProblem(await a.client.patch(url, { sentiment: 1 }), 404, 'interaction_not_found');
    expectProblem(await a.client.post(`${url}/replies`, { body: 'hola' }), 404, 'interaction_not_found');
    expectProblem(
      await a.client.post(`${url}/transitions`, { to: 'in_progress' }),
      404,
      'interaction_not_found',
    );
    expectProblem(await a.client.get(`/v1/interactions/${randomUUID()}`), 404, 'interaction_not_found');
    expectProblem(await a.client.get('/v1/interactions/nope'), 400, 'validation_failed');
    expect((await b.client.get(url)).json()).toMatchObject({
      version: 1,
      sentiment: null,
      case: { status: 'open', firstResponseAt: null },
    });
    expect(await listIds(b.client, `customerId=${theirs.customerId}`)).toEqual([theirs.id]);
    expect(await listIds(a.client, 'limit=500')).toEqual([]);
  });
});

describe('listing interactions', () => {
  it('filters by customer, type, channel, status, intermediary and period', async () => {
    const { client } = await t.newTenant();
    const c1 = (await newCustomer(client)).id;
    const c2 = (await newCustomer(client)).id;
    const m1 = (await newIntermediary(client)).id;
    now = new Date('2026-06-10T12:00:00.000Z');
    const a = await create(
      client,
      complaintBody(c1, { occurredAt: '2026-05-01T10:00:00Z', intermediaryId: m1 }),
    );
    const b = await create(
      client,
      complaintBody(c1, { type: 'inquiry', channel: 'phone', occurredAt: '2026-05-10T00:00:00Z' }),
    );
    const c = await create(
      client,
      complaintBody(c2, {
        type: 'praise',
        channel: 'chat',
        occurredAt: '2026-05-20T10:00:00Z',
        intermediaryId: m1,
      }),
    );
    const d = await create(client, complaintBody(c2, { type: 'claim', occurredAt: '2026-06-01T00:00:00Z' }));
    const e = await create(
      client,
      complaintBody(c1, { type: 'note', direction: 'outbound', occurredAt: '2026-06-05T10:00:00Z' }),
    );
    expect(
      (await client.post(`/v1/interactions/${d.id}/transitions`, { to: 'in_progress' })).statusCode,
    ).toBe(200);

    expect(await listIds(client, `customerId=${c1}`)).toEqual([a.id, b.id, e.id]);
    expect(await listIds(client, 'type=complaint')).toEqual([a.id]);
    expect(await listIds(client, 'channel=email')).toEqual([a.id, d.id, e.id]);
    expect(await listIds(client, 'status=open')).toEqual([a.id, b.id]);
    expect(await listIds(client, 'status=in_progress')).toEqual([d.id]);
    expect(await listIds(client, 'status=resolved')).toEqual([]);
    expect(await listIds(client, `intermediaryId=${m1}`)).toEqual([a.id, c.id]);
    // from is inclusive, to is exclusive
    expect(await listIds(client, 'from=2026-05-10T00:00:00Z&to=2026-06-01T00:00:00Z')).toEqual([b.id, c.id]);
    expect(await listIds(client, 'from=2026-06-01T02:00:00%2B02:00')).toEqual([d.id, e.id]);
    expect(await listIds(client, `customerId=${c1}&channel=email`)).toEqual([a.id, e.id]);
    for (const [query, path] of [
      ['status=pending', 'querystring.status'],
      ['type=rant', 'querystring.type'],
      ['channel=fax', 'querystring.channel'],
      ['from=last-week', 'querystring.from'],
      ['customerId=42', 'querystring.customerId'],
      ['limit=0', 'querystring.limit'],
      ['sort=id', 'querystring.sort'],
    ]) {
      const problem = expectProblem(await client.get(`/v1/interactions?${query}`), 400, 'validation_failed');
      expect(
        problem.errors.map((x: { path: string }) => x.path),
        query,
      ).toContain(path);
    }
  });

  it('pages with a cursor bound to its tenant and filters', async () => {
    const { client } = await t.newTenant();
    const other = await t.newTenant();
    const c1 = (await newCustomer(client)).id;
    const c2 = (await newCustomer(client)).id;
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await create(client, complaintBody(c1))).id);
    await create(client, complaintBody(c2));
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    let first = '';
    do {
      const res: LightMyRequestResponse = await client.get(
        `/v1/interactions?customerId=${c1}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.statusCode, res.body).toBe(200);
      sizes.push(res.json().data.length);
      seen.push(...res.json().data.map((r: { id: string }) => r.id));
      cursor = res.json().nextCursor;
      first ||= cursor ?? '';
    } while (cursor);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(mine);
    expectProblem(
      await client.get(`/v1/interactions?customerId=${c2}&cursor=${first}`),
      400,
      'invalid_cursor',
    );
    expectProblem(await client.get(`/v1/interactions?cursor=${first}`), 400, 'invalid_cursor');
    expectProblem(
      await other.client.get(`/v1/interactions?customerId=${c1}&cursor=${first}`),
      400,
      'invalid_cursor',
    );
  });
});

describe('replies', () => {
  it('refuses a reply older than what it answers; a second reply keeps the first-response time', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date('2026-06-10T12:00:00.000Z');
    const original = await create(client, complaintBody(customer.id, { occurredAt: '2026-06-10T08:00:00Z' }));
    const url = `/v1/interactions/${original.id}`;
    const early = await client.post(`${url}/replies`, { body: 'hola', occurredAt: '2026-06-10T07:59:59Z' });
    expect(expectProblem(early, 400, 'validation_failed').errors).toEqual([
      { path: 'occurredAt', message: expect.stringContaining('2026-06-10T08:00:00.000Z') },
    ]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expectProblem(
      await client.post(`${url}/replies`, { body: 'hola', occurredAt: future }),
      400,
      'validation_failed',
    );
    expectProblem(await client.post(`${url}/replies`, { body: '' }), 400, 'validation_failed');
    expect(await listIds(client, `customerId=${customer.id}`)).toEqual([original.id]);
    expect((await client.get(url)).json()).toMatchObject({
      version: 1,
      case: { status: 'open', firstResponseAt: null },
    });

    const first = await client.post(`${url}/replies`, {
      body: 'Lo vemos',
      occurredAt: '2026-06-10T09:00:00Z',
    });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({
      customerId: customer.id,
      channel: 'email',
      direction: 'outbound',
      type: 'message',
      subject: 'Re: Talla equivocada',
      replyTo: original.id,
      occurredAt: '2026-06-10T09:00:00.000Z',
      case: null,
    });
    const second = await client.post(`${url}/replies`, { body: 'Resuelto', channel: 'phone' });
    expect(second.json()).toMatchObject({ channel: 'phone', occurredAt: '2026-06-10T12:00:00.000Z' });
    expect((await client.get(url)).json().case).toMatchObject({
      status: 'in_progress',
      firstResponseAt: '2026-06-10T09:00:00.000Z',
      slaBreached: false,
    });
    expect(await listIds(client, `customerId=${customer.id}`)).toEqual([
      original.id,
      first.json().id,
      second.json().id,
    ]);
  });

  it('dates a reply without a time at the original’s when that is a little ahead of the clock', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date();
    const ahead = new Date(now.getTime() + 180_000).toISOString();
    const original = await create(client, complaintBody(customer.id, { occurredAt: ahead }));
    const reply = await client.post(`/v1/interactions/${original.id}/replies`, { body: 'Lo vemos' });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json().occurredAt).toBe(ahead);
  });

  it('answers an interaction that is not a case without opening one', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const praise = await create(client, complaintBody(customer.id, { type: 'praise' }));
    const res = await client.post(`/v1/interactions/${praise.id}/replies`, { body: '¡Gracias!' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ replyTo: praise.id, direction: 'outbound', case: null });
    expect((await client.get(`/v1/interactions/${praise.id}`)).json()).toMatchObject({
      case: null,
      version: 1,
    });
    expect(await listIds(client, 'status=open')).toEqual([]);
  });
});

describe('scopes', () => {
  it('reads with interactions:read, writes with interactions:write, and refuses the rest with 403', async () => {
    const tenant = await t.newTenant();
    const customer = await newCustomer(tenant.client);
    const row = await create(tenant.client, complaintBody(customer.id));
    const url = `/v1/interactions/${row.id}`;
    const reader = t.as(await t.token(tenant, ['interactions:read']));
    const writer = t.as(await t.token(tenant, ['interactions:write']));
    const crm = t.as(await t.token(tenant, ['customers:read', 'customers:write']));

    for (const path of [
      url,
      '/v1/interactions',
      '/v1/insights/voice',
      `/v1/customers/${customer.id}/voice`,
    ]) {
      expect((await reader.get(path)).statusCode, path).toBe(200);
      expectProblem(await writer.get(path), 403, 'insufficient_scope');
      expectProblem(await crm.get(path), 403, 'insufficient_scope');
    }
    const writes: [string, Record<string, unknown>, 'post' | 'patch'][] = [
      ['/v1/interactions', complaintBody(customer.id), 'post'],
      [url, { sentiment: 1 }, 'patch'],
      [`${url}/replies`, { body: 'hola' }, 'post'],
      [`${url}/transitions`, { to: 'resolved', resolution: { outcome: 'rejected' } }, 'post'],
    ];
    for (const [path, body, method] of writes) {
      expectProblem(await reader[method](path, body), 403, 'insufficient_scope');
      expectProblem(await crm[method](path, body), 403, 'insufficient_scope');
      expectProblem(await t.as()[method](path, body), 401, 'unauthorized');
    }
    expect(await listIds(tenant.client, 'limit=500')).toEqual([row.id]);
    expect((await tenant.client.get(url)).json()).toMatchObject({
      version: 1,
      sentiment: null,
      case: { status: 'open' },
    });
    // interactions:write alone is enough to write
    for (const [path, body, method] of writes) {
      expect((await writer[method](path, body)).statusCode, path).toBe(
        method === 'post' && !path.endsWith('transitions') ? 201 : 200,
      );
    }
    expect((await tenant.client.get(url)).json()).toMatchObject({
      sentiment: 1,
      case: { status: 'resolved', firstResponseAt: expect.any(String), resolution: { outcome: 'rejected' } },
    });
  });
});
