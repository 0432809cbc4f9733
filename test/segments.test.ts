import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody } from './helpers/factories.ts';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
let now = new Date(NOW);
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock: { now: () => now } });
});
afterAll(() => t.close());

const daysAgo = (n: number) => new Date(NOW - n * 86_400_000).toISOString();
const shoes = (customerId: string, day: number, extra: Record<string, unknown> = {}) =>
  orderBody({ customerId, placedAt: daysAgo(day), sourceUpdatedAt: daysAgo(day), ...extra });

const SHOE_LOVERS = {
  version: 1,
  all: [
    { field: 'country', op: 'eq', value: 'ES' },
    { orders: { within: 'P90D', where: { category: 'shoes' }, count: { gte: 2 } } },
  ],
};

async function segment(client: TestApp['as'] extends (...a: never[]) => infer C ? C : never, body: object) {
  const res = await client.post('/v1/segments', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; memberCount: number; version: number };
}

describe('segments: definitions, membership and history', () => {
  it('builds a dynamic segment, previews it (admin: the SQL with bound values and its plan) and lists members', async () => {
    const { client } = await t.newTenant();
    const inSpain = await newCustomer(client, { address: { country: 'ES' } });
    const inFrance = await newCustomer(client, { address: { country: 'FR' } });
    for (const c of [inSpain, inFrance]) {
      await client.post('/v1/orders', shoes(c.id, 10));
      await client.post('/v1/orders', shoes(c.id, 20));
    }
    // two orders, but one is too old for the 90-day window
    const lapsed = await newCustomer(client, { address: { country: 'ES' } });
    await client.post('/v1/orders', shoes(lapsed.id, 10));
    await client.post('/v1/orders', shoes(lapsed.id, 120));

    const created = await segment(client, { name: 'Spanish shoe lovers', definition: SHOE_LOVERS });
    expect(created.memberCount).toBe(1);

    const preview = await client.post('/v1/segments/preview', { definition: SHOE_LOVERS });
    expect(preview.statusCode, preview.body).toBe(200);
    const body = preview.json();
    expect(body.count).toBe(1);
    expect(body.sample.map((c: { id: string }) => c.id)).toEqual([inSpain.id]);
    expect(body.sql).toContain('$1');
    expect(body.sql).not.toContain("'ES'");
    expect(body.params).toContain('ES');
    expect(body.plan[0].Plan).toBeDefined();

    const members = await client.get(`/v1/segments/${created.id}/members`);
    expect(members.json().data.map((m: { customer: { id: string } }) => m.customer.id)).toEqual([inSpain.id]);
    const history = await client.get(`/v1/segments/${created.id}/history`);
    expect(history.json().data).toMatchObject([
      { customerId: inSpain.id, change: 'entered', reason: 'refresh' },
    ]);
    const ofCustomer = await client.get(`/v1/customers/${inSpain.id}/segments`);
    expect(ofCustomer.json().data).toMatchObject([
      { segment: { id: created.id, name: 'Spanish shoe lovers' } },
    ]);

    // without admin, the preview has no SQL
    const writer = t.as(await t.token({ id: (await t.newTenant()).id, slug: '' }, ['segments:write']));
    const plain = await writer.post('/v1/segments/preview', { definition: SHOE_LOVERS });
    expect(plain.statusCode, plain.body).toBe(200);
    expect(plain.json()).toMatchObject({ count: expect.any(Number) });
    expect(plain.json().sql).toBeUndefined();
  });

  it('conditions on personal data need customers:pii; readers without it see their values hidden', async () => {
    const { id: tenantId, client } = await t.newTenant();
    await newCustomer(client, { email: 'hidden.person@example.com' });
    const byEmail = { version: 1, all: [{ field: 'email', op: 'startsWith', value: 'hidden.p' }] };
    const writer = t.as(await t.token({ id: tenantId, slug: '' }, ['segments:write', 'segments:read']));
    // no preview, no segment: a count per guess would spell the email out
    for (const res of [
      await writer.post('/v1/segments/preview', { definition: byEmail, sampleSize: 5 }),
      await writer.post('/v1/segments', { name: 'by email', definition: byEmail }),
    ]) {
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json()).toMatchObject({ code: 'insufficient_scope', requiredScopes: ['customers:pii'] });
    }
    // nested, and through what reveals a birth date
    const nested = { version: 1, any: [{ all: [{ field: 'age', op: 'gte', value: 30 }] }] };
    expect((await writer.post('/v1/segments/preview', { definition: nested })).statusCode).toBe(403);
    // a market is not personal data
    const spain = { version: 1, all: [{ field: 'country', op: 'eq', value: 'ES' }] };
    expect((await writer.post('/v1/segments/preview', { definition: spain })).statusCode).toBe(200);

    // made by a token that may: its readers without the scope see the condition, not the value
    const made = await segment(client, { name: 'by email', definition: byEmail });
    expect(made.memberCount).toBe(1);
    const seen = (await writer.get(`/v1/segments/${made.id}`)).json();
    expect(seen.definition.all[0]).toEqual({
      field: 'email',
      op: 'startsWith',
      value: '[hidden: needs customers:pii]',
    });
    expect((await client.get(`/v1/segments/${made.id}`)).json().definition).toEqual(byEmail);
  });

  it('a plain date on a time field is that whole day in the tenant’s time zone, bounds included', async () => {
    const { client } = await t.newTenant();
    expect((await client.patch('/v1/settings', { timezone: 'Europe/Madrid' })).statusCode).toBe(200);
    const buyer = async (placedAt: string) => {
      const c = await newCustomer(client);
      expect(
        (
          await client.post(
            '/v1/orders',
            orderBody({ customerId: c.id, placedAt, sourceUpdatedAt: placedAt }),
          )
        ).statusCode,
      ).toBe(201);
      return c.id;
    };
    // 1 March at 00:30 in Madrid, and 28 February at 11:00 there
    const firstOfMarch = await buyer('2026-02-28T23:30:00.000Z');
    const lastOfFebruary = await buyer('2026-02-28T10:00:00.000Z');
    const members = async (op: string, value: unknown) => {
      const res = await client.post('/v1/segments/preview', {
        definition: { version: 1, all: [{ field: 'purchases.lastOrderAt', op, value }] },
        sampleSize: 10,
      });
      expect(res.statusCode, res.body).toBe(200);
      return new Set(res.json().sample.map((c: { id: string }) => c.id));
    };
    expect(await members('gte', '2026-03-01')).toEqual(new Set([firstOfMarch]));
    expect(await members('lt', '2026-03-01')).toEqual(new Set([lastOfFebruary]));
    expect(await members('lte', '2026-02-28')).toEqual(new Set([lastOfFebruary]));
    expect(await members('gt', '2026-02-28')).toEqual(new Set([firstOfMarch]));
    expect(await members('between', ['2026-02-01', '2026-02-28'])).toEqual(new Set([lastOfFebruary]));
    // a time is taken as given
    expect(await members('gt', '2026-02-28T23:00:00Z')).toEqual(new Set([firstOfMarch]));
    expect(await members('between', ['2026-02-28', '2026-02-28T23:30:00Z'])).toEqual(
      new Set([firstOfMarch, lastOfFebruary]),
    );
  });

  it('an order that crosses the threshold enters the customer in the follow-up pass; a refund takes them out', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const customer = await newCustomer(client, { address: { country: 'ES' } });
    await client.post('/v1/orders', shoes(customer.id, 5));
    const created = await segment(client, { name: 'shoes', definition: SHOE_LOVERS });
    expect(created.memberCount).toBe(0);

    const second = shoes(customer.id, 1);
    expect((await client.post('/v1/orders', second)).statusCode).toBe(201);
    expect((await t.app.services.segments.membership.evaluatePending(tenantId)).customers).toBe(1);
    expect((await client.get(`/v1/segments/${created.id}`)).json().memberCount).toBe(1);

    const refund = { ...second, status: 'refunded', refunded: second.total, sourceUpdatedAt: daysAgo(0) };
    expect((await client.post('/v1/orders', refund)).statusCode).toBe(200);
    await t.app.services.segments.membership.evaluatePending(tenantId);
    expect((await client.get(`/v1/segments/${created.id}`)).json().memberCount).toBe(0);

    const history = (await client.get(`/v1/segments/${created.id}/history`)).json().data;
    expect(history.map((h: { change: string; reason: string }) => [h.change, h.reason])).toEqual([
      ['exited', 'change'],
      ['entered', 'change'],
    ]);
    const events = (await client.get('/v1/events?type=segment.*')).json().data;
    expect(
      events.map((e: { type: string; data: { customerId: string } }) => [e.type, e.data.customerId]),
    ).toEqual([
      ['segment.entered', customer.id],
      ['segment.exited', customer.id],
    ]);
    // nothing left to do
    expect((await t.app.services.segments.membership.evaluatePending(tenantId)).customers).toBe(0);
  });

  it('profile changes, static lists and segments built on segments follow incrementally', async () => {
    const { id: tenantId, client, token } = await t.newTenant();
    const a = await newCustomer(client, { tags: ['vip-event'] });
    const b = await newCustomer(client);
    const list = await segment(client, { name: 'hand picked', kind: 'static' });
    const built = await segment(client, {
      name: 'picked or tagged',
      definition: {
        version: 1,
        any: [
          { field: 'segment', op: 'eq', value: list.id },
          { field: 'tags', op: 'contains', value: 'vip-event' },
        ],
      },
    });
    expect(built.memberCount).toBe(1);

    const unknown = '0193a0a0-0000-7000-8000-000000000000';
    const refused = await client.post(`/v1/segments/${list.id}/members`, { customerIds: [b.id, unknown] });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().errors).toEqual([{ path: 'customerIds[1]', message: 'no such customer' }]);
    expect((await client.get(`/v1/segments/${list.id}`)).json().memberCount).toBe(0);

    const added = await client.post(`/v1/segments/${list.id}/members`, { customerIds: [b.id] });
    expect(added.json()).toEqual({ added: 1, removed: 0, memberCount: 1 });
    await t.app.services.segments.membership.evaluatePending(tenantId);
    expect((await client.get(`/v1/segments/${built.id}`)).json().memberCount).toBe(2);

    // a profile change: the tag goes
    const patched = await client.patch(`/v1/customers/${a.id}`, { tags: [] });
    expect(patched.statusCode, patched.body).toBe(200);
    // DELETE with a body (the test client sends none); an unknown customer refuses it too
    const unknownOut = await t.app.inject({
      method: 'DELETE',
      url: `/v1/segments/${list.id}/members`,
      headers: { authorization: `Bearer ${token}` },
      payload: { customerIds: [b.id, unknown] },
    });
    expect(unknownOut.statusCode).toBe(422);
    expect(unknownOut.json().errors).toEqual([{ path: 'customerIds[1]', message: 'no such customer' }]);
    expect((await client.get(`/v1/segments/${list.id}`)).json().memberCount).toBe(1);
    const removed = await t.app.inject({
      method: 'DELETE',
      url: `/v1/segments/${list.id}/members`,
      headers: { authorization: `Bearer ${token}` },
      payload: { customerIds: [b.id] },
    });
    expect(removed.json()).toEqual({ added: 0, removed: 1, memberCount: 0 });
    await t.app.services.segments.membership.evaluatePending(tenantId);
    expect((await client.get(`/v1/segments/${built.id}`)).json().memberCount).toBe(0);

    const dynamicEdit = await client.post(`/v1/segments/${built.id}/members`, { customerIds: [a.id] });
    expect(dynamicEdit.statusCode).toBe(409);
    expect(dynamicEdit.json().code).toBe('segment_not_static');
    const inUse = await client.delete(`/v1/segments/${list.id}`);
    expect(inUse.statusCode).toBe(409);
    expect(inUse.json().code).toBe('segment_in_use');
    expect((await client.delete(`/v1/segments/${built.id}`)).statusCode).toBe(204);
    expect((await client.delete(`/v1/segments/${list.id}`)).statusCode).toBe(204);
    expect((await client.get(`/v1/segments/${list.id}`)).statusCode).toBe(404);
  });

  it('score conditions follow each recompute', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const buyer = await newCustomer(client);
    await newCustomer(client);
    await client.post('/v1/orders', shoes(buyer.id, 3));
    const created = await segment(client, {
      name: 'scored buyers',
      definition: { version: 1, all: [{ field: 'scores.frequency', op: 'gte', value: 1 }] },
    });
    expect(created.memberCount).toBe(0);
    await t.app.services.scores.recompute(tenantId);
    expect((await client.get(`/v1/segments/${created.id}`)).json()).toMatchObject({ memberCount: 1 });
  });

  it('a recompute whose segment refresh was lost (the process stopped after its commit) is caught up by the sweep', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const buyer = await newCustomer(client);
    await client.post('/v1/orders', shoes(buyer.id, 3));
    const created = await segment(client, {
      name: 'scored buyers, refresh lost',
      definition: { version: 1, all: [{ field: 'scores.frequency', op: 'gte', value: 1 }] },
    });
    expect(created.memberCount).toBe(0);
    const membership = t.app.services.segments.membership;
    const refresh = membership.refresh;
    const started = now;
    now = new Date(started.getTime() + 60_000);
    try {
      // the recompute commits; the refresh it asks for afterwards never happens
      membership.refresh = async () => {
        throw new Error('stopped');
      };
      await expect(t.app.services.scores.recompute(tenantId)).rejects.toThrow('stopped');
      let refreshes = 0;
      membership.refresh = (...args) => {
        refreshes += 1;
        return refresh.apply(membership, args);
      };
      expect((await client.get(`/v1/segments/${created.id}`)).json().memberCount).toBe(0);
      // within a quarter of an hour the recompute's own refresh may still be on its way: left to it
      await membership.sweep([tenantId]);
      expect(refreshes).toBe(0);
      now = new Date(started.getTime() + 60_000 + 15 * 60_000);
      await membership.sweep([tenantId]);
      expect((await client.get(`/v1/segments/${created.id}`)).json()).toMatchObject({
        memberCount: 1,
        refreshedAt: now.toISOString(),
      });
      expect(refreshes).toBe(1);
      // caught up: the next sweep refreshes nothing
      await membership.sweep([tenantId]);
      expect(refreshes).toBe(1);
    } finally {
      membership.refresh = refresh;
      now = started;
    }
  });

  it('a score change written by the refresh after an order is evaluated again, even when the pass ran first', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const buyer = await newCustomer(client);
    await client.post('/v1/orders', shoes(buyer.id, 20));
    await client.post('/v1/orders', shoes(buyer.id, 10));
    await t.app.services.scores.recompute(tenantId);
    const created = await segment(client, {
      name: 'frequent buyers by their scores',
      definition: { version: 1, all: [{ field: 'scores.frequency', op: 'gte', value: 3 }] },
    });
    expect(created.memberCount).toBe(0);
    expect((await client.post('/v1/orders', shoes(buyer.id, 2))).statusCode).toBe(201);
    // the order's own mark: evaluated on the scores as they were (two orders)
    expect((await t.app.services.segments.membership.evaluatePending(tenantId)).customers).toBe(1);
    expect((await client.get(`/v1/segments/${created.id}`)).json().memberCount).toBe(0);
    // the refresh writes the scores row (three orders; the customer's status and phase stay: only
    // the scores row changes) and marks the customer again
    expect(await t.app.services.scores.refresh(tenantId)).toEqual({ customers: 1 });
    expect((await t.app.services.segments.membership.evaluatePending(tenantId)).customers).toBe(1);
    expect((await client.get(`/v1/segments/${created.id}`)).json().memberCount).toBe(1);

    // a tenant without dynamic segments: the same writes mark nobody
    const other = await t.newTenant();
    const plain = await newCustomer(other.client);
    await other.client.post('/v1/orders', shoes(plain.id, 20));
    await other.client.post('/v1/orders', shoes(plain.id, 10));
    await t.app.services.scores.recompute(other.id);
    await other.client.post('/v1/orders', shoes(plain.id, 2));
    expect(await t.app.services.scores.refresh(other.id)).toEqual({ customers: 1 });
    expect((await t.app.services.segments.membership.evaluatePending(other.id)).customers).toBe(0);
  });

  it('updates recompute members, honour If-Match, and refuse cycles and unknown segments', async () => {
    const { client } = await t.newTenant();
    await newCustomer(client, { address: { country: 'PT' } });
    const a = await segment(client, {
      name: 'a',
      definition: { version: 1, all: [{ field: 'country', op: 'eq', value: 'ES' }] },
    });
    const b = await segment(client, {
      name: 'b',
      definition: { version: 1, all: [{ field: 'segment', op: 'eq', value: a.id }] },
    });
    const cycle = await client.patch(`/v1/segments/${a.id}`, {
      definition: { version: 1, not: { field: 'segment', op: 'in', value: [b.id] } },
    });
    expect(cycle.statusCode).toBe(400);
    expect(cycle.json().errors).toEqual([
      { path: 'definition', message: 'the segments it refers to depend on it (a cycle)' },
    ]);
    const missing = await client.post('/v1/segments', {
      name: 'c',
      definition: {
        version: 1,
        all: [{ field: 'segment', op: 'eq', value: '0193a0a0-0000-7000-8000-000000000000' }],
      },
    });
    expect(missing.statusCode).toBe(400);
    const stale = await client.patch(`/v1/segments/${a.id}`, { name: 'a2' }, { 'if-match': '"v99"' });
    expect(stale.statusCode).toBe(412);
    const updated = await client.patch(
      `/v1/segments/${a.id}`,
      { definition: { version: 1, all: [{ field: 'country', op: 'in', value: ['PT', 'ES'] }] } },
      { 'if-match': `"v${a.version}"` },
    );
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.json().memberCount).toBe(1);
    const taken = await client.post('/v1/segments', { name: 'a', kind: 'static' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().code).toBe('segment_name_taken');
  });
});

