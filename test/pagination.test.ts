import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** Creates `n` customers through the batch endpoint; returns their ids in creation order. */
async function seed(client: Client, n: number, item: (i: number) => Record<string, unknown> = () => ({})) {
  const ids: string[] = [];
  for (let start = 0; start < n; start += 1000) {
    const items = Array.from({ length: Math.min(1000, n - start) }, (_, k) => ({
      externalId: `p-${start + k}`,
      ...item(start + k),
    }));
    const res = await client.post('/v1/customers/batch', { items });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().summary.errors).toBe(0);
    ids.push(...res.json().results.map((r: { id: string }) => r.id));
  }
  return ids;
}

async function page(client: Client, query: string) {
  const res = await client.get(`/v1/customers?${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { data: Record<string, any>[]; nextCursor: string | null };
}

/** Every id of a filtered list, page by page. */
async function walk(client: Client, query: string, between?: () => Promise<void>) {
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const p = await page(client, `${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    seen.push(...p.data.map((c) => c.id as string));
    cursor = p.nextCursor;
    pages++;
    if (cursor && between) await between();
  } while (cursor && pages < 1000);
  return { seen, pages };
}

describe('limits', () => {
  it('defaults to 50, cuts more than 500 to 500, refuses 0', async () => {
    const { client } = await t.newTenant();
    const ids = await seed(client, 501);

    const first = await page(client, '');
    expect(first.data).toHaveLength(50);
    expect(first.nextCursor).toEqual(expect.any(String));

    const big = await page(client, 'limit=1000');
    expect(big.data).toHaveLength(500);
    expect(big.data.map((c) => c.id)).toEqual(ids.slice(0, 500));
    const rest = await page(client, `limit=1000&cursor=${encodeURIComponent(big.nextCursor!)}`);
    expect(rest.data.map((c) => c.id)).toEqual([ids[500]]);
    expect(rest.nextCursor).toBeNull();

    for (const bad of ['0', '-1', 'abc', '2.5']) {
      const res = await client.get(`/v1/customers?limit=${bad}`);
      expect(res.statusCode, `limit=${bad}`).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'validation_failed',
        errors: [{ path: 'querystring.limit' }],
      });
    }
  }, 60_000);

  it('the last page has nextCursor null, also when it is exactly full', async () => {
    const { client } = await t.newTenant();
    const ids = await seed(client, 14);
    const one = await page(client, 'limit=7');
    expect(one.nextCursor).toEqual(expect.any(String));
    const two = await page(client, `limit=7&cursor=${encodeURIComponent(one.nextCursor!)}`);
    expect(two.data.map((c) => c.id)).toEqual(ids.slice(7));
    expect(two.nextCursor).toBeNull();
    const empty = await t.newTenant();
    expect(await page(empty.client, '')).toEqual({ data: [], nextCursor: null });
  });

  it('refuses a forged cursor and one issued for other filters', async () => {
    const { client } = await t.newTenant();
    await seed(client, 5, (i) => ({ tags: i % 2 ? ['odd'] : ['even'] }));
    const p = await page(client, 'limit=1&tag=odd');
    const other = await client.get(
      `/v1/customers?limit=1&tag=even&cursor=${encodeURIComponent(p.nextCursor!)}`,
    );
    expect(other.statusCode).toBe(400);
    expect(other.json().code).toBe('invalid_cursor');
    const forged = await client.get('/v1/customers?cursor=abc.def');
    expect(forged.statusCode).toBe(400);
    expect(forged.json().code).toBe('invalid_cursor');
  });
});

describe('walking pages', () => {
  it('limit=7 returns every id exactly once, in creation order', async () => {
    const { client } = await t.newTenant();
    const ids = await seed(client, 52);
    const { seen, pages } = await walk(client, 'limit=7');
    expect(seen).toEqual(ids);
    expect(pages).toBe(8);
  });

  it('inserts between page fetches cause no duplicates and no skips', async () => {
    const { client } = await t.newTenant();
    const initial = await seed(client, 40);
    const inserted: string[] = [];
    const { seen } = await walk(client, 'limit=7', async () => {
      for (let i = 0; i < 3; i++) inserted.push((await newCustomer(client)).id);
    });
    expect(inserted.length).toBeGreaterThan(0);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => initial.includes(id))).toEqual(initial);
    // ids are time-ordered, so rows added while walking come after the cursor and are seen too
    expect(seen).toEqual([...initial, ...inserted]);
  });
});

