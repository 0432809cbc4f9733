import { randomUUID } from 'node:crypto';
import { sql as query } from 'drizzle-orm';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool, Database } from '../src/platform/db.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newAttribute, newCustomer, newIntermediary } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code });
}

const ids = (res: LightMyRequestResponse): string[] => res.json().data.map((r: { id: string }) => r.id);

/** Every id of a REST list, following nextCursor to the end. */
async function listAll(client: Client, path: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res = await client.get(
      `${path}${sep}limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.statusCode, res.body).toBe(200);
    out.push(...ids(res));
    cursor = res.json().nextCursor;
  } while (cursor);
  return out;
}

/** Two tenants, each with a customer, an intermediary and an attribute definition. */
async function twoTenants() {
  const [a, b] = await Promise.all([t.newTenant(), t.newTenant()]);
  const seed = async (client: Client) => ({
    customer: await newCustomer(client, { tags: ['shared-tag'] }),
    intermediary: await newIntermediary(client),
    attribute: await newAttribute(client, { key: 'children', label: 'Children', type: 'number' }),
  });
  return { a: { ...a, rows: await seed(a.client) }, b: { ...b, rows: await seed(b.client) } };
}

describe('tenant isolation over REST', () => {
  it("A asking for B's customer, intermediary or attribute by id → 404 with the resource's code", async () => {
    const { a, b } = await twoTenants();
    expectProblem(await a.client.get(`/v1/customers/${b.rows.customer.id}`), 404, 'customer_not_found');
    expectProblem(
      await a.client.get(`/v1/intermediaries/${b.rows.intermediary.id}`),
      404,
      'intermediary_not_found',
    );
    expectProblem(await a.client.get(`/v1/attributes/${b.rows.attribute.id}`), 404, 'attribute_not_found');
    // the same ids resolve for their owner, so the 404s are about the tenant, not the ids
    expect((await b.client.get(`/v1/customers/${b.rows.customer.id}`)).statusCode).toBe(200);
    expect((await b.client.get(`/v1/intermediaries/${b.rows.intermediary.id}`)).statusCode).toBe(200);
    expect((await b.client.get(`/v1/attributes/${b.rows.attribute.id}`)).statusCode).toBe(200);
  });

  it("A cannot change B's rows: 404 and B's data is untouched", async () => {
    const { a, b } = await twoTenants();
    const patch = await a.client.patch(`/v1/customers/${b.rows.customer.id}`, { firstName: 'Hijacked' });
    expectProblem(patch, 404, 'customer_not_found');
    const del = await a.client.delete(`/v1/attributes/${b.rows.attribute.id}`);
    expectProblem(del, 404, 'attribute_not_found');
    const customer = await b.client.get(`/v1/customers/${b.rows.customer.id}`);
    expect(customer.json()).toMatchObject({ firstName: 'Lucía', version: 1 });
    expect((await b.client.get(`/v1/attributes/${b.rows.attribute.id}`)).statusCode).toBe(200);
  });

  it("A's lists never show B's rows", async () => {
    const { a, b } = await twoTenants();
    await newCustomer(b.client, { tags: ['shared-tag'] });
    for (const [path, own, other] of [
      ['/v1/customers', a.rows.customer.id, b.rows.customer.id],
      ['/v1/customers?tag=shared-tag', a.rows.customer.id, b.rows.customer.id],
      ['/v1/intermediaries', a.rows.intermediary.id, b.rows.intermediary.id],
      ['/v1/attributes', a.rows.attribute.id, b.rows.attribute.id],
    ] as const) {
      const seen = await listAll(a.client, path);
      expect(seen, path).toEqual([own]);
      expect(seen, path).not.toContain(other);
    }
  });

  it("B's cursor is refused for A (400 invalid_cursor)", async () => {
    const { a, b } = await twoTenants();
    await newCustomer(b.client);
    const page = await b.client.get('/v1/customers?limit=1');
    const cursor: string = page.json().nextCursor;
    expect(cursor).toEqual(expect.any(String));
    // B can follow it …
    expect(
      ids(await b.client.get(`/v1/customers?limit=1&cursor=${encodeURIComponent(cursor)}`)),
    ).toHaveLength(1);
    // … A cannot
    expectProblem(
      await a.client.get(`/v1/customers?limit=1&cursor=${encodeURIComponent(cursor)}`),
      400,
      'invalid_cursor',
    );
    await newIntermediary(b.client);
    const iCursor: string = (await b.client.get('/v1/intermediaries?limit=1')).json().nextCursor;
    expect(iCursor).toEqual(expect.any(String));
    expectProblem(
      await a.client.get(`/v1/intermediaries?cursor=${encodeURIComponent(iCursor)}`),
      400,
      'invalid_cursor',
    );
  });

  it('a tampered cursor is a 400', async () => {
    const { a } = await twoTenants();
    await newCustomer(a.client);
    const cursor: string = (await a.client.get('/v1/customers?limit=1')).json().nextCursor;
    const [body, mac] = cursor.split('.') as [string, string];
    // point the position elsewhere but keep the MAC: the signature no longer matches
    const forgedBody = Buffer.from(randomUUID()).toString('base64url');
    // (the first character: the last one of a base64url MAC carries padding bits)
    const flipped = `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    for (const bad of [`${forgedBody}.${mac}`, `${body}.${flipped}`, body, `${cursor}.x`, 'garbage']) {
      expectProblem(
        await a.client.get(`/v1/customers?limit=1&cursor=${encodeURIComponent(bad)}`),
        400,
        'invalid_cursor',
      );
    }
  });

  it('a cursor used with other filters is a 400', async () => {
    const { a } = await twoTenants();
    await newCustomer(a.client, { tags: ['shared-tag'] });
    const cursor: string = (await a.client.get('/v1/customers?limit=1')).json().nextCursor;
    const c = encodeURIComponent(cursor);
    expectProblem(
      await a.client.get(`/v1/customers?limit=1&status=potential&cursor=${c}`),
      400,
      'invalid_cursor',
    );
    expectProblem(
      await a.client.get(`/v1/customers?limit=1&tag=shared-tag&cursor=${c}`),
      400,
      'invalid_cursor',
    );
    // a customers cursor is not an intermediaries cursor either
    expectProblem(await a.client.get(`/v1/intermediaries?cursor=${c}`), 400, 'invalid_cursor');
    // the page size is not a filter: the same cursor with another limit works
    expect((await a.client.get(`/v1/customers?limit=5&cursor=${c}`)).statusCode).toBe(200);
  });
});

