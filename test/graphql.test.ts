import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, newIntermediary } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const CUSTOMER_FIELDS = 'id externalId email firstName lastName tags status version accountManagerId';

const firstError = (body: { errors?: { extensions?: Record<string, any> }[] }) => body.errors?.[0];

describe('GraphQL queries', () => {
  it('reads a customer by id, and null for an unknown id', async () => {
    const { client } = await t.newTenant();
    const created = await newCustomer(client, { tags: ['vip'] });
    const { status, body } = await client.graphql(
      `query ($id: ID!, $other: ID!) { customer(id: $id) { ${CUSTOMER_FIELDS} } other: customer(id: $other) { id } }`,
      { id: created.id, other: randomUUID() },
    );
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data?.customer).toMatchObject({
      id: created.id,
      externalId: created.externalId,
      email: created.email,
      firstName: 'Lucía',
      tags: ['vip'],
      status: 'potential',
      version: 1,
    });
    expect(body.data?.other).toBeNull();
  });

  it('walks a customers connection with `after` without duplicates or skips', async () => {
    const { client } = await t.newTenant();
    const tag = `walk-${randomUUID().slice(0, 6)}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await newCustomer(client, { tags: [tag] })).id);
    await newCustomer(client, { tags: ['other'] }); // filtered out

    const query = `query ($filter: CustomerFilter, $first: Int!, $after: String) {
      customers(filter: $filter, first: $first, after: $after) {
        edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    const pages: boolean[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const { body } = await client.graphql(query, { filter: { tag }, first: 2, after });
      expect(body.errors).toBeUndefined();
      const conn = body.data!.customers;
      expect(conn.nodes.map((n: { id: string }) => n.id)).toEqual(
        conn.edges.map((e: { node: { id: string } }) => e.node.id),
      );
      for (const edge of conn.edges) expect(typeof edge.cursor).toBe('string');
      seen.push(...conn.nodes.map((n: { id: string }) => n.id));
      pages.push(conn.pageInfo.hasNextPage);
      if (!conn.pageInfo.hasNextPage) break;
      expect(conn.pageInfo.endCursor).toEqual(expect.any(String));
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toEqual(ids); // UUIDv7: creation order
    expect(pages).toEqual([true, true, false]);
  });

  it('resumes after any edge cursor', async () => {
    const { client } = await t.newTenant();
    const tag = `edge-${randomUUID().slice(0, 6)}`;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await newCustomer(client, { tags: [tag] })).id);
    const q = `query ($after: String, $tag: String) { customers(filter: { tag: $tag }, first: 3, after: $after) {
      edges { cursor node { id } } } }`;
    const first = await client.graphql(q, { tag });
    const secondEdgeCursor = first.body.data!.customers.edges[1].cursor;
    const next = await client.graphql(q, { tag, after: secondEdgeCursor });
    expect(next.body.errors).toBeUndefined();
    expect(next.body.data!.customers.edges.map((e: any) => e.node.id)).toEqual(ids.slice(2));
  });

  it('answers an empty connection with no edges and a null endCursor', async () => {
    const { client } = await t.newTenant();
    const { body } = await client.graphql(
      `{ customers(filter: { tag: "nobody" }, first: 5) { nodes { id } edges { cursor } pageInfo { hasNextPage endCursor } } }`,
    );
    expect(body.errors).toBeUndefined();
    expect(body.data?.customers).toEqual({
      nodes: [],
      edges: [],
      pageInfo: { hasNextPage: false, endCursor: null },
    });
  });

  it.each([0, 501])('refuses first: %i with validation_failed', async (first) => {
    const { client } = await t.newTenant();
    const { body } = await client.graphql(
      'query ($first: Int!) { customers(first: $first) { nodes { id } } }',
      {
        first,
      },
    );
    expect(body.data ?? null).toBeNull();
    const error = firstError(body)!;
    expect(error.extensions?.code).toBe('validation_failed');
    expect(error.extensions?.errors).toEqual([expect.objectContaining({ path: 'first' })]);
  });

  it('answers insufficient_scope for a token without customers:read', async () => {
    const tenant = await t.newTenant();
    const client = t.as(await t.token(tenant, ['customers:write']));
    const { body } = await client.graphql('{ customers(first: 5) { nodes { id } } }');
    expect(firstError(body)?.extensions?.code).toBe('insufficient_scope');
  });
});