describe('scheduled refreshes for time-relative conditions', () => {
  it('a window that moves on without any write is caught by the segment’s own schedule', async () => {
    now = new Date(NOW);
    const { id: tenantId, client } = await t.newTenant();
    const buyer = await newCustomer(client);
    await client.post('/v1/orders', shoes(buyer.id, 0));
    const recent = await segment(client, {
      name: 'bought this week',
      refreshEveryMinutes: 60,
      definition: { version: 1, all: [{ orders: { within: 'P7D' } }] },
    });
    expect(recent.memberCount).toBe(1);
    // ten minutes later nothing is due; eight days later the window has moved past the order
    now = new Date(NOW + 10 * 60_000);
    await t.app.services.segments.membership.sweep([tenantId]);
    expect((await client.get(`/v1/segments/${recent.id}`)).json().memberCount).toBe(1);
    now = new Date(NOW + 8 * 86_400_000);
    await t.app.services.segments.membership.sweep([tenantId]);
    expect((await client.get(`/v1/segments/${recent.id}`)).json().memberCount).toBe(0);
    const history = (await client.get(`/v1/segments/${recent.id}/history`)).json().data;
    expect(history[0]).toMatchObject({ customerId: buyer.id, change: 'exited', reason: 'refresh' });
    now = new Date(NOW);
  });
});

