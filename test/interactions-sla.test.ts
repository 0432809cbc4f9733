import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLA_SWEEP_TASK, tasksOf } from '../src/modules/services.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';

let now = new Date('2026-06-20T12:00:00.000Z');
const clock = { now: () => now };
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(() => t.close());

const HOUR = 3_600_000;
const plus = (from: Date, hours: number) => new Date(from.getTime() + hours * HOUR);
const DEFAULT_SLA = {
  complaint: { firstResponseHours: 24, resolutionHours: 72 },
  claim: { firstResponseHours: 24, resolutionHours: 120 },
  suggestion: { firstResponseHours: 72, resolutionHours: 336 },
  inquiry: { firstResponseHours: 24, resolutionHours: 72 },
};

const inbound = (customerId: string, type: string, extra: Record<string, unknown> = {}) => ({
  customerId,
  channel: 'email',
  direction: 'inbound',
  type,
  ...extra,
});

async function create(client: Client, body: Record<string, unknown>) {
  const res = await client.post('/v1/interactions', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as Record<string, any> & { id: string };
}

async function move(client: Client, id: string, body: Record<string, unknown>, at?: Date) {
  if (at) now = at;
  const res = await client.post(`/v1/interactions/${id}/transitions`, body);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().case as Record<string, any>;
}

async function reply(client: Client, id: string, occurredAt: string) {
  const res = await client.post(`/v1/interactions/${id}/replies`, { body: 'Respuesta', occurredAt });
  expect(res.statusCode, res.body).toBe(201);
}

const pathsOf = (res: LightMyRequestResponse) => res.json().errors.map((e: { path: string }) => e.path);
const resolve = { to: 'resolved', resolution: { outcome: 'resolved' } };

describe('SLA settings', () => {
  it('refuses inconsistent service levels with the path of the field, storing nothing', async () => {
    const { client } = await t.newTenant();
    const cases: [Record<string, unknown>, string][] = [
      [{ complaint: { firstResponseHours: 48, resolutionHours: 24 } }, 'sla.complaint.firstResponseHours'],
      [{ claim: { firstResponseHours: 0, resolutionHours: 10 } }, 'sla.claim.firstResponseHours'],
      [{ inquiry: { firstResponseHours: 2, resolutionHours: 0 } }, 'sla.inquiry.resolutionHours'],
      [{ inquiry: { firstResponseHours: 1.5, resolutionHours: 10 } }, 'sla.inquiry.firstResponseHours'],
      [{ suggestion: { firstResponseHours: 2 } }, 'sla.suggestion.resolutionHours'],
      [{ praise: { firstResponseHours: 1, resolutionHours: 2 } }, 'sla.praise'],
    ];
    for (const [sla, path] of cases) {
      const res = await client.patch('/v1/settings', { sla });
      expect(res.statusCode, JSON.stringify(sla)).toBe(400);
      expect(res.json().code).toBe('validation_failed');
      expect(pathsOf(res), JSON.stringify(sla)).toContain(path);
    }
    expect((await client.get('/v1/settings')).json().sla).toEqual(DEFAULT_SLA);
    const writer = t.as(await t.token(await t.newTenant(), ['interactions:write', 'interactions:read']));
    expect((await writer.patch('/v1/settings', { sla: DEFAULT_SLA })).statusCode).toBe(403);
  });

  it('applies a changed SLA to cases opened afterwards only', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const t0 = new Date('2026-06-01T09:00:00.000Z');
    now = t0;
    const before = await create(client, inbound(customer.id, 'complaint'));
    expect(before.case).toMatchObject({
      firstResponseDueAt: plus(t0, 24).toISOString(),
      dueAt: plus(t0, 72).toISOString(),
    });
    const changed = await client.patch('/v1/settings', {
      sla: { complaint: { firstResponseHours: 4, resolutionHours: 8 } },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json().sla).toEqual({
      ...DEFAULT_SLA,
      complaint: { firstResponseHours: 4, resolutionHours: 8 },
    });
    now = plus(t0, 1);
    const after = await create(client, inbound(customer.id, 'complaint'));
    const claim = await create(client, inbound(customer.id, 'claim'));
    expect(after.case).toMatchObject({
      firstResponseDueAt: plus(t0, 5).toISOString(),
      dueAt: plus(t0, 9).toISOString(),
    });
    expect(claim.case).toMatchObject({ dueAt: plus(t0, 121).toISOString() });
    expect((await client.get(`/v1/interactions/${before.id}`)).json().case).toMatchObject({
      firstResponseDueAt: plus(t0, 24).toISOString(),
      dueAt: plus(t0, 72).toISOString(),
      slaBreached: false,
    });
    // the due time runs from when it happened, not from when it was recorded
    const backdated = await create(
      client,
      inbound(customer.id, 'complaint', { occurredAt: plus(t0, -2).toISOString() }),
    );
    expect(backdated.case).toMatchObject({ dueAt: plus(t0, 6).toISOString(), slaBreached: false });
  });
});

describe('resolution against the SLA', () => {
  it('marks a case resolved after its due time as breached, and one resolved in time as not', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const t0 = new Date('2026-06-01T09:00:00.000Z');
    now = t0;
    const inTime = await create(client, inbound(customer.id, 'complaint'));
    const late = await create(client, inbound(customer.id, 'complaint'));
    await reply(client, inTime.id, plus(t0, 1).toISOString());
    await reply(client, late.id, plus(t0, 1).toISOString());
    expect(await move(client, inTime.id, resolve, plus(t0, 71))).toMatchObject({
      status: 'resolved',
      resolvedAt: plus(t0, 71).toISOString(),
      slaBreached: false,
    });
    expect(await move(client, late.id, resolve, plus(t0, 73))).toMatchObject({
      status: 'resolved',
      resolvedAt: plus(t0, 73).toISOString(),
      slaBreached: true,
    });
    // closing later changes nothing: the resolution came in time
    expect(await move(client, inTime.id, { to: 'closed' }, plus(t0, 200))).toMatchObject({
      status: 'closed',
      closedAt: plus(t0, 200).toISOString(),
      slaBreached: false,
    });
    expect((await client.get(`/v1/interactions/${late.id}`)).json().case.slaBreached).toBe(true);
  });

  it('keeps a case resolved in time (without a separate reply) unbreached when it is closed later', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const t0 = new Date('2026-06-02T09:00:00.000Z');
    now = t0;
    const quick = await create(client, inbound(customer.id, 'inquiry'));
    expect(await move(client, quick.id, resolve, plus(t0, 2))).toMatchObject({
      status: 'resolved',
      slaBreached: false,
    });
    // nothing happened between the resolution (2 h, inside both deadlines) and the closing
    expect(await move(client, quick.id, { to: 'closed' }, plus(t0, 100))).toMatchObject({
      status: 'closed',
      slaBreached: false,
    });
    // and the voice insight counts it answered on time, as the case does
    const voice = (await client.get(`/v1/insights/voice?from=${plus(t0, -1).toISOString()}`)).json();
    expect(voice).toMatchObject({ cases: 1, answeredWithinSla: 1 });
  });
});