describe('tenant isolation over GraphQL', () => {
  it('customer/intermediary/attribute(id) of B → null for A, without an error', async () => {
    const { a, b } = await twoTenants();
    const query = `query ($c: ID!, $i: ID!, $a: ID!) {
      customer(id: $c) { id } intermediary(id: $i) { id } attribute(id: $a) { id } }`;
    const vars = { c: b.rows.customer.id, i: b.rows.intermediary.id, a: b.rows.attribute.id };
    const asA = await a.client.graphql(query, vars);
    expect(asA.status).toBe(200);
    expect(asA.body.errors).toBeUndefined();
    expect(asA.body.data).toEqual({ customer: null, intermediary: null, attribute: null });
    const asB = await b.client.graphql(query, vars);
    expect(asB.body.data).toEqual({
      customer: { id: vars.c },
      intermediary: { id: vars.i },
      attribute: { id: vars.a },
    });
  });

  it("A's connections never show B's rows", async () => {
    const { a, b } = await twoTenants();
    const { body } = await a.client.graphql(`{
      customers(first: 500) { nodes { id } }
      intermediaries(first: 500) { nodes { id } }
      attributes(first: 500) { nodes { id } } }`);
    expect(body.errors).toBeUndefined();
    const nodes = (k: string) => body.data?.[k].nodes.map((n: { id: string }) => n.id);
    expect(nodes('customers')).toEqual([a.rows.customer.id]);
    expect(nodes('intermediaries')).toEqual([a.rows.intermediary.id]);
    expect(nodes('attributes')).toEqual([a.rows.attribute.id]);
    expect([...nodes('customers'), ...nodes('intermediaries'), ...nodes('attributes')]).not.toContain(
      b.rows.customer.id,
    );
  });

  it("B's endCursor is refused for A with extensions.code invalid_cursor", async () => {
    const { a, b } = await twoTenants();
    await newCustomer(b.client);
    const first = await b.client.graphql('{ customers(first: 1) { pageInfo { hasNextPage endCursor } } }');
    const { hasNextPage, endCursor } = first.body.data?.customers.pageInfo ?? {};
    expect(hasNextPage).toBe(true);
    const { body } = await a.client.graphql(
      'query ($after: String) { customers(first: 1, after: $after) { nodes { id } } }',
      { after: endCursor },
    );
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.[0]?.extensions?.code).toBe('invalid_cursor');
  });
});

