import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newIntermediary } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code });
  return res.json() as { errors?: { path: string }[] };
}

async function listIds(client: Client, query = '') {
  const res = await client.get(`/v1/intermediaries?limit=500${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().data as { id: string }[]).map((i) => i.id);
}

describe('intermediaries', () => {
  it('creates one of each kind, reads it with its ETag and lists them', async () => {
    const { client } = await t.newTenant();
    const created = [];
    for (const kind of ['employee', 'prescriber', 'supplier', 'distributor']) {
      const res = await client.post('/v1/intermediaries', {
        kind,
        name: `  ${kind} uno  `,
        email: `${kind}@Tienda.Example`,
        phone: '+34 600 000 000',
        externalId: `${kind}-1`,
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.headers.etag).toBe('"v1"');
      expect(res.json()).toMatchObject({
        kind,
        name: `${kind} uno`,
        email: `${kind}@tienda.example`,
        phone: '+34 600 000 000',
        externalId: `${kind}-1`,
        active: true,
        version: 1,
      });
      created.push(res.json());
    }
    const got = await client.get(`/v1/intermediaries/${created[1].id}`);
    expect(got.statusCode).toBe(200);
    expect(got.headers.etag).toBe('"v1"');
    expect(got.json()).toEqual(created[1]);
    expect(await listIds(client)).toEqual(created.map((c) => c.id));
  });

  it('PATCH changes fields, null clears one, and the kind may change', async () => {
    const { client } = await t.newTenant();
    const i = await newIntermediary(client, { email: 'a@example.com', externalId: 'e-1' });
    const res = await client.patch(`/v1/intermediaries/${i.id}`, {
      name: 'Nuevo nombre',
      kind: 'distributor',
      email: null,
      active: false,
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers.etag).toBe('"v2"');
    const got = (await client.get(`/v1/intermediaries/${i.id}`)).json();
    expect(got).toMatchObject({
      name: 'Nuevo nombre',
      kind: 'distributor',
      email: null,
      externalId: 'e-1',
      active: false,
      version: 2,
    });
  });

  it('an account manager stays an employee while customers have it: another kind → 409 intermediary_in_use', async () => {
    const { client } = await t.newTenant();
    const e = await newIntermediary(client, { kind: 'employee' });
    const managed = await client.post('/v1/customers', { email: 'm@example.com', accountManagerId: e.id });
    expect(managed.statusCode, managed.body).toBe(201);
    const refused = await client.patch(`/v1/intermediaries/${e.id}`, { kind: 'supplier' });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().code).toBe('intermediary_in_use');
    expect((await client.get(`/v1/intermediaries/${e.id}`)).json().kind).toBe('employee');
    // reassigned, it may change
    expect(
      (await client.patch(`/v1/customers/${managed.json().id}`, { accountManagerId: null })).statusCode,
    ).toBe(200);
    expect((await client.patch(`/v1/intermediaries/${e.id}`, { kind: 'supplier' })).statusCode).toBe(200);
  });

  it('validation: bad kind, missing name, bad email, unknown field → 400 with the path; nothing written', async () => {
    const { client } = await t.newTenant();
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'boss', name: 'X' }, 'kind'],
      [{ name: 'X' }, 'kind'],
      [{ kind: 'employee' }, 'name'],
      [{ kind: 'employee', name: '   ' }, 'name'],
      [{ kind: 'employee', name: 'X', email: 'nope' }, 'email'],
      [{ kind: 'employee', name: 'X', phone: 'abc' }, 'phone'],
      [{ kind: 'employee', name: 'X', active: 'yes' }, 'active'],
      [{ kind: 'employee', name: 'X', boss: true }, 'boss'],
    ];
    for (const [body, path] of cases) {
      const problem = expectProblem(await client.post('/v1/intermediaries', body), 400, 'validation_failed');
      expect(
        problem.errors?.map((e) => e.path),
        JSON.stringify(body),
      ).toContain(path);
    }
    expect(await listIds(client)).toEqual([]);

    const i = await newIntermediary(client);
    const bad = await client.patch(`/v1/intermediaries/${i.id}`, { kind: 'boss', name: 'Changed' });
    expect(expectProblem(bad, 400, 'validation_failed').errors?.map((e) => e.path)).toContain('kind');
    expect((await client.get(`/v1/intermediaries/${i.id}`)).json()).toMatchObject({
      name: i.name,
      version: 1,
    });
  });

  it('a duplicate externalId → 409 intermediary_external_id_taken', async () => {
    const { client } = await t.newTenant();
    const first = await newIntermediary(client, { externalId: 'emp-7' });
    expectProblem(
      await client.post('/v1/intermediaries', { kind: 'supplier', name: 'Otro', externalId: 'emp-7' }),
      409,
      'intermediary_external_id_taken',
    );
    expect(await listIds(client)).toEqual([first.id]);
    const second = await newIntermediary(client, { externalId: 'emp-8' });
    expectProblem(
      await client.patch(`/v1/intermediaries/${second.id}`, { externalId: 'emp-7' }),
      409,
      'intermediary_external_id_taken',
    );
    expect((await client.get(`/v1/intermediaries/${second.id}`)).json().externalId).toBe('emp-8');
    // another tenant may use the same externalId
    const other = await t.newTenant();
    await newIntermediary(other.client, { externalId: 'emp-7' });
  });

  it('If-Match: a stale ETag → 412 and the row is unchanged', async () => {
    const { client } = await t.newTenant();
    const i = await newIntermediary(client, { name: 'Uno' });
    const ok = await client.patch(`/v1/intermediaries/${i.id}`, { name: 'Dos' }, { 'if-match': '"v1"' });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.headers.etag).toBe('"v2"');
    const stale = await client.patch(`/v1/intermediaries/${i.id}`, { name: 'Tres' }, { 'if-match': '"v1"' });
    expectProblem(stale, 412, 'precondition_failed');
    const got = await client.get(`/v1/intermediaries/${i.id}`);
    expect(got.headers.etag).toBe('"v2"');
    expect(got.json()).toMatchObject({ name: 'Dos', version: 2 });
    const star = await client.patch(`/v1/intermediaries/${i.id}`, { name: 'Cuatro' }, { 'if-match': '*' });
    expect(star.headers.etag).toBe('"v3"');
  });

  it('list filters by kind and active, and pages', async () => {
    const { client } = await t.newTenant();
    const e1 = await newIntermediary(client, { kind: 'employee' });
    const e2 = await newIntermediary(client, { kind: 'employee', active: false });
    const p1 = await newIntermediary(client, { kind: 'prescriber' });
    const s1 = await newIntermediary(client, { kind: 'supplier', active: false });
    expect(await listIds(client, '&kind=employee')).toEqual([e1.id, e2.id]);
    expect(await listIds(client, '&kind=prescriber')).toEqual([p1.id]);
    expect(await listIds(client, '&kind=distributor')).toEqual([]);
    expect(await listIds(client, '&active=true')).toEqual([e1.id, p1.id]);
    expect(await listIds(client, '&active=false')).toEqual([e2.id, s1.id]);
    expect(await listIds(client, '&kind=employee&active=false')).toEqual([e2.id]);
    expect((await client.get('/v1/intermediaries?kind=boss')).statusCode).toBe(400);
    expect((await client.get('/v1/intermediaries?active=maybe')).statusCode).toBe(400);

    const first = (await client.get('/v1/intermediaries?limit=3')).json();
    expect(first.data).toHaveLength(3);
    const rest = (
      await client.get(`/v1/intermediaries?limit=3&cursor=${encodeURIComponent(first.nextCursor)}`)
    ).json();
    expect(rest.data.map((i: { id: string }) => i.id)).toEqual([s1.id]);
    expect(rest.nextCursor).toBeNull();
  });

  it('unknown, foreign or malformed ids', async () => {
    const { client } = await t.newTenant();
    const other = await t.newTenant();
    const foreign = await newIntermediary(other.client);
    expectProblem(await client.get(`/v1/intermediaries/${randomUUID()}`), 404, 'intermediary_not_found');
    expectProblem(await client.get(`/v1/intermediaries/${foreign.id}`), 404, 'intermediary_not_found');
    expectProblem(
      await client.patch(`/v1/intermediaries/${foreign.id}`, { name: 'Hijacked' }),
      404,
      'intermediary_not_found',
    );
    expect((await other.client.get(`/v1/intermediaries/${foreign.id}`)).json().name).toBe(foreign.name);
    expectProblem(await client.get('/v1/intermediaries/123'), 400, 'validation_failed');
  });

  it('scopes: reading needs customers:read, writing customers:write', async () => {
    const tenant = await t.newTenant();
    const reader = t.as(await t.token(tenant, ['customers:read']));
    expect((await reader.get('/v1/intermediaries')).statusCode).toBe(200);
    expectProblem(
      await reader.post('/v1/intermediaries', { kind: 'employee', name: 'X' }),
      403,
      'insufficient_scope',
    );
    expect(await listIds(tenant.client)).toEqual([]);
  });
});
