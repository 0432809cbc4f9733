import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newAttribute, newCustomer } from './helpers/factories.ts';

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

async function keys(client: Client) {
  const res = await client.get('/v1/attributes?limit=500');
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().data as { key: string }[]).map((a) => a.key);
}

const car = { key: 'car', label: 'Car', type: 'enum', values: ['none', 'compact', 'SUV'] };

describe('attribute definitions', () => {
  it('creates one of each type, reads and lists them', async () => {
    const { client } = await t.newTenant();
    const bodies: { key: string; label: string; type: string; values?: string[]; description?: string }[] = [
      { key: 'nickname', label: 'Nickname', type: 'string', description: 'What friends call them' },
      { key: 'children', label: 'Children', type: 'number' },
      { key: 'hasDog', label: 'Has a dog', type: 'boolean' },
      { key: 'weddingDay', label: 'Wedding day', type: 'date' },
      car,
    ];
    const created = [];
    for (const body of bodies) {
      const a = await newAttribute(client, body);
      expect(a).toMatchObject({
        id: expect.any(String),
        key: body.key,
        label: body.label,
        type: body.type,
        values: body.values ?? null,
        description: body.description ?? null,
        createdAt: expect.any(String),
      });
      created.push(a);
    }
    const got = await client.get(`/v1/attributes/${created[4]!.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(created[4]);
    expect(await keys(client)).toEqual(bodies.map((b) => b.key));
  });

  it('customers’ values are checked against each type', async () => {
    const { client } = await t.newTenant();
    await newAttribute(client, { key: 'nickname', label: 'Nickname', type: 'string' });
    await newAttribute(client, { key: 'children', label: 'Children', type: 'number' });
    await newAttribute(client, { key: 'hasDog', label: 'Has a dog', type: 'boolean' });
    await newAttribute(client, { key: 'weddingDay', label: 'Wedding day', type: 'date' });
    await newAttribute(client, car);
    const wrong: Record<string, unknown>[] = [
      { nickname: 5 },
      { children: '2' },
      { hasDog: 'yes' },
      { weddingDay: '2020-13-45' },
      { weddingDay: '12/05/2020' },
      { car: 'truck' },
      { car: 1 },
    ];
    for (const attributes of wrong) {
      const problem = expectProblem(
        await client.post('/v1/customers', { attributes }),
        400,
        'invalid_attribute',
      );
      expect(problem.errors?.map((e) => e.path)).toEqual([`attributes.${Object.keys(attributes)[0]}`]);
    }
    expect((await client.get('/v1/customers')).json().data).toEqual([]);
    const ok = { nickname: 'Lu', children: 2, hasDog: true, weddingDay: '2015-06-20', car: 'SUV' };
    expect((await newCustomer(client, { attributes: ok })).attributes).toEqual(ok);
  });

  it('a date attribute refuses days that do not exist (as birthDate does)', async () => {
    const { client } = await t.newTenant();
    await newAttribute(client, { key: 'weddingDay', label: 'Wedding day', type: 'date' });
    expectProblem(await client.post('/v1/customers', { birthDate: '2021-02-30' }), 400, 'validation_failed');
    for (const day of ['2021-02-30', '2021-04-31']) {
      const res = await client.post('/v1/customers', { attributes: { weddingDay: day } });
      expect(expectProblem(res, 400, 'invalid_attribute').errors?.map((e) => e.path)).toEqual([
        'attributes.weddingDay',
      ]);
    }
    expect((await client.get('/v1/customers')).json().data).toEqual([]);
  });

  it('validation: enum needs values, only enum takes values, keys are identifiers', async () => {
    const { client } = await t.newTenant();
    const cases: [Record<string, unknown>, string][] = [
      [{ key: 'car', label: 'Car', type: 'enum' }, 'values'],
      [{ key: 'car', label: 'Car', type: 'enum', values: [] }, 'values'],
      [{ key: 'car', label: 'Car', type: 'enum', values: ['a', 'a'] }, 'values'],
      [{ key: 'kids', label: 'Kids', type: 'number', values: ['1', '2'] }, 'values'],
      [{ key: '9x', label: 'Bad', type: 'string' }, 'key'],
      [{ key: 'Upper', label: 'Bad', type: 'string' }, 'key'],
      [{ key: 'with-dash', label: 'Bad', type: 'string' }, 'key'],
      [{ key: 'k', label: 'Bad', type: 'color' }, 'type'],
      [{ key: 'k', type: 'string' }, 'label'],
      [{ key: 'k', label: 'K', type: 'string', extra: 1 }, 'extra'],
    ];
    for (const [body, path] of cases) {
      const problem = expectProblem(await client.post('/v1/attributes', body), 400, 'validation_failed');
      expect(
        problem.errors?.map((e) => e.path),
        JSON.stringify(body),
      ).toContain(path);
    }
    expect(await keys(client)).toEqual([]);
  });

  it('null removes a value even when its definition is gone; an unknown key with a value is still refused', async () => {
    const { client } = await t.newTenant();
    const c = (await client.post('/v1/customers', { email: 'orphan@example.com' })).json();
    expect((await client.patch(`/v1/customers/${c.id}`, { attributes: { gone: null } })).statusCode).toBe(
      200,
    );
    const refused = await client.patch(`/v1/customers/${c.id}`, { attributes: { gone: 1 } });
    expect(refused.statusCode).toBe(400);
  });

  it('a definition is not removed while a value it allows is being written (the delete waits, then refuses)', async () => {
    const { client, id: tenantId } = await t.newTenant();
    const def = (await client.post('/v1/attributes', { key: 'kids', label: 'Kids', type: 'number' })).json();
    const c = (await client.post('/v1/customers', { email: 'racing@example.com' })).json();
    let settled = false;
    let removal: Promise<{ statusCode: number }> | undefined;
    await t.db.withTenant(tenantId, async (tx) => {
      // a writer of the value, as a customer write runs
      await t.app.services.attributes.definitionsForWrite(tx);
      removal = client.delete(`/v1/attributes/${def.id}`).finally(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      await tx.execute(sql`UPDATE customers SET attributes = '{"kids": 2}' WHERE id = ${c.id}::uuid`);
    });
    expect((await removal!).statusCode).toBe(409);
    expect((await client.get(`/v1/customers/${c.id}`)).json().attributes).toEqual({ kids: 2 });
  });

  it('a duplicate key → 409 attribute_key_taken; another tenant may use it', async () => {
    const { client } = await t.newTenant();
    const first = await newAttribute(client, { key: 'children', label: 'Children', type: 'number' });
    expectProblem(
      await client.post('/v1/attributes', { key: 'children', label: 'Kids', type: 'string' }),
      409,
      'attribute_key_taken',
    );
    expect((await client.get(`/v1/attributes/${first.id}`)).json()).toMatchObject({
      label: 'Children',
      type: 'number',
    });
    expect(await keys(client)).toEqual(['children']);
    const other = await t.newTenant();
    await newAttribute(other.client, { key: 'children', label: 'Kids', type: 'string' });
  });

  it('scopes: defining needs admin; listing needs customers:read', async () => {
    const tenant = await t.newTenant();
    const defined = await newAttribute(tenant.client, { key: 'children', label: 'Children', type: 'number' });
    const writer = t.as(await t.token(tenant, ['customers:read', 'customers:write', 'customers:pii']));
    expectProblem(
      await writer.post('/v1/attributes', { key: 'car', label: 'Car', type: 'string' }),
      403,
      'insufficient_scope',
    );
    expectProblem(
      await writer.patch(`/v1/attributes/${defined.id}`, { label: 'X' }),
      403,
      'insufficient_scope',
    );
    expectProblem(await writer.delete(`/v1/attributes/${defined.id}`), 403, 'insufficient_scope');
    const reader = t.as(await t.token(tenant, ['customers:read']));
    expect(await keys(reader)).toEqual(['children']);
    expect((await reader.get(`/v1/attributes/${defined.id}`)).statusCode).toBe(200);
    const nobody = t.as(await t.token(tenant, ['orders:write']));
    expectProblem(await nobody.get('/v1/attributes'), 403, 'insufficient_scope');
    expect((await tenant.client.get(`/v1/attributes/${defined.id}`)).json().label).toBe('Children');
  });

  it('PATCH: adding enum values is fine; removing one a customer holds → 409 attribute_in_use', async () => {
    const { client } = await t.newTenant();
    const def = await newAttribute(client, car);
    const c = await newCustomer(client, { attributes: { car: 'SUV' } });

    const added = await client.patch(`/v1/attributes/${def.id}`, {
      label: 'Car type',
      values: ['none', 'compact', 'SUV', 'van'],
    });
    expect(added.statusCode, added.body).toBe(200);
    expect(added.json()).toMatchObject({ label: 'Car type', values: ['none', 'compact', 'SUV', 'van'] });
    expect((await client.patch(`/v1/customers/${c.id}`, { attributes: { car: 'van' } })).statusCode).toBe(
      200,
    );

    expectProblem(
      await client.patch(`/v1/attributes/${def.id}`, { values: ['none', 'compact', 'SUV'] }),
      409,
      'attribute_in_use',
    );
    expect((await client.get(`/v1/attributes/${def.id}`)).json().values).toEqual([
      'none',
      'compact',
      'SUV',
      'van',
    ]);

    // values nobody holds may go
    const removed = await client.patch(`/v1/attributes/${def.id}`, { values: ['SUV', 'van'] });
    expect(removed.statusCode, removed.body).toBe(200);
    expect((await client.get(`/v1/attributes/${def.id}`)).json().values).toEqual(['SUV', 'van']);
    expectProblem(
      await client.patch(`/v1/customers/${c.id}`, { attributes: { car: 'compact' } }),
      400,
      'invalid_attribute',
    );
  });

  it('ETag and If-Match: a change or a delete based on a stale read is a 412 and changes nothing', async () => {
    const { client } = await t.newTenant();
    const created = await client.post('/v1/attributes', car);
    expect(created.headers.etag).toBe('"v1"');
    const { id } = created.json();
    expect((await client.get(`/v1/attributes/${id}`)).headers.etag).toBe('"v1"');
    const changed = await client.patch(`/v1/attributes/${id}`, { label: 'Coche' }, { 'if-match': '"v1"' });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.headers.etag).toBe('"v2"');
    expect(changed.json()).toMatchObject({ label: 'Coche', version: 2 });
    expectProblem(
      await client.patch(`/v1/attributes/${id}`, { label: 'Auto' }, { 'if-match': '"v1"' }),
      412,
      'precondition_failed',
    );
    expectProblem(
      await client.delete(`/v1/attributes/${id}`, { 'if-match': '"v1"' }),
      412,
      'precondition_failed',
    );
    expect((await client.get(`/v1/attributes/${id}`)).json()).toMatchObject({ label: 'Coche', version: 2 });
    const stale = await client.graphql(
      'mutation($id: ID!) { updateAttribute(id: $id, input: { label: "Auto" }, ifMatch: "v1") { version } }',
      { id },
    );
    expect(stale.body.errors?.[0]?.extensions?.code).toBe('precondition_failed');
    const gone = await client.graphql('mutation($id: ID!) { deleteAttribute(id: $id, ifMatch: "v2") }', {
      id,
    });
    expect(gone.body.errors).toBeUndefined();
    expect((await client.get(`/v1/attributes/${id}`)).statusCode).toBe(404);
  });

  it('PATCH: values on a non-enum → 400; unknown id → 404', async () => {
    const { client } = await t.newTenant();
    const def = await newAttribute(client, { key: 'children', label: 'Children', type: 'number' });
    const problem = expectProblem(
      await client.patch(`/v1/attributes/${def.id}`, { values: ['1'] }),
      400,
      'validation_failed',
    );
    expect(problem.errors?.map((e) => e.path)).toEqual(['values']);
    expect((await client.get(`/v1/attributes/${def.id}`)).json().values).toBeNull();
    const typeChange = await client.patch(`/v1/attributes/${def.id}`, { type: 'string' });
    expect(expectProblem(typeChange, 400, 'validation_failed').errors?.map((e) => e.path)).toContain('type');
    expectProblem(
      await client.patch(`/v1/attributes/${randomUUID()}`, { label: 'X' }),
      404,
      'attribute_not_found',
    );
    expectProblem(await client.get(`/v1/attributes/${randomUUID()}`), 404, 'attribute_not_found');
  });

  it('DELETE: an unused definition → 204; one in use → 409 until no customer holds it', async () => {
    const { client } = await t.newTenant();
    const unused = await newAttribute(client, { key: 'hasDog', label: 'Has a dog', type: 'boolean' });
    const used = await newAttribute(client, { key: 'children', label: 'Children', type: 'number' });
    const c = await newCustomer(client, { attributes: { children: 0 } });

    const gone = await client.delete(`/v1/attributes/${unused.id}`);
    expect(gone.statusCode, gone.body).toBe(204);
    expect(gone.body).toBe('');
    expectProblem(await client.get(`/v1/attributes/${unused.id}`), 404, 'attribute_not_found');
    expectProblem(await client.delete(`/v1/attributes/${unused.id}`), 404, 'attribute_not_found');

    expectProblem(await client.delete(`/v1/attributes/${used.id}`), 409, 'attribute_in_use');
    expect(await keys(client)).toEqual(['children']);

    await client.patch(`/v1/customers/${c.id}`, { attributes: { children: null } });
    expect((await client.delete(`/v1/attributes/${used.id}`)).statusCode).toBe(204);
    expect(await keys(client)).toEqual([]);
    expectProblem(
      await client.post('/v1/customers', { attributes: { children: 1 } }),
      400,
      'unknown_attribute',
    );
  });

  it('a definition a segment uses is neither removed nor narrowed under it (409 naming the segment)', async () => {
    const { client } = await t.newTenant();
    const def = await newAttribute(client, car);
    const segment = await client.post('/v1/segments', {
      name: 'SUV drivers',
      definition: {
        version: 1,
        all: [{ any: [{ field: 'attributes.car', op: 'in', value: ['SUV', 'compact'] }] }],
      },
    });
    expect(segment.statusCode, segment.body).toBe(201);
    const { id } = segment.json();

    const removed = await client.delete(`/v1/attributes/${def.id}`);
    expectProblem(removed, 409, 'attribute_in_use');
    expect(removed.json().segments).toEqual([`SUV drivers (${id})`]);
    const narrowed = await client.patch(`/v1/attributes/${def.id}`, { values: ['none', 'SUV'] });
    expectProblem(narrowed, 409, 'attribute_in_use');
    expect(narrowed.json().detail).toContain('compact');
    expect((await client.get(`/v1/attributes/${def.id}`)).json().values).toEqual(car.values);
    // a value no segment names may go
    const fine = await client.patch(`/v1/attributes/${def.id}`, { values: ['compact', 'SUV'] });
    expect(fine.statusCode, fine.body).toBe(200);

    // once the segment no longer names it, the definition may go
    const changed = await client.patch(`/v1/segments/${id}`, {
      definition: { version: 1, all: [{ field: 'country', op: 'eq', value: 'ES' }] },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect((await client.delete(`/v1/attributes/${def.id}`)).statusCode).toBe(204);
  });

  it('another tenant’s customers do not count as usage, and its definitions are not visible', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const defA = await newAttribute(a.client, { key: 'children', label: 'Children', type: 'number' });
    await newAttribute(b.client, { key: 'children', label: 'Children', type: 'number' });
    await newCustomer(b.client, { attributes: { children: 3 } });
    expectProblem(await b.client.get(`/v1/attributes/${defA.id}`), 404, 'attribute_not_found');
    expectProblem(await b.client.delete(`/v1/attributes/${defA.id}`), 404, 'attribute_not_found');
    expect((await a.client.delete(`/v1/attributes/${defA.id}`)).statusCode).toBe(204);
  });
});
