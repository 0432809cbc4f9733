import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newAttribute, newCustomer } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const uid = () => randomUUID().slice(0, 8);

type Result = {
  index: number;
  status: 'created' | 'updated' | 'error';
  id?: string;
  error?: {
    status: number;
    code: string;
    errors?: { path: string; message: string }[];
    [k: string]: unknown;
  };
};
type BatchBody = { results: Result[]; summary: { created: number; updated: number; errors: number } };

async function batch(client: Client, items: unknown[]): Promise<BatchBody> {
  const res = await client.post('/v1/customers/batch', { items });
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json() as BatchBody;
  expect(body.results.map((r) => r.index)).toEqual(items.map((_, i) => i));
  return body;
}

async function get(client: Client, id: string) {
  const res = await client.get(`/v1/customers/${id}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Record<string, any>;
}

async function countAll(client: Client): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const res = await client.get(`/v1/customers?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.statusCode, res.body).toBe(200);
    n += res.json().data.length;
    cursor = res.json().nextCursor;
  } while (cursor);
  return n;
}

describe('POST /v1/customers/batch', () => {
  it('mixed good and bad items: one result per item, in order; bad items never stop good ones', async () => {
    const { client } = await t.newTenant();
    await newAttribute(client, { key: 'children', label: 'Children', type: 'number' });
    const items = [
      { externalId: 'b-0', email: 'zero@example.com', firstName: 'Cero', attributes: { children: 1 } },
      { externalId: 'b-1', email: 'not-an-email' },
      { externalId: 'b-2', firstName: 'Dos' },
      42,
      { externalId: 'b-4', nickname: 'unknown field' },
      { externalId: 'b-5', attributes: { pets: 3 } },
      { externalId: 'b-6', birthDate: '2999-01-01', tags: ['x'.repeat(51)] },
      { externalId: 'b-7', lastName: 'Siete' },
    ];
    const { results, summary } = await batch(client, items);
    expect(results.map((r) => r.status)).toEqual([
      'created',
      'error',
      'created',
      'error',
      'error',
      'error',
      'error',
      'created',
    ]);
    expect(summary).toEqual({ created: 3, updated: 0, errors: 5 });

    const errorAt = (i: number) => {
      const r = results[i]!;
      expect(r.id).toBeUndefined();
      expect(r.error).toMatchObject({ status: 400, code: expect.any(String), type: expect.any(String) });
      return r.error!;
    };
    expect(errorAt(1)).toMatchObject({ code: 'validation_failed', errors: [{ path: 'items[1].email' }] });
    expect(errorAt(3)).toMatchObject({ code: 'validation_failed', errors: [{ path: 'items[3]' }] });
    expect(errorAt(4)).toMatchObject({ code: 'validation_failed', errors: [{ path: 'items[4].nickname' }] });
    expect(errorAt(5)).toMatchObject({
      code: 'unknown_attribute',
      errors: [{ path: 'items[5].attributes.pets' }],
    });
    expect(errorAt(6).code).toBe('validation_failed');
    expect(
      errorAt(6)
        .errors!.map((e) => e.path)
        .sort(),
    ).toEqual(['items[6].birthDate', 'items[6].tags[0]']);

    expect(await get(client, results[0]!.id!)).toMatchObject({
      externalId: 'b-0',
      email: 'zero@example.com',
      attributes: { children: 1 },
    });
    expect((await get(client, results[2]!.id!)).firstName).toBe('Dos');
    expect((await get(client, results[7]!.id!)).lastName).toBe('Siete');
    expect(await countAll(client)).toBe(3);
    for (const ext of ['b-1', 'b-4', 'b-5', 'b-6']) {
      const res = await client.get(`/v1/customers?externalId=${ext}`);
      expect(res.json().data).toEqual([]);
    }
  });

  it('matches by externalId, else by email, and updates', async () => {
    const { client } = await t.newTenant();
    const byExt = await newCustomer(client, { externalId: 'shop-1', firstName: 'Old' });
    const byEmail = await newCustomer(client, {
      externalId: null,
      email: 'maria@example.com',
      lastName: 'Old',
    });
    const { results, summary } = await batch(client, [
      { externalId: 'shop-1', firstName: 'New' },
      { email: 'MARIA@Example.com', lastName: 'Nuevo' },
    ]);
    expect(results).toEqual([
      { index: 0, status: 'updated', id: byExt.id },
      { index: 1, status: 'updated', id: byEmail.id },
    ]);
    expect(summary).toEqual({ created: 0, updated: 2, errors: 0 });
    expect(await get(client, byExt.id)).toMatchObject({
      firstName: 'New',
      lastName: byExt.lastName,
      version: 2,
    });
    expect(await get(client, byEmail.id)).toMatchObject({ lastName: 'Nuevo', email: 'maria@example.com' });
    expect(await countAll(client)).toBe(2);
  });

  it('two items with the same new externalId: the first creates, the second updates it', async () => {
    const { client } = await t.newTenant();
    const ext = `new-${uid()}`;
    const { results, summary } = await batch(client, [
      { externalId: ext, firstName: 'Primero' },
      { externalId: ext, lastName: 'Segundo' },
    ]);
    expect(results[0]).toMatchObject({ status: 'created', id: expect.any(String) });
    expect(results[1]).toEqual({ index: 1, status: 'updated', id: results[0]!.id });
    expect(summary).toEqual({ created: 1, updated: 1, errors: 0 });
    expect(await get(client, results[0]!.id!)).toMatchObject({
      externalId: ext,
      firstName: 'Primero',
      lastName: 'Segundo',
    });
    expect(await countAll(client)).toBe(1);
  });

  it('concurrent batches with the same new customer: one creates it, the others update it, none errors', async () => {
    const { client } = await t.newTenant();
    for (let round = 0; round < 4; round++) {
      const items = [{ externalId: `race-${round}`, email: `race-${round}@example.com`, firstName: 'Ana' }];
      const answers = await Promise.all(
        Array.from({ length: 3 }, () => client.post('/v1/customers/batch', { items })),
      );
      for (const a of answers) expect(a.statusCode, a.body).toBe(200);
      const statuses = answers.map((a) => a.json().results[0].status).sort();
      expect(statuses, JSON.stringify(answers.map((a) => a.json().results[0]))).toEqual([
        'created',
        'updated',
        'updated',
      ]);
      expect(new Set(answers.map((a) => a.json().results[0].id)).size).toBe(1);
    }
  });

  it('two batches crossing each other’s new customers both succeed (a deadlock is run again)', async () => {
    const { client } = await t.newTenant();
    for (let round = 0; round < 3; round++) {
      const a = { externalId: `x-${round}-a` };
      const b = { externalId: `x-${round}-b` };
      const answers = await Promise.all([
        client.post('/v1/customers/batch', { items: [a, b] }),
        client.post('/v1/customers/batch', { items: [b, a] }),
      ]);
      for (const res of answers) {
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json().results.every((r: { status: string }) => r.status !== 'error')).toBe(true);
      }
    }
  });

  it('an item taking another customer’s email errors with customer_email_taken; the others succeed', async () => {
    const { client } = await t.newTenant();
    const ana = await newCustomer(client, { externalId: 'ana', email: 'ana@example.com' });
    const bea = await newCustomer(client, { externalId: 'bea', email: 'bea@example.com' });
    const { results, summary } = await batch(client, [
      { externalId: 'new-1', firstName: 'Uno' },
      { externalId: 'bea', email: 'ANA@example.com', firstName: 'Robada' },
      { externalId: 'ana', firstName: 'Ana María' },
    ]);
    expect(results[0]!.status).toBe('created');
    expect(results[1]).toMatchObject({
      index: 1,
      status: 'error',
      error: { status: 409, code: 'customer_email_taken', existingId: ana.id },
    });
    expect(results[2]).toEqual({ index: 2, status: 'updated', id: ana.id });
    expect(summary).toEqual({ created: 1, updated: 1, errors: 1 });
    expect(await get(client, bea.id)).toMatchObject({
      email: 'bea@example.com',
      firstName: bea.firstName,
      version: 1,
    });
    expect(await get(client, ana.id)).toMatchObject({ email: 'ana@example.com', firstName: 'Ana María' });
    expect((await get(client, results[0]!.id!)).firstName).toBe('Uno');
  });

  it('an item with a reference of another tenant errors with invalid_reference; the others succeed', async () => {
    const { client } = await t.newTenant();
    const other = await t.newTenant();
    const foreign = await newCustomer(other.client);
    const { results } = await batch(client, [
      { externalId: 'r-0', referredBy: { kind: 'customer', id: foreign.id } },
      { externalId: 'r-1' },
    ]);
    expect(results[0]).toMatchObject({ status: 'error', error: { status: 422, code: 'invalid_reference' } });
    expect(results[1]!.status).toBe('created');
    expect(await countAll(client)).toBe(1);
  });

  it('1,001 items → 400 and nothing written; an empty list → 400', async () => {
    const { client } = await t.newTenant();
    const items = Array.from({ length: 1001 }, (_, i) => ({ externalId: `x-${i}` }));
    const res = await client.post('/v1/customers/batch', { items });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'validation_failed', errors: [{ path: 'items' }] });
    const empty = await client.post('/v1/customers/batch', { items: [] });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe('validation_failed');
    expect(await countAll(client)).toBe(0);
  });

  it('1,000 valid items → 1,000 created', async () => {
    const { client } = await t.newTenant();
    const items = Array.from({ length: 1000 }, (_, i) => ({
      externalId: `k-${i}`,
      email: `k${i}@example.com`,
      firstName: `N${i}`,
    }));
    const { results, summary } = await batch(client, items);
    expect(summary).toEqual({ created: 1000, updated: 0, errors: 0 });
    expect(new Set(results.map((r) => r.id)).size).toBe(1000);
    expect(await countAll(client)).toBe(1000);
    expect(await get(client, results[999]!.id!)).toMatchObject({
      externalId: 'k-999',
      email: 'k999@example.com',
    });

    const again = await batch(client, items.slice(0, 10));
    expect(again.summary).toEqual({ created: 0, updated: 10, errors: 0 });
    expect(again.results.map((r) => r.id)).toEqual(results.slice(0, 10).map((r) => r.id));
  }, 60_000);
});