describe('segment definitions that stop validating', () => {
  it('a custom attribute gone from under a definition (removed before segments held it) leaves the members as they were and says why, without a new version', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const attribute = (
      await client.post('/v1/attributes', { key: 'shoeSize', label: 'Size', type: 'number' })
    ).json();
    const created = await segment(client, {
      name: 'big feet',
      definition: { version: 1, all: [{ field: 'attributes.shoeSize', op: 'gte', value: 44 }] },
    });
    // the API refuses to remove it now (409 attribute_in_use); a version before this one did not
    expect((await client.delete(`/v1/attributes/${attribute.id}`)).statusCode).toBe(409);
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      await owner.query('DELETE FROM attribute_definitions WHERE tenant_id = $1 AND id = $2', [
        tenantId,
        attribute.id,
      ]);
    } finally {
      await owner.end();
    }
    const summary = await t.app.services.segments.membership.refresh(tenantId);
    expect(summary).toMatchObject({ segments: 1, errors: 1 });
    const after = (await client.get(`/v1/segments/${created.id}`)).json();
    expect(after.lastError).toMatch(/definition.all\[0\].field: no custom attribute "shoeSize"/);
    expect(after.version).toBe(created.version);
  });
});

describe('segment definitions: validation', () => {
  const cases: [string, unknown, { path: string; message: RegExp }][] = [
    ['a missing version', { all: [] }, { path: 'definition.version', message: /expected 1/ }],
    [
      'an unknown field',
      {
        version: 1,
        all: [
          { field: 'country', op: 'eq', value: 'ES' },
          { field: 'shoeSize', op: 'eq', value: 3 },
        ],
      },
      { path: 'definition.all[1].field', message: /unknown field "shoeSize"/ },
    ],
    [
      'a value of the wrong type',
      {
        version: 1,
        all: [
          { field: 'country', op: 'eq', value: 'ES' },
          { field: 'status', op: 'eq', value: 'active' },
          { field: 'scores.valueScore', op: 'gte', value: 'high' },
        ],
      },
      { path: 'definition.all[2].value', message: /expected a number/ },
    ],
    [
      'a number no 4-byte float holds (the value score is one)',
      { version: 1, any: [{ field: 'scores.valueScore', op: 'between', value: [1e-50, 1e39] }] },
      { path: 'definition.any[0].value', message: /at least 1.2e-38/ },
    ],
    [
      'an operator the type lacks',
      { version: 1, any: [{ field: 'status', op: 'gt', value: 'active' }] },
      { path: 'definition.any[0].op', message: /expected one of eq, neq, in, nin, exists/ },
    ],
    [
      'a bad duration',
      { version: 1, not: { orders: { within: '90 days' } } },
      { path: 'definition.not.orders.within', message: /ISO 8601 duration/ },
    ],
    [
      'an unknown activity filter',
      { version: 1, all: [{ orders: { where: { colour: 'red' } } }] },
      { path: 'definition.all[0].orders.where.colour', message: /unknown filter/ },
    ],
    [
      'an undeclared custom attribute',
      { version: 1, all: [{ field: 'attributes.shoeSize', op: 'gt', value: 40 }] },
      { path: 'definition.all[0].field', message: /no custom attribute "shoeSize"/ },
    ],
    [
      'a reversed range',
      { version: 1, all: [{ field: 'age', op: 'between', value: [40, 30] }] },
      { path: 'definition.all[0].value', message: /low is above high/ },
    ],
  ];
  it.each(cases)('refuses %s with the exact path', async (_name, definition, expected) => {
    const { client } = await t.newTenant();
    const res = await client.post('/v1/segments', { name: 'bad', definition });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const [error] = res.json().errors;
    expect(error.path).toBe(expected.path);
    expect(error.message).toMatch(expected.message);
    expect((await client.get('/v1/segments')).json().data).toEqual([]);
  });

  it('enforces the depth and size limits', async () => {
    const { client } = await t.newTenant();
    let deep: object = { field: 'country', op: 'eq', value: 'ES' };
    for (let i = 0; i < 9; i++) deep = { not: deep };
    const tooDeep = await client.post('/v1/segments/preview', { definition: { version: 1, ...deep } });
    expect(tooDeep.statusCode).toBe(400);
    expect(tooDeep.json().errors[0].message).toMatch(/deeper than 8/);
    const many = Array.from({ length: 101 }, () => ({ field: 'country', op: 'eq', value: 'ES' }));
    const tooMany = await client.post('/v1/segments/preview', { definition: { version: 1, any: many } });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().errors).toEqual([
      { path: 'definition.any[100]', message: 'more than 100 conditions' },
    ]);
  });

  it('publishes the language as a JSON Schema with the tenant’s attributes', async () => {
    const { client } = await t.newTenant();
    await client.post('/v1/attributes', { key: 'shoeSize', label: 'Shoe size', type: 'number' });
    const schema = (await client.get('/v1/segments/schema')).json();
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const fields = schema.$defs.condition.anyOf.map(
      (c: { anyOf: { properties: { field: { const: string } } }[] }) => c.anyOf[0]!.properties.field.const,
    );
    expect(fields).toEqual(
      expect.arrayContaining(['country', 'scores.tier', 'attributes.shoeSize', 'birthday']),
    );
    // what the API accepts, the schema accepts, and what it refuses the schema refuses
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    formats.default(ajv);
    const valid = ajv.compile(schema);
    const accepted = [
      SHOE_LOVERS,
      { version: 1, field: 'country', op: 'eq', value: 'ES' },
      { version: 1, orders: { within: 'P90D' } },
      { version: 1, all: [{ field: 'createdAt', op: 'gte', value: '2026-01-01' }] },
      { version: 1, all: [{ field: 'createdAt', op: 'lt', value: '2026-01-01T10:00:00Z' }] },
      { version: 1, not: { field: 'attributes.shoeSize', op: 'gt', value: 40 } },
    ];
    for (const definition of accepted) {
      const res = await client.post('/v1/segments/preview', { definition });
      expect(res.statusCode, res.body).toBe(200);
      expect(valid(definition), JSON.stringify([definition, valid.errors?.slice(0, 3)])).toBe(true);
    }
    for (const definition of [
      { field: 'country', op: 'eq', value: 'ES' },
      { version: 1, all: [{ version: 1, field: 'country', op: 'eq', value: 'ES' }] },
      { version: 1, field: 'country', op: 'gt', value: 'ES' },
    ]) {
      expect((await client.post('/v1/segments/preview', { definition })).statusCode).toBe(400);
      expect(valid(definition), JSON.stringify(definition)).toBe(false);
    }
  });
});