describe('the first response', () => {
  it('is the resolution when no reply came before it, and stays when the case is reopened', async () => {
    const { client, id: tenantId } = await t.newTenant();
    const customer = await newCustomer(client);
    const t0 = new Date('2026-06-03T09:00:00.000Z');
    now = t0;
    const c = await create(client, inbound(customer.id, 'complaint'));
    expect(await move(client, c.id, resolve, plus(t0, 2))).toMatchObject({
      firstResponseAt: plus(t0, 2).toISOString(),
      slaBreached: false,
    });
    // reopened after the first-response due time (24 h) but inside the resolution's (72 h)
    expect(await move(client, c.id, { to: 'reopened' }, plus(t0, 30))).toMatchObject({
      status: 'reopened',
      firstResponseAt: plus(t0, 2).toISOString(),
      slaBreached: false,
    });
    expect(await t.app.services.interactions.markBreaches(tenantId)).toBe(0);
    expect((await client.get(`/v1/interactions/${c.id}`)).json().case.slaBreached).toBe(false);
  });

  it('is the earliest reply, whatever the order the replies are recorded in', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const t0 = new Date('2026-06-04T09:00:00.000Z');
    now = plus(t0, 40);
    const c = await create(client, inbound(customer.id, 'complaint', { occurredAt: t0.toISOString() }));
    await reply(client, c.id, plus(t0, 30).toISOString());
    // a reply sent in time (by phone, say) recorded after a later one
    await reply(client, c.id, plus(t0, 3).toISOString());
    expect((await client.get(`/v1/interactions/${c.id}`)).json().case).toMatchObject({
      firstResponseAt: plus(t0, 3).toISOString(),
    });
  });
});