describe('GraphQL customer mutations', () => {
  it('creates a customer, then updates it with If-Match semantics', async () => {
    const { client } = await t.newTenant();
    const created = await client.graphql(
      `mutation ($input: CustomerInput!) { createCustomer(input: $input) { ${CUSTOMER_FIELDS} } }`,
      { input: { email: 'Marta@Example.com', firstName: 'Marta', tags: ['a', 'a'] } },
    );
    expect(created.body.errors).toBeUndefined();
    const customer = created.body.data!.createCustomer;
    expect(customer).toMatchObject({
      email: 'marta@example.com',
      firstName: 'Marta',
      tags: ['a'],
      version: 1,
    });

    const update = `mutation ($id: ID!, $input: CustomerInput!, $ifMatch: String) {
      updateCustomer(id: $id, input: $input, ifMatch: $ifMatch) { id lastName version } }`;
    const ok = await client.graphql(update, { id: customer.id, input: { lastName: 'Ruiz' }, ifMatch: 'v1' });
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data!.updateCustomer).toEqual({ id: customer.id, lastName: 'Ruiz', version: 2 });

    const stale = await client.graphql(update, {
      id: customer.id,
      input: { lastName: 'Gil' },
      ifMatch: 'v1',
    });
    expect(firstError(stale.body)?.extensions?.code).toBe('precondition_failed');

    const rest = await client.get(`/v1/customers/${customer.id}`);
    expect(rest.json()).toMatchObject({ lastName: 'Ruiz', version: 2 });
  });

  it('validates input like REST: an invalid email → validation_failed at input.email, nothing written', async () => {
    const { client } = await t.newTenant();
    const { body } = await client.graphql(
      'mutation ($input: CustomerInput!) { createCustomer(input: $input) { id } }',
      { input: { email: 'nope', firstName: 'X' } },
    );
    const error = firstError(body)!;
    expect(error.extensions?.code).toBe('validation_failed');
    const paths = ((error.extensions?.errors ?? []) as { path: string }[]).map((e) => e.path);
    expect(paths).toContain('input.email');
    for (const p of paths) expect(p.startsWith('input.')).toBe(true);
    expect((await client.get('/v1/customers')).json().data).toEqual([]);
  });

  it('refuses createCustomer without customers:write, and writes nothing', async () => {
    const tenant = await t.newTenant();
    const reader = t.as(await t.token(tenant, ['customers:read']));
    const { body } = await reader.graphql('mutation { createCustomer(input: { firstName: "Eva" }) { id } }');
    expect(firstError(body)?.extensions?.code).toBe('insufficient_scope');
    expect((await tenant.client.get('/v1/customers')).json().data).toEqual([]);
  });

  it('upserts a batch with mixed items, one result each', async () => {
    const { client } = await t.newTenant();
    const existing = await newCustomer(client, { externalId: 'shop-1', firstName: 'Old' });
    const { body } = await client.graphql(
      `mutation ($items: [CustomerInput!]!) { upsertCustomers(items: $items) {
        created updated errors results { index status id error { code message errors { path message } } } } }`,
      {
        items: [
          { externalId: 'shop-new', firstName: 'Nuevo' },
          { externalId: 'shop-bad', email: 'nope' },
          { externalId: 'shop-1', firstName: 'Renamed' },
          { externalId: 'shop-ref', accountManagerId: randomUUID() },
        ],
      },
    );
    expect(body.errors).toBeUndefined();
    const r = body.data!.upsertCustomers;
    expect({ created: r.created, updated: r.updated, errors: r.errors }).toEqual({
      created: 1,
      updated: 1,
      errors: 2,
    });
    expect(r.results.map((x: any) => [x.index, x.status])).toEqual([
      [0, 'created'],
      [1, 'error'],
      [2, 'updated'],
      [3, 'error'],
    ]);
    expect(r.results[1].error.code).toBe('validation_failed');
    expect(r.results[1].error.errors).toEqual([expect.objectContaining({ path: 'items[1].email' })]);
    expect(r.results[2].id).toBe(existing.id);
    expect(r.results[3].error.code).toBe('invalid_reference');

    const list = (await client.get('/v1/customers')).json().data as {
      externalId: string;
      firstName: string;
    }[];
    expect(list.map((c) => c.externalId).sort()).toEqual(['shop-1', 'shop-new']);
    expect(list.find((c) => c.externalId === 'shop-1')?.firstName).toBe('Renamed');
  });
});