describe('segments: a write that overlaps a pass', () => {
  it('is evaluated after it commits, even when its customer was already pending', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const x = await newCustomer(client, { address: { country: 'FR' } });
    const spain = await segment(client, {
      name: 'spain',
      definition: { version: 1, all: [{ field: 'country', op: 'eq', value: 'ES' }] },
    });
    expect(spain.memberCount).toBe(0);
    const { membership } = t.app.services.segments;
    // x is pending (a change no pass has looked at yet)
    expect((await client.patch(`/v1/customers/${x.id}`, { tags: ['a'] })).statusCode).toBe(200);
    // another writer moves x to Spain and has not committed when the pass runs
    const writer = new pg.Client({ connectionString: inject('ownerUrl') });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
      await writer.query(`UPDATE customers SET country = 'ES' WHERE id = $1`, [x.id]);
      // the pass leaves x's mark to the writer (it would have evaluated x as it was)
      expect((await membership.evaluatePending(tenantId)).customers).toBe(0);
      await writer.query('COMMIT');
    } finally {
      await writer.end();
    }
    expect((await membership.evaluatePending(tenantId)).customers).toBe(1);
    expect((await client.get(`/v1/segments/${spain.id}`)).json().memberCount).toBe(1);
  });
});

describe('segments: partners', () => {
  it('a partner token sees its segments only, consenting members only, personal data only with customers:pii, and is audited', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const sharing = await newCustomer(client, {
      address: { country: 'ES' },
      consent: { partnerSharing: { granted: true } },
    });
    const notSharing = await newCustomer(client, { address: { country: 'ES' } });
    const mine = await segment(client, {
      name: 'spain',
      definition: { version: 1, all: [{ field: 'country', op: 'eq', value: 'ES' }] },
    });
    const other = await segment(client, { name: 'other', kind: 'static' });
    expect(mine.memberCount).toBe(2);

    const partner = t.as(await t.token(tenant, ['segments:read'], { segments: [mine.id] }));
    // no definition (it can name personal data); the count of sharing members only
    expect((await partner.get(`/v1/segments/${mine.id}`)).json()).toMatchObject({
      definition: null,
      memberCount: 1,
    });
    const partnerHistory = (await partner.get(`/v1/segments/${mine.id}/history`)).json().data;
    expect(partnerHistory.map((h: { customerId: string }) => h.customerId)).toEqual([sharing.id]);
    expect((await partner.get(`/v1/customers/${sharing.id}/segments`)).statusCode).toBe(200);
    expect((await partner.get(`/v1/customers/${notSharing.id}/segments`)).statusCode).toBe(404);
    expect((await partner.get(`/v1/segments/${other.id}`)).statusCode).toBe(404);
    expect((await partner.get(`/v1/segments/${other.id}/members`)).statusCode).toBe(404);
    expect((await partner.get('/v1/segments')).json().data.map((s: { id: string }) => s.id)).toEqual([
      mine.id,
    ]);
    const members = (await partner.get(`/v1/segments/${mine.id}/members`)).json().data;
    expect(members.map((m: { customer: { id: string } }) => m.customer.id)).toEqual([sharing.id]);
    expect(members[0].customer.email).toBeUndefined();
    expect(members[0].customer.address).toBeUndefined();

    const withPii = t.as(await t.token(tenant, ['segments:read', 'customers:pii'], { segments: [mine.id] }));
    const csv = await withPii.get(`/v1/segments/${mine.id}/members`, { accept: 'text/csv' });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trim().split('\n');
    expect(lines[0]).toBe(
      'id,externalId,firstName,lastName,email,phone,birthDate,city,country,locale,status,lifecyclePhase,tags,enteredAt',
    );
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(sharing.email);

    const writer = t.as(await t.token(tenant, ['segments:read', 'segments:write'], { segments: [mine.id] }));
    const preview = await writer.post('/v1/segments/preview', { definition: { version: 1, all: [] } });
    expect(preview.statusCode).toBe(403);
    expect(preview.json().code).toBe('insufficient_scope');
    // nor does segments:write let a partner change its segments (the answers carried the definition
    // and the full count)
    const staticMine = await segment(client, { name: 'list', kind: 'static' });
    const listWriter = t.as(
      await t.token(tenant, ['segments:read', 'segments:write'], { segments: [mine.id, staticMine.id] }),
    );
    for (const res of [
      await listWriter.patch(`/v1/segments/${mine.id}`, { name: 'renamed' }),
      await listWriter.post(`/v1/segments/${staticMine.id}/members`, { customerIds: [sharing.id] }),
      await listWriter.delete(`/v1/segments/${mine.id}`),
      await listWriter.post(`/v1/segments/${mine.id}/refresh`, {}),
    ]) {
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json().detail).toMatch(/only read/);
    }
    const renamed = await listWriter.graphql(
      `mutation { updateSegment(id: "${mine.id}", input: { name: "x" }) { id } }`,
    );
    expect(renamed.body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
    expect((await client.get(`/v1/segments/${mine.id}`)).json()).toMatchObject({
      name: 'spain',
      memberCount: 2,
    });
    expect((await client.get(`/v1/segments/${staticMine.id}`)).json().memberCount).toBe(0);

    const reads = (await client.get(`/v1/segments/${mine.id}/reads`)).json().data;
    expect(reads.map((r: { format: string; rows: number }) => [r.format, r.rows])).toEqual([
      ['csv', 1],
      ['json', 1],
    ]);
  });

  it('streams the whole membership as NDJSON for the tenant’s own tokens', async () => {
    const { client } = await t.newTenant();
    for (let i = 0; i < 3; i++) await newCustomer(client, { tags: ['x'] });
    const all = await segment(client, {
      name: 'tagged',
      definition: { version: 1, all: [{ field: 'tags', op: 'in', value: ['x', 'y'] }] },
    });
    const res = await client.get(`/v1/segments/${all.id}/members`, { accept: 'application/x-ndjson' });
    expect(res.headers['content-type']).toContain('application/x-ndjson');
    const rows = res.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(3);
    expect(rows[0].customer.tags).toEqual(['x']);
  });
});

