import { v7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventsService } from '../src/modules/events/events.service.ts';
import { events } from '../src/modules/events/events.table.ts';
import { EVENTS_PRUNE_TASK, tasksOf } from '../src/modules/services.ts';
import type { Tx } from '../src/platform/db.ts';
import { idFloor } from '../src/platform/ids.ts';
import { Cursors } from '../src/platform/pagination.ts';
import { createTestApp, TEST_CURSOR_SECRET, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody } from './helpers/factories.ts';

let now = new Date();
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock: { now: () => now } });
});
afterAll(() => t.close());

async function allEvents(client: TestApp['as'] extends (...a: any[]) => infer C ? C : never, query = '') {
  const seen: any[] = [];
  let cursor: string | null = null;
  do {
    const res: any = (
      await client.get(`/v1/events?limit=3${query}${cursor ? `&cursor=${cursor}` : ''}`)
    ).json();
    seen.push(...res.data);
    cursor = res.nextCursor;
  } while (cursor);
  return seen;
}

/** A transaction that runs `work`, then stays open until `end(commit)`. */
function held(tenantId: string, work: (tx: Tx) => Promise<void>) {
  let end!: (commit: boolean) => void;
  const decided = new Promise<boolean>((resolve) => {
    end = resolve;
  });
  let wrote!: () => void;
  const written = new Promise<void>((resolve) => {
    wrote = resolve;
  });
  const done = t.db.withTenant(tenantId, async (tx) => {
    await work(tx);
    wrote();
    if (!(await decided)) throw new Error('rolled back on purpose');
  });
  return { written, end, done };
}