describe('the SLA sweep', () => {
  it('changes the ETag of a case it marks as breached', async () => {
    const { client, id: tenantId } = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date('2026-06-01T09:00:00.000Z');
    const created = await client.post('/v1/interactions', inbound(customer.id, 'complaint'));
    const url = `/v1/interactions/${created.json().id}`;
    const before = await client.get(url);
    expect(before.json().case.slaBreached).toBe(false);
    now = new Date('2026-06-02T09:00:01.000Z');
    expect(await t.app.services.interactions.markBreaches(tenantId)).toBe(1);
    const after = await client.get(url);
    expect(after.json().case.slaBreached).toBe(true);
    // the representation changed, so must its (strong) ETag, or caches and If-None-Match serve the old one
    expect(after.headers.etag).not.toBe(before.headers.etag);
  });
});

describe('GET /v1/insights/voice', () => {
  it('computes the numbers of a hand-built data set', async () => {
    const { client } = await t.newTenant(); // Europe/Madrid
    const customer = (await newCustomer(client)).id;
    const at = (s: string) => new Date(s);
    now = at('2026-06-20T12:00:00.000Z');
    // c1: 22:30 UTC on 30 April is 00:30 on 1 May in Madrid; replied after 2 h, resolved after 48 h
    const c1 = await create(client, inbound(customer, 'complaint', { occurredAt: '2026-04-30T22:30:00Z' }));
    // c2: replied after 30 h (late), resolved after 96 h
    const c2 = await create(
      client,
      inbound(customer, 'complaint', { channel: 'phone', occurredAt: '2026-05-10T10:00:00Z' }),
    );
    // c3: replied after 10 h, still in progress, 19 days old
    const c3 = await create(client, inbound(customer, 'inquiry', { occurredAt: '2026-06-01T10:00:00Z' }));
    // c4: no reply, overdue since 16 June 12:00, 5 days old
    await create(client, inbound(customer, 'claim', { channel: 'chat', occurredAt: '2026-06-15T12:00:00Z' }));
    // c5: no reply, not yet due (72 h), 36 h old
    await create(
      client,
      inbound(customer, 'suggestion', { channel: 'web_form', occurredAt: '2026-06-19T00:00:00Z' }),
    );
    // c6: replied after 4 h, 6 h old
    const c6 = await create(client, inbound(customer, 'complaint', { occurredAt: '2026-06-20T06:00:00Z' }));
    // c7: no reply, not yet due, 16 h old
    await create(
      client,
      inbound(customer, 'inquiry', { channel: 'sms', occurredAt: '2026-06-19T20:00:00Z' }),
    );
    // not cases: inbound praise, outbound complaint (and the replies, outbound messages)
    await create(client, inbound(customer, 'praise', { occurredAt: '2026-06-02T10:00:00Z' }));
    await create(
      client,
      inbound(customer, 'complaint', { direction: 'outbound', occurredAt: '2026-06-03T10:00:00Z' }),
    );
    await reply(client, c1.id, '2026-05-01T00:30:00Z');
    await reply(client, c2.id, '2026-05-11T16:00:00Z');
    await reply(client, c3.id, '2026-06-01T20:00:00Z');
    await reply(client, c6.id, '2026-06-20T10:00:00Z');
    await move(client, c1.id, resolve, at('2026-05-02T22:30:00Z'));
    await move(client, c2.id, resolve, at('2026-05-14T10:00:00Z'));
    now = at('2026-06-20T12:00:00.000Z');

    const res = await client.get('/v1/insights/voice');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      cases: 7,
      byType: [
        { key: 'claim', cases: 1 },
        { key: 'complaint', cases: 3 },
        { key: 'inquiry', cases: 2 },
        { key: 'suggestion', cases: 1 },
      ],
      byChannel: [
        { key: 'chat', cases: 1 },
        { key: 'email', cases: 3 },
        { key: 'phone', cases: 1 },
        { key: 'sms', cases: 1 },
        { key: 'web_form', cases: 1 },
      ],
      byMonth: [
        { key: '2026-05', cases: 2 },
        { key: '2026-06', cases: 5 },
      ],
      // answered or overdue: c1, c2, c3, c6 (answered) and c4 (overdue) = 5; in time: c1, c3, c6 = 3
      answeredWithinSla: 0.6,
      // first replies 2, 4, 10, 30 h → (4 + 10) / 2; resolutions 48, 96 h → 72
      medianFirstResponseHours: 7,
      medianResolutionHours: 72,
      // open now: c6, c7 (<1d), c5 (1-3d), c4 (3-7d), c3 (>7d)
      openBacklog: [
        { age: '<1d', cases: 2 },
        { age: '1-3d', cases: 1 },
        { age: '3-7d', cases: 1 },
        { age: '>7d', cases: 1 },
      ],
    });

    // June only: c3..c7; answered or overdue c3, c4, c6, in time c3, c6 → 2/3; the backlog is always "now"
    const june = (
      await client.get('/v1/insights/voice?from=2026-06-01T00:00:00Z&to=2026-07-01T00:00:00Z')
    ).json();
    expect(june).toMatchObject({
      cases: 5,
      byMonth: [{ key: '2026-06', cases: 5 }],
      answeredWithinSla: 0.67,
      medianFirstResponseHours: 7,
      medianResolutionHours: null,
    });
    expect(june.openBacklog).toEqual(res.json().openBacklog);
    // a day later c7 is past its first-response time and c6 and c7 are a day old
    now = at('2026-06-21T21:00:00.000Z');
    expect((await client.get('/v1/insights/voice')).json()).toMatchObject({
      answeredWithinSla: 0.5, // 3 of 6
      openBacklog: [
        { age: '<1d', cases: 0 },
        { age: '1-3d', cases: 3 },
        { age: '3-7d', cases: 1 },
        { age: '>7d', cases: 1 },
      ],
    });
    const bad = await client.get('/v1/insights/voice?from=junio');
    expect(bad.statusCode).toBe(400);
    expect(pathsOf(bad)).toEqual(['querystring.from']);
    for (const insight of ['voice', 'satisfaction']) {
      const reversed = await client.get(
        `/v1/insights/${insight}?from=2026-07-01T00:00:00Z&to=2026-06-01T00:00:00Z`,
      );
      expect(reversed.statusCode, insight).toBe(400);
      expect(pathsOf(reversed)).toEqual(['querystring.from']);
    }
  });

  it('is empty for a tenant without cases', async () => {
    const { client } = await t.newTenant();
    expect((await client.get('/v1/insights/voice')).json()).toEqual({
      cases: 0,
      byType: [],
      byChannel: [],
      byMonth: [],
      answeredWithinSla: null,
      medianFirstResponseHours: null,
      medianResolutionHours: null,
      openBacklog: [
        { age: '<1d', cases: 0 },
        { age: '1-3d', cases: 0 },
        { age: '3-7d', cases: 0 },
        { age: '>7d', cases: 0 },
      ],
    });
  });
});