describe('segments over GraphQL', () => {
  it('segment { count members history }, previewSegment, createSegment and Customer.segments', async () => {
    const { client } = await t.newTenant();
    const c = await newCustomer(client, { address: { country: 'ES' } });
    const created = await client.graphql(
      `mutation($d: JSON) { createSegment(input: { name: "es", definition: $d }) { id count } }`,
      { d: { version: 1, all: [{ field: 'country', op: 'eq', value: 'ES' }] } },
    );
    expect(created.body.errors).toBeUndefined();
    const id = created.body.data!.createSegment.id;
    expect(created.body.data!.createSegment.count).toBe(1);
    const read = await client.graphql(
      `query($id: ID!, $c: ID!) {
        segment(id: $id) { count members(first: 10) { nodes { customer { id } enteredAt } } history(first: 10) { nodes { change } } }
        customer(id: $c) { segments { segment { id name } } }
        previewSegment(definition: { version: 1, all: [{ field: "country", op: "eq", value: "FR" }] }) { count }
      }`,
      { id, c: c.id },
    );
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data).toEqual({
      segment: {
        count: 1,
        members: { nodes: [{ customer: { id: c.id }, enteredAt: expect.any(String) }] },
        history: { nodes: [{ change: 'entered' }] },
      },
      customer: { segments: [{ segment: { id, name: 'es' } }] },
      previewSegment: { count: 0 },
    });
    const bad = await client.graphql(
      `{ previewSegment(definition: { version: 1, all: [{ field: "nope" }] }) { count } }`,
    );
    expect(bad.body.errors?.[0]?.extensions?.code).toBe('validation_failed');
  });
});