describe('GraphQL intermediaries and attributes', () => {
  it('creates, reads, lists and updates intermediaries', async () => {
    const { client } = await t.newTenant();
    const created = await client.graphql(
      'mutation ($input: IntermediaryInput!) { createIntermediary(input: $input) { id kind name active version } }',
      { input: { kind: 'prescriber', name: 'Dra. Pérez' } },
    );
    expect(created.body.errors).toBeUndefined();
    const inter = created.body.data!.createIntermediary;
    expect(inter).toMatchObject({ kind: 'prescriber', name: 'Dra. Pérez', active: true, version: 1 });
    await newIntermediary(client, { kind: 'employee' });

    const list = await client.graphql(
      '{ intermediaries(filter: { kind: prescriber }, first: 10) { nodes { id kind } pageInfo { hasNextPage } } }',
    );
    expect(list.body.data!.intermediaries).toEqual({
      nodes: [{ id: inter.id, kind: 'prescriber' }],
      pageInfo: { hasNextPage: false },
    });

    const update = `mutation ($id: ID!, $ifMatch: String) {
      updateIntermediary(id: $id, input: { active: false }, ifMatch: $ifMatch) { active version } }`;
    const ok = await client.graphql(update, { id: inter.id, ifMatch: '"v1"' });
    expect(ok.body.data!.updateIntermediary).toEqual({ active: false, version: 2 });
    const stale = await client.graphql(update, { id: inter.id, ifMatch: '"v1"' });
    expect(firstError(stale.body)?.extensions?.code).toBe('precondition_failed');

    const read = await client.graphql('query ($id: ID!) { intermediary(id: $id) { active } }', {
      id: inter.id,
    });
    expect(read.body.data!.intermediary).toEqual({ active: false });

    const bad = await client.graphql(
      'mutation { createIntermediary(input: { kind: employee, name: "" }) { id } }',
    );
    expect(firstError(bad.body)?.extensions?.code).toBe('validation_failed');
    expect(firstError(bad.body)?.extensions?.errors).toEqual([
      expect.objectContaining({ path: 'input.name' }),
    ]);
  });

  it('creates, lists, updates and deletes attribute definitions', async () => {
    const { client } = await t.newTenant();
    const created = await client.graphql(
      'mutation { createAttribute(input: { key: "car", label: "Car", type: enum, values: ["none", "SUV"] }) { id key type values } }',
    );
    expect(created.body.errors).toBeUndefined();
    const attr = created.body.data!.createAttribute;
    expect(attr).toMatchObject({ key: 'car', type: 'enum', values: ['none', 'SUV'] });

    const list = await client.graphql('{ attributes(first: 10) { nodes { id key } } }');
    expect(list.body.data!.attributes.nodes).toEqual([{ id: attr.id, key: 'car' }]);

    const updated = await client.graphql(
      'mutation ($id: ID!) { updateAttribute(id: $id, input: { label: "Car type", values: ["none", "SUV", "van"] }) { label values } }',
      { id: attr.id },
    );
    expect(updated.body.data!.updateAttribute).toEqual({ label: 'Car type', values: ['none', 'SUV', 'van'] });

    const invalid = await client.graphql(
      'mutation { createAttribute(input: { key: "kids", label: "Kids", type: enum }) { id } }',
    );
    expect(firstError(invalid.body)?.extensions?.code).toBe('validation_failed');
    expect(firstError(invalid.body)?.extensions?.errors).toEqual([
      expect.objectContaining({ path: 'input.values' }),
    ]);

    const del = await client.graphql('mutation ($id: ID!) { deleteAttribute(id: $id) }', { id: attr.id });
    expect(del.body.data).toEqual({ deleteAttribute: true });
    const gone = await client.graphql('query ($id: ID!) { attribute(id: $id) { id } }', { id: attr.id });
    expect(gone.body.data).toEqual({ attribute: null });
    const after = await client.graphql('{ attributes(first: 10) { nodes { key } } }');
    expect(after.body.data!.attributes.nodes).toEqual([]);
  });

  it('names the fields of a mutation’s input the service refuses as input.…, as its own checks do', async () => {
    const { client } = await t.newTenant();
    await client.post('/v1/attributes', { key: 'car', label: 'Car', type: 'enum', values: ['none', 'SUV'] });
    const bad = await client.graphql(
      'mutation { createCustomer(input: { externalId: "p-1", attributes: { car: "tank" } }) { id } }',
    );
    expect(firstError(bad.body)?.extensions?.code).toBe('invalid_attribute');
    expect(firstError(bad.body)?.extensions?.errors).toEqual([
      expect.objectContaining({ path: 'input.attributes.car' }),
    ]);
    const missing = await client.graphql(
      'mutation { recordInteraction(input: { customerId: "01936f0e-8c2a-7d3e-9f10-3b5a2c1d4e5f", channel: email, direction: inbound, type: inquiry }) { id } }',
    );
    expect(firstError(missing.body)?.extensions?.code).toBe('invalid_reference');
    expect(firstError(missing.body)?.extensions?.errors).toEqual([
      expect.objectContaining({ path: 'input.customerId' }),
    ]);
  });

  it('reads nulls inside a customer’s consent as not given, and tags: null as no tags', async () => {
    const { client } = await t.newTenant();
    const created = await client.graphql(
      'mutation ($input: CustomerInput!) { createCustomer(input: $input) { id tags consent { email { granted } } } }',
      {
        input: {
          externalId: 'nulls-1',
          tags: ['a'],
          consent: { email: { granted: true, at: null, source: null }, sms: null },
        },
      },
    );
    expect(created.body.errors).toBeUndefined();
    const { id } = created.body.data!.createCustomer;
    const updated = await client.graphql(
      'mutation ($id: ID!, $input: CustomerInput!) { updateCustomer(id: $id, input: $input) { tags consent { email { granted } } } }',
      {
        id,
        input: { tags: null, consent: { email: { granted: false, at: null, source: null }, sms: null } },
      },
    );
    expect(updated.body.errors).toBeUndefined();
    expect(updated.body.data!.updateCustomer).toMatchObject({
      tags: [],
      consent: { email: { granted: false } },
    });
  });

  it('reads null optional fields of a create as not given, as a client sending every variable does', async () => {
    const { client } = await t.newTenant();
    const inter = await client.graphql(
      'mutation ($input: IntermediaryInput!) { createIntermediary(input: $input) { kind name email active } }',
      { input: { kind: 'employee', name: 'Ana', email: null, phone: null, externalId: null, active: null } },
    );
    expect(inter.body.errors).toBeUndefined();
    expect(inter.body.data!.createIntermediary).toEqual({
      kind: 'employee',
      name: 'Ana',
      email: null,
      active: true,
    });
    const attr = await client.graphql(
      'mutation ($input: AttributeInput!) { createAttribute(input: $input) { key type values description } }',
      { input: { key: 'kids', label: 'Kids', type: 'number', values: null, description: null } },
    );
    expect(attr.body.errors).toBeUndefined();
    expect(attr.body.data!.createAttribute).toEqual({
      key: 'kids',
      type: 'number',
      values: null,
      description: null,
    });
  });

  it('requires the admin scope to define attributes', async () => {
    const tenant = await t.newTenant();
    const writer = t.as(await t.token(tenant, ['customers:read', 'customers:write']));
    const { body } = await writer.graphql(
      'mutation { createAttribute(input: { key: "x", label: "X", type: string }) { id } }',
    );
    expect(firstError(body)?.extensions?.code).toBe('insufficient_scope');
    const list = await tenant.client.graphql('{ attributes(first: 10) { nodes { key } } }');
    expect(list.body.data!.attributes.nodes).toEqual([]);
  });
});