describe('the SLA sweep task, when one tenant fails', () => {
  it('marks the other tenants’ cases, and fails naming the one that failed', async () => {
    const failing = await t.newTenant();
    const other = await t.newTenant();
    now = new Date('2026-07-01T09:00:00.000Z');
    const late = await create(other.client, inbound((await newCustomer(other.client)).id, 'complaint'));
    now = new Date('2026-07-03T09:00:00.000Z');
    const { interactions, tenants } = t.app.services;
    const markBreaches = interactions.markBreaches;
    const allIds = tenants.allIds;
    // the failing tenant comes first: without isolation the other is never reached
    tenants.allIds = async () => [failing.id, other.id];
    interactions.markBreaches = (tenantId) =>
      tenantId === failing.id
        ? Promise.reject(new Error('broken'))
        : markBreaches.call(interactions, tenantId);
    try {
      await expect(tasksOf(t.app.services)[SLA_SWEEP_TASK]!({})).rejects.toThrow(
        `the SLA sweep failed for ${failing.id}; it ran for the 1 other tenant(s)`,
      );
    } finally {
      interactions.markBreaches = markBreaches;
      tenants.allIds = allIds;
    }
    expect((await other.client.get(`/v1/interactions/${late.id}`)).json().case.slaBreached).toBe(true);
  });
});