describe('partner tokens beyond their segments', () => {
  it('a partner token’s other scopes count for nothing: no customer, order or timeline outside its segments', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const outsider = (
      await client.post('/v1/customers', { externalId: 'outsider', email: 'o@example.com' })
    ).json();
    const list = (await client.post('/v1/segments', { name: 'partner-list', kind: 'static' })).json();
    const partner = t.as(
      await t.token(tenant, ['segments:read', 'customers:read', 'customers:write', 'customers:pii'], {
        segments: [list.id],
      }),
    );
    for (const res of [
      await partner.get('/v1/customers'),
      await partner.get(`/v1/customers/${outsider.id}`),
      await partner.get(`/v1/customers/${outsider.id}/orders`),
      await partner.get(`/v1/customers/${outsider.id}/timeline`),
      await partner.patch(`/v1/customers/${outsider.id}`, { consent: { partnerSharing: { granted: true } } }),
    ]) {
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json().detail).toMatch(/partner token/);
    }
    const gql = await partner.graphql(`{ customer(id: "${outsider.id}") { email } }`);
    expect(gql.body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
    // what it is for still works
    expect((await partner.get(`/v1/segments/${list.id}/members`)).statusCode).toBe(200);
  });
});

describe('segments on float4 scores', () => {
  it('a punctuality that reads 0.7 matches gte 0.7 and eq 0.7 (the value is compared as the column stores it)', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const c = (await client.post('/v1/customers', { externalId: 'punctual' })).json();
    const order = orderBody({ customerId: c.id, externalId: 'p-1' });
    expect((await client.post('/v1/orders', order)).statusCode).toBe(201);
    await t.app.services.scores.recompute(tenant.id);
    // 7 of 10 on time, as float4 holds it
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      await owner.query('UPDATE customer_scores SET punctuality = 0.7 WHERE customer_id = $1', [c.id]);
    } finally {
      await owner.end();
    }
    for (const op of ['gte', 'eq', 'lte'])
      expect(
        (
          await client.post('/v1/segments/preview', {
            definition: { version: 1, all: [{ field: 'scores.punctuality', op, value: 0.7 }] },
          })
        ).json().count,
        op,
      ).toBe(1);
  });
});