describe('row-level security with the app role and raw SQL', () => {
  let sql: pg.Client;
  beforeAll(async () => {
    sql = new pg.Client({ connectionString: inject('appUrl') });
    await sql.connect();
  });
  afterAll(() => sql.end());

  const setTenant = (id: string) => {
    expect(id).toMatch(/^[0-9a-f-]{36}$/); // inlined below, so checked first
    return sql.query(`SET LOCAL app.tenant_id = '${id}'`);
  };

  it('the app role is neither superuser nor BYPASSRLS, and RLS is forced on tenant tables', async () => {
    const role = await sql.query(
      'SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user',
    );
    expect(role.rows).toEqual([{ name: 'vinculo_app', rolsuper: false, rolbypassrls: false }]);
    const tables = await sql.query(
      `SELECT relname, relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) <> current_user AS not_owner
         FROM pg_class WHERE relname = ANY($1) AND relkind = 'r' ORDER BY relname`,
      [['attribute_definitions', 'customers', 'intermediaries', 'tenants']],
    );
    expect(tables.rows).toHaveLength(4);
    for (const row of tables.rows) {
      expect(row, row.relname).toMatchObject({
        relrowsecurity: true,
        relforcerowsecurity: true,
        not_owner: true,
      });
    }
  });

  it("with tenant A set, B's rows are invisible and a row for B is refused (42501)", async () => {
    const { a, b } = await twoTenants();
    const smuggled = randomUUID();
    try {
      await sql.query('BEGIN');
      await setTenant(a.id);
      const own = await sql.query('SELECT id FROM customers WHERE id = $1', [a.rows.customer.id]);
      expect(own.rows).toEqual([{ id: a.rows.customer.id }]); // the query works for A's rows
      for (const [table, id] of [
        ['customers', b.rows.customer.id],
        ['intermediaries', b.rows.intermediary.id],
        ['attribute_definitions', b.rows.attribute.id],
      ] as const) {
        const other = await sql.query(`SELECT id FROM ${table} WHERE id = $1`, [id]);
        expect(other.rowCount, table).toBe(0);
      }
      const count = await sql.query('SELECT count(*)::int AS n FROM customers WHERE tenant_id = $1', [b.id]);
      expect(count.rows[0].n).toBe(0);
      const insert = sql.query('INSERT INTO customers (tenant_id, id, first_name) VALUES ($1, $2, $3)', [
        b.id,
        smuggled,
        'Smuggled',
      ]);
      await expect(insert).rejects.toMatchObject({ code: '42501' });
    } finally {
      await sql.query('ROLLBACK');
    }
    // nothing reached B
    expectProblem(await b.client.get(`/v1/customers/${smuggled}`), 404, 'customer_not_found');
    expect(await listAll(b.client, '/v1/customers')).toEqual([b.rows.customer.id]);
  });

  it("with tenant A set, updating B's rows touches nothing", async () => {
    const { a, b } = await twoTenants();
    try {
      await sql.query('BEGIN');
      await setTenant(a.id);
      const res = await sql.query("UPDATE customers SET first_name = 'X' WHERE id = $1", [
        b.rows.customer.id,
      ]);
      expect(res.rowCount).toBe(0);
      await sql.query('COMMIT');
    } finally {
      await sql.query('ROLLBACK').catch(() => {});
    }
    expect((await b.client.get(`/v1/customers/${b.rows.customer.id}`)).json().firstName).toBe('Lucía');
  });

  it('without app.tenant_id, SELECT returns nothing', async () => {
    const { a, b } = await twoTenants();
    const fresh = new pg.Client({ connectionString: inject('appUrl') });
    await fresh.connect();
    try {
      const rows = await fresh.query('SELECT id FROM customers WHERE id = ANY($1)', [
        [a.rows.customer.id, b.rows.customer.id],
      ]);
      expect(rows.rowCount).toBe(0);
      const tenants = await fresh.query('SELECT id FROM tenants WHERE id = ANY($1)', [[a.id, b.id]]);
      expect(tenants.rowCount).toBe(0);
      // after a transaction that set it, the setting is empty again, still nothing
      await fresh.query('BEGIN');
      await fresh.query(`SET LOCAL app.tenant_id = '${a.id}'`);
      expect(
        (await fresh.query('SELECT id FROM customers WHERE id = $1', [a.rows.customer.id])).rowCount,
      ).toBe(1);
      await fresh.query('COMMIT');
      expect(
        (await fresh.query('SELECT id FROM customers WHERE id = $1', [a.rows.customer.id])).rowCount,
      ).toBe(0);
    } finally {
      await fresh.end();
    }
  });

  it('a platform transaction on a connection whose session named a tenant sees none of its rows', async () => {
    const { a } = await twoTenants();
    const db = new Database(createPool(inject('appUrl'), 1));
    try {
      // a read leaves the tenant in the one connection's session
      const seen = await db.withTenant(a.id, (tx) => tx.execute(query`SELECT id FROM customers`), {
        readOnly: true,
      });
      expect(seen.rows.map((r) => r.id)).toContain(a.rows.customer.id);
      const platform = await db.withPlatform((tx) => tx.execute(query`SELECT id FROM customers`));
      expect(platform.rows).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describe('property: no request by A ever returns B’s ids', () => {
  const customerSpec = fc.record({
    firstName: fc.constantFrom('Ana', 'Luis', 'María', 'José', 'Zoe'),
    tags: fc.subarray(['vip', 'newsletter', 'car'], { maxLength: 2 }),
  });

  it('holds for random tenants, customers and filters', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(customerSpec, { minLength: 0, maxLength: 4 }),
        fc.array(customerSpec, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('', '?tag=vip', '?q=Ana', '?status=potential', '?tag=car'),
        async (specsA, specsB, filter) => {
          const [a, b] = await Promise.all([t.newTenant(), t.newTenant()]);
          const aIds = new Set<string>();
          for (const s of specsA) aIds.add((await newCustomer(a.client, s)).id);
          const bIds: string[] = [];
          for (const s of specsB) bIds.push((await newCustomer(b.client, s)).id);

          const listed = await listAll(a.client, `/v1/customers${filter}`);
          for (const id of listed) expect(aIds.has(id)).toBe(true);
          expect(listed.some((id) => bIds.includes(id))).toBe(false);
          if (filter === '') expect(new Set(listed)).toEqual(aIds);

          for (const id of bIds) {
            expectProblem(await a.client.get(`/v1/customers/${id}`), 404, 'customer_not_found');
          }
          const { body } = await a.client.graphql('query ($ids: ID!) { customer(id: $ids) { id } }', {
            ids: bIds[0],
          });
          expect(body.data?.customer).toBeNull();
        },
      ),
      { numRuns: 15 },
    );
  });
});