describe('Customer.accountManager loader', () => {
  it('resolves shared managers with one batched lookup per request', async () => {
    const { client } = await t.newTenant();
    const ana = await newIntermediary(client, { kind: 'employee', name: 'Ana' });
    const luis = await newIntermediary(client, { kind: 'employee', name: 'Luis' });
    const tag = `mgr-${randomUUID().slice(0, 6)}`;
    const expected = new Map<string, string | null>();
    for (const manager of [ana, luis, ana, null, luis, ana]) {
      const c = await newCustomer(client, { tags: [tag], accountManagerId: manager?.id ?? null });
      expected.set(c.id, manager?.name ?? null);
    }

    const spy = vi.spyOn(t.app.services.intermediaries, 'getMany');
    try {
      const { body } = await client.graphql(
        'query ($tag: String) { customers(filter: { tag: $tag }, first: 50) { nodes { id accountManager { id name } } } }',
        { tag },
      );
      expect(body.errors).toBeUndefined();
      const nodes = body.data!.customers.nodes as { id: string; accountManager: { name: string } | null }[];
      expect(new Map(nodes.map((n) => [n.id, n.accountManager?.name ?? null]))).toEqual(expected);
      expect(spy).toHaveBeenCalledTimes(1);
      expect([...(spy.mock.calls[0]![1] as string[])].sort()).toEqual([ana.id, luis.id].sort());
    } finally {
      spy.mockRestore();
    }
  });
});