describe('filters', () => {
  it('status', async () => {
    const tenant = await t.newTenant();
    const [a, b] = await seed(tenant.client, 2);
    // status is read-only over the API (orders will set it); set it the way that module would
    await t.db.withTenant(tenant.id, (tx) =>
      tx.execute(sql`UPDATE customers SET status = 'active' WHERE id = ${b}`),
    );
    expect((await page(tenant.client, 'status=active')).data.map((c) => c.id)).toEqual([b]);
    expect((await page(tenant.client, 'status=potential')).data.map((c) => c.id)).toEqual([a]);
    expect((await page(tenant.client, 'status=inactive')).data).toEqual([]);
    expect((await tenant.client.get('/v1/customers?status=gone')).statusCode).toBe(400);
  });

  it('tag', async () => {
    const { client } = await t.newTenant();
    const ids = await seed(client, 9, (i) => ({ tags: i % 3 === 0 ? ['vip', 'news'] : ['news'] }));
    const { seen } = await walk(client, 'limit=2&tag=vip');
    expect(seen).toEqual([ids[0], ids[3], ids[6]]);
    expect((await page(client, 'tag=nobody')).data).toEqual([]);
  });

  it('q: prefix of first name, last name or email, case-insensitive', async () => {
    const { client } = await t.newTenant();
    const lucia = await newCustomer(client, {
      firstName: 'Lucía',
      lastName: 'García',
      email: 'lg@example.com',
    });
    const marta = await newCustomer(client, {
      firstName: 'Marta',
      lastName: 'Lucero',
      email: 'mr@example.com',
    });
    const pedro = await newCustomer(client, {
      firstName: 'Pedro',
      lastName: 'Ruiz',
      email: 'luz@example.com',
    });
    const other = await newCustomer(client, { firstName: 'Ana', lastName: 'Sol', email: 'ana@example.com' });
    const q = async (s: string) => (await page(client, `q=${encodeURIComponent(s)}`)).data.map((c) => c.id);
    expect(await q('luc')).toEqual([lucia.id, marta.id]);
    expect(await q('LU')).toEqual([lucia.id, marta.id, pedro.id]);
    expect(await q('ruiz')).toEqual([pedro.id]);
    expect(await q('mr@')).toEqual([marta.id]);
    expect(await q('ucía')).toEqual([]); // a prefix, not a substring
    expect(await q('%')).toEqual([]); // LIKE wildcards are literal
    expect(other.id).toEqual(expect.any(String));
  });

  it('externalId and email', async () => {
    const { client } = await t.newTenant();
    const a = await newCustomer(client, { externalId: 'shop-1', email: 'uno@example.com' });
    await newCustomer(client, { externalId: 'shop-10', email: 'diez@example.com' });
    expect((await page(client, 'externalId=shop-1')).data.map((c) => c.id)).toEqual([a.id]);
    expect((await page(client, 'email=UNO%40example.com')).data.map((c) => c.id)).toEqual([a.id]);
    expect((await page(client, 'externalId=shop-2')).data).toEqual([]);
  });

  it('updatedSince', async () => {
    const { client } = await t.newTenant();
    const a = await newCustomer(client);
    await sleep(20);
    const b = await newCustomer(client);
    const since = (ts: string) => page(client, `updatedSince=${encodeURIComponent(ts)}`);
    expect((await since(b.createdAt)).data.map((c) => c.id)).toEqual([b.id]);
    expect((await since(a.createdAt)).data.map((c) => c.id)).toEqual([a.id, b.id]);
    await sleep(20);
    const patched = await client.patch(`/v1/customers/${a.id}`, { firstName: 'Cambiada' });
    expect(patched.statusCode).toBe(200);
    expect((await since(patched.json().updatedAt)).data.map((c) => c.id)).toEqual([a.id]);
    expect((await since('2999-01-01T00:00:00Z')).data).toEqual([]);
    expect((await client.get('/v1/customers?updatedSince=yesterday')).statusCode).toBe(400);
  });

  it('filters combine, and paging keeps them', async () => {
    const { client } = await t.newTenant();
    const ids = await seed(client, 12, (i) => ({
      firstName: i % 2 ? 'Luis' : 'Ana',
      tags: i < 6 ? ['x'] : [],
    }));
    const { seen } = await walk(client, 'limit=1&tag=x&q=lu');
    expect(seen).toEqual([ids[1], ids[3], ids[5]]);
  });
});