describe('events (transactional outbox)', () => {
  it('lists a batch’s events in the order of its items, each new buyer’s customer.created first', async () => {
    now = new Date();
    const { client } = await t.newTenant();
    const items = Array.from({ length: 6 }, (_, i) =>
      orderBody({ externalId: `seq-${i}`, customer: { email: `seq-${i % 3}@example.com` } }),
    );
    const res = await client.post('/v1/orders/batch', { items });
    expect(res.statusCode, res.body).toBe(200);
    const events = await allEvents(client);
    const kinds = events.map((e) => (e.type === 'order.recorded' ? e.data.externalId : e.type));
    expect(kinds.filter((k) => k.startsWith('seq-'))).toEqual(items.map((i) => i.externalId));
    const lastCreated = kinds.lastIndexOf('customer.created');
    expect(kinds.filter((k) => k === 'customer.created')).toHaveLength(3);
    expect(lastCreated).toBeLessThan(kinds.indexOf('seq-0'));
  });

  it('records an event for each committed change, in order, and none for a rolled-back one', async () => {
    now = new Date();
    const { client } = await t.newTenant();
    const customer = await newCustomer(client, { email: 'ev@example.com' });
    // rolled back: a duplicate email, an invalid order, a batch item with a bad reference
    expect((await client.post('/v1/customers', { email: 'ev@example.com' })).statusCode).toBe(409);
    expect(
      (
        await client.post(
          '/v1/orders',
          orderBody({ customerId: customer.id, total: { amount: 1, currency: 'EUR' } }),
        )
      ).statusCode,
    ).toBe(422);
    const order = (
      await client.post('/v1/orders', orderBody({ customerId: customer.id, externalId: 'e-1' }))
    ).json().order;
    await client.post(
      '/v1/orders',
      orderBody({
        customerId: customer.id,
        externalId: 'e-1',
        status: 'cancelled',
        sourceUpdatedAt: '2026-01-03T00:00:00Z',
      }),
    );
    await client.patch(`/v1/customers/${customer.id}`, { firstName: 'Eva' });
    const complaint = (
      await client.post('/v1/interactions', {
        customerId: customer.id,
        channel: 'email',
        direction: 'inbound',
        type: 'complaint',
      })
    ).json();
    await client.post(`/v1/interactions/${complaint.id}/transitions`, {
      to: 'resolved',
      resolution: { outcome: 'resolved' },
    });
    await client.post('/v1/feedback', { customerId: customer.id, expectation: 5, perception: 6 });

    const events = await allEvents(client);
    expect(events.map((e) => e.type)).toEqual([
      'customer.created',
      'order.recorded',
      'customer.status_changed',
      'order.updated',
      'customer.updated',
      'interaction.created',
      'case.opened',
      'case.resolved',
      'feedback.received',
    ]);
    const ids = events.map((e) => e.id);
    expect([...ids].sort()).toEqual(ids);
    const byType = Object.fromEntries(events.map((e) => [e.type, e]));
    expect(byType['customer.created'].data).toMatchObject({ id: customer.id, email: 'ev@example.com' });
    // the whole payload, as documented: built in SQL from the row as written
    expect(byType['order.recorded'].data).toEqual({
      id: order.id,
      source: order.source,
      externalId: 'e-1',
      customerId: customer.id,
      status: 'paid',
      placedAt: order.placedAt,
      total: { amount: 5000, currency: 'EUR' },
      baseTotal: { amount: 5000, currency: 'EUR' },
      sourceUpdatedAt: order.sourceUpdatedAt,
    });
    expect(byType['order.updated'].data).toMatchObject({ id: order.id, status: 'cancelled' });
    expect(byType['customer.status_changed'].data).toMatchObject({
      customerId: customer.id,
      fromStatus: 'potential',
      toStatus: 'active',
      reason: 'first_order',
    });
    expect(byType['customer.status_changed'].occurredAt).toBe(order.placedAt);
    expect(byType['case.resolved'].data.case).toMatchObject({ status: 'resolved' });
    for (const e of events) expect(e.version).toBe(1);
  });

  it('filters by type or prefix, starts after an id, and stays in its tenant', async () => {
    now = new Date();
    const a = await t.newTenant();
    const b = await t.newTenant();
    const customer = await newCustomer(a.client);
    await a.client.post('/v1/orders', orderBody({ customerId: customer.id }));
    await newCustomer(b.client);
    expect((await allEvents(a.client, '&type=customer.*')).map((e) => e.type)).toEqual([
      'customer.created',
      'customer.status_changed',
    ]);
    // a prefix is literal: _ is no wildcard
    expect(await allEvents(a.client, '&type=custome_.*')).toEqual([]);
    const recorded = await allEvents(a.client, '&type=order.recorded');
    expect(recorded).toHaveLength(1);
    const all = await allEvents(a.client);
    expect((await allEvents(a.client, `&after=${all[0].id}`)).map((e) => e.id)).toEqual(
      all.slice(1).map((e) => e.id),
    );
    expect((await allEvents(b.client)).map((e) => e.type)).toEqual(['customer.created']);
    expect((await a.client.get('/v1/events?type=Order')).statusCode).toBe(400);
    const reader = t.as(await t.token(a, ['customers:read']));
    expect((await reader.get('/v1/events')).statusCode).toBe(403);
    // the events carry personal data: webhooks:manage alone reads neither the feed nor subscriptions
    const manager = t.as(await t.token(a, ['webhooks:manage']));
    for (const res of [
      await manager.get('/v1/events'),
      await manager.post('/v1/webhooks', { url: 'https://example.com/hook', events: ['*'] }),
    ]) {
      expect(res.statusCode).toBe(403);
      expect(res.json().requiredScopes).toEqual(['webhooks:manage', 'customers:pii']);
    }
    const allowed = t.as(await t.token(a, ['webhooks:manage', 'customers:pii']));
    expect((await allowed.get('/v1/events')).statusCode).toBe(200);
  });

  it('never lets a poller pass an event whose transaction commits after a later one', async () => {
    const a = await t.newTenant();
    const deps = { db: t.db, cursors: new Cursors(TEST_CURSOR_SECRET), clock: { now: () => new Date() } };
    const patient = new EventsService({ ...deps, eventsSettleMs: 15_000 });
    const hurried = new EventsService({ ...deps, eventsSettleMs: 50 });
    const actor = { sub: 'poller', tenantId: a.id, scopes: new Set<string>(), segments: null };
    const feed = async (service: EventsService, after?: string) =>
      (await service.list(actor, { after }, 10)).data.map((e) => (e.data as { n: number }).n);
    const emit = (tx: Tx, n: number) => patient.emit(tx, a.id, [{ type: 'customer.updated', data: { n } }]);

    // T1 writes event 1 (the earlier id) and stays open; T2 writes event 2 and commits
    const t1 = held(a.id, (tx) => emit(tx, 1));
    await t1.written;
    await t.db.withTenant(a.id, (tx) => emit(tx, 2));
    // by ids alone a poller would now get [2], then ask after 2 and never see 1
    expect(await feed(hurried)).toEqual([]);
    const polling = feed(patient);
    t1.end(true);
    await t1.done;
    expect(await polling).toEqual([1, 2]);

    // a transaction that rolls back holds the feed only while it runs
    const t3 = held(a.id, (tx) => emit(tx, 3));
    await t3.written;
    await t.db.withTenant(a.id, (tx) => emit(tx, 4));
    const [, second] = (await patient.list(actor, {}, 2)).data;
    const later = feed(patient, second!.id);
    t3.end(false);
    await t3.done.catch(() => undefined);
    expect(await later).toEqual([4]);

    // an `after` that names no event (pruned, say) starts after its id; so does a cursor issued
    // before the feed was ordered by transaction, which held a bare event id
    const all = (await patient.list(actor, {}, 10)).data;
    expect(all.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 4]);
    expect(await feed(patient, idFloor(new Date(Date.now() - 86_400_000)))).toEqual([1, 2, 4]);
    expect(await feed(patient, idFloor(new Date(Date.now() + 86_400_000)))).toEqual([]);
    const scope = { tenantId: a.id, list: 'events', filters: {} };
    const old = deps.cursors.encode(scope, all[0]!.id);
    expect((await patient.list(actor, {}, 10, old)).data.map((e) => e.id)).toEqual(
      all.slice(1).map((e) => e.id),
    );
  });

  it('at the head of a busy feed, serves the settled events at once rather than waiting for the open ones', async () => {
    const a = await t.newTenant();
    const deps = { db: t.db, cursors: new Cursors(TEST_CURSOR_SECRET), clock: { now: () => new Date() } };
    // a minute of patience: a poll that waited for the open transaction would outlive the test
    const patient = new EventsService({ ...deps, eventsSettleMs: 60_000 });
    const actor = { sub: 'poller', tenantId: a.id, scopes: new Set<string>(), segments: null };
    const emit = (tx: Tx, n: number) => patient.emit(tx, a.id, [{ type: 'customer.updated', data: { n } }]);
    // 1 is settled; 2's transaction is still open, so 3, committed after it, is not settled yet
    await t.db.withTenant(a.id, (tx) => emit(tx, 1));
    const open = held(a.id, (tx) => emit(tx, 2));
    await open.written;
    try {
      await t.db.withTenant(a.id, (tx) => emit(tx, 3));
      const page = await patient.list(actor, {}, 10);
      expect(page.data.map((e) => (e.data as { n: number }).n)).toEqual([1]);
      expect(page.nextCursor).toBeNull();
    } finally {
      open.end(true);
      await open.done;
    }
    const after = (await patient.list(actor, {}, 10)).data;
    expect(after.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3]);
  });

  it('keeps events for the retention period after they are written, whatever time they are about', async () => {
    const tenant = await t.newTenant();
    now = new Date();
    const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);
    // written 35 and 11 days ago (their ids say when), and one written now about a time long past
    const rows = [
      { id: v7({ msecs: daysAgo(35).getTime() }), occurredAt: daysAgo(35), data: { n: 35 } },
      { id: v7({ msecs: daysAgo(11).getTime() }), occurredAt: daysAgo(11), data: { n: 11 } },
      { id: v7(), occurredAt: new Date('2024-03-01T00:00:00Z'), data: { n: 0 } },
    ];
    await t.db.withTenant(tenant.id, (tx) =>
      tx
        .insert(events)
        .values(rows.map((r) => ({ ...r, tenantId: tenant.id, type: 'customer.updated', version: 1 }))),
    );
    await tasksOf(t.app.services)[EVENTS_PRUNE_TASK]!({});
    expect((await allEvents(tenant.client)).map((e) => e.data.n)).toEqual([11, 0]);
  });
});