describe('GraphQL transport', () => {
  it('answers an unauthenticated request with 401 and extensions.code unauthorized', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/graphql',
      payload: { query: '{ viewer { subject } }' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().errors[0].extensions.code).toBe('unauthorized');
  });

  it('refuses batched queries (a JSON array body)', async () => {
    const { token } = await t.newTenant();
    const res = await t.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${token}` },
      payload: [{ query: '{ viewer { subject } }' }, { query: '{ viewer { scopes } }' }],
    });
    // GraphQL-over-HTTP lets an application/json response keep 200; what matters is that nothing ran
    expect([200, 400]).toContain(res.statusCode);
    const body = res.json();
    expect(Array.isArray(body)).toBe(false);
    expect(body.data ?? null).toBeNull();
    expect(body.errors.length).toBeGreaterThan(0);
    expect(res.body).not.toContain('"subject"');
  });

  it('never executes a mutation sent with GET', async () => {
    const { token, client } = await t.newTenant();
    const query = encodeURIComponent('mutation { createCustomer(input: { firstName: "ViaGet" }) { id } }');
    const res = await t.app.inject({
      method: 'GET',
      url: `/graphql?query=${query}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.json().data ?? null).toBeNull();
    expect(res.json().errors.length).toBeGreaterThan(0);
    expect((await client.get('/v1/customers')).json().data).toEqual([]);
  });

  it('serves GraphiQL outside production', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/graphiql' });
    expect(res.statusCode).toBe(200);
  });
});

describe('GraphQL limits', () => {
  it('refuses a query deeper than GRAPHQL_MAX_DEPTH', async () => {
    const limited = await createTestApp({ env: { GRAPHQL_MAX_DEPTH: '3' } });
    try {
      const { client } = await limited.newTenant();
      const shallow = await client.graphql('{ viewer { subject } }');
      expect(shallow.body.errors).toBeUndefined();
      const deep = await client.graphql(
        '{ customers(first: 1) { edges { node { accountManager { id } } } } }',
      );
      expect(deep.body.data ?? null).toBeNull();
      expect(deep.body.errors?.length).toBeGreaterThan(0);
      expect(JSON.stringify(deep.body.errors)).toMatch(/depth/i);
    } finally {
      await limited.close();
    }
  });

  it('refuses a query above GRAPHQL_MAX_COST with graphql_cost_exceeded', async () => {
    const limited = await createTestApp({ env: { GRAPHQL_MAX_COST: '100' } });
    try {
      const { client } = await limited.newTenant();
      const cheap = await client.graphql('{ customers(first: 10) { nodes { id } } }');
      expect(cheap.body.errors).toBeUndefined();
      const costly = await client.graphql('{ customers(first: 200) { nodes { id } } }');
      expect(costly.body.data ?? null).toBeNull();
      expect(costly.body.errors?.map((e) => e.extensions?.code)).toContain('graphql_cost_exceeded');
      // the cost follows variables too
      const viaVariable = await client.graphql('query ($n: Int!) { customers(first: $n) { nodes { id } } }', {
        n: 200,
      });
      expect(viaVariable.body.errors?.map((e) => e.extensions?.code)).toContain('graphql_cost_exceeded');
      // a negative page size costs no less than one node: it cannot cancel its siblings' cost
      const siblings = Array.from({ length: 5 }, (_, i) => `b${i}: customers(first: 50) { nodes { id } }`);
      const cancelled = await client.graphql(
        `{ a: customers(first: -2000000000) { nodes { id } } ${siblings.join(' ')} }`,
      );
      expect(cancelled.body.errors?.map((e) => e.extensions?.code)).toContain('graphql_cost_exceeded');
    } finally {
      await limited.close();
    }
  });
});

describe('GraphQL in production', () => {
  it('refuses introspection and hides GraphiQL', async () => {
    const prod = await createTestApp({
      env: { NODE_ENV: 'production', DATABASE_APP_PASSWORD: 'x'.repeat(16) },
    });
    try {
      const { client } = await prod.newTenant();
      const ok = await client.graphql('{ viewer { subject } }');
      expect(ok.body.errors).toBeUndefined();
      const introspection = await client.graphql('{ __schema { types { name } } }');
      expect(introspection.body.data ?? null).toBeNull();
      expect(introspection.body.errors?.length).toBeGreaterThan(0);
      expect(JSON.stringify(introspection.body)).not.toContain('"Customer"');
      const graphiql = await prod.app.inject({ method: 'GET', url: '/graphiql' });
      expect(graphiql.statusCode).toBe(404);
    } finally {
      await prod.close();
    }
  });
});