describe('segments on purchases of customers who never ordered', () => {
  it('purchases.orders eq 0 selects the prospects, as orders count lt 1 does', async () => {
    const { client } = await t.newTenant();
    await newCustomer(client); // the prospect
    const buyer = await newCustomer(client);
    expect((await client.post('/v1/orders', orderBody({ customerId: buyer.id }))).statusCode).toBe(201);
    const count = async (definition: object) =>
      (await client.post('/v1/segments/preview', { definition: { version: 1, ...definition } })).json().count;
    expect(await count({ all: [{ field: 'purchases.orders', op: 'eq', value: 0 }] })).toBe(1);
    expect(await count({ all: [{ field: 'purchases.netRevenue', op: 'lt', value: 1 }] })).toBe(1);
    expect(await count({ all: [{ orders: { count: { lt: 1 } } }] })).toBe(1);
    expect(await count({ all: [{ field: 'purchases.orders', op: 'gte', value: 1 }] })).toBe(1);
  });
});

describe('segments: windows ending now', () => {
  it('an order stamped a minute ahead (a fast point-of-sale clock, within the allowed skew) is in a "last 90 days" window', async () => {
    now = new Date(NOW);
    const { client } = await t.newTenant();
    const c = await newCustomer(client);
    const placedAt = new Date(NOW + 60_000).toISOString();
    const res = await client.post(
      '/v1/orders',
      orderBody({ customerId: c.id, placedAt, sourceUpdatedAt: placedAt }),
    );
    expect(res.statusCode, res.body).toBe(201);
    const count = async (definition: object) =>
      (await client.post('/v1/segments/preview', { definition: { version: 1, ...definition } })).json().count;
    expect(await count({ all: [{ orders: { within: 'P90D' } }] })).toBe(1);
    expect(await count({ all: [{ field: 'purchases.lastOrderAt', op: 'within', value: 'P90D' }] })).toBe(1);
  });
});

describe('segments: deleting one another refers to', () => {
  it('a definition saved while the segment it names is deleted: one of the two is refused, never both kept', async () => {
    now = new Date(NOW);
    const { client } = await t.newTenant();
    for (let round = 0; round < 8; round++) {
      const target = (await client.post('/v1/segments', { name: `target-${round}`, kind: 'static' })).json();
      const [created, deleted] = await Promise.all([
        client.post('/v1/segments', {
          name: `refers-${round}`,
          definition: { version: 1, all: [{ field: 'segment', op: 'eq', value: target.id }] },
        }),
        client.delete(`/v1/segments/${target.id}`),
      ]);
      const outcome = [created.statusCode, deleted.statusCode];
      expect([
        [201, 409],
        [400, 204],
      ]).toContainEqual(outcome);
    }
  });
});
