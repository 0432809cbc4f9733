import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRunsService } from '../src/modules/jobs/jobs.service.ts';
import { ScoresService } from '../src/modules/scores/scores.service.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { complaintBody, newCustomer, orderBody } from './helpers/factories.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2025-01-10T12:00:00.000Z');
let now = new Date(T0);
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock: { now: () => now } });
});
afterAll(() => t.close());

const at = (days: number) => new Date(T0 + days * DAY);
const buy = (customerId: string, day: number) =>
  orderBody({ customerId, placedAt: at(day).toISOString(), sourceUpdatedAt: at(day).toISOString() });

describe('status transitions with a controlled clock (recency rules: at risk after 180 days, inactive after 365)', () => {
  it('first order, lapse, inactivity, reactivation; recovery after a complaint', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const scores = t.app.services.scores;
    const lapsing = await newCustomer(client);
    const complaining = await newCustomer(client);
    now = at(0);
    expect((await client.post('/v1/orders', buy(lapsing.id, -1))).statusCode).toBe(201);
    expect((await client.post('/v1/orders', buy(complaining.id, -1))).statusCode).toBe(201);
    await scores.recompute(tenantId);
    expect((await client.get(`/v1/customers/${lapsing.id}`)).json()).toMatchObject({
      status: 'active',
      lifecyclePhase: 'acquisition',
    });

    now = at(200);
    await scores.recompute(tenantId);
    expect((await client.get(`/v1/customers/${lapsing.id}`)).json().status).toBe('at_risk');
    // the complaint, then a purchase: kept after a complaint
    expect(
      (
        await client.post(
          '/v1/interactions',
          complaintBody(complaining.id, { occurredAt: at(200).toISOString() }),
        )
      ).statusCode,
    ).toBe(201);
    now = at(201);
    expect((await client.post('/v1/orders', buy(complaining.id, 201))).statusCode).toBe(201);
    await scores.refresh(tenantId);

    now = at(400);
    await scores.recompute(tenantId);
    expect((await client.get(`/v1/customers/${lapsing.id}`)).json()).toMatchObject({
      status: 'inactive',
      lifecyclePhase: 'recovery',
    });

    now = at(401);
    expect((await client.post('/v1/orders', buy(lapsing.id, 401))).statusCode).toBe(201);
    const refreshed = await scores.refresh(tenantId);
    expect(refreshed.customers).toBe(1);
    expect((await client.get(`/v1/customers/${lapsing.id}`)).json()).toMatchObject({
      status: 'active',
      lifecyclePhase: 'retention',
    });

    const history = (await client.get(`/v1/customers/${lapsing.id}/status-history`)).json().data;
    expect(history.map((h: any) => [h.fromStatus, h.toStatus, h.toPhase, h.reason, h.changedAt])).toEqual([
      ['potential', 'active', 'acquisition', 'first_order', at(-1).toISOString()],
      ['active', 'at_risk', 'acquisition', 'silence', at(200).toISOString()],
      ['at_risk', 'inactive', 'recovery', 'inactivity', at(400).toISOString()],
      ['inactive', 'active', 'retention', 'reactivated', at(401).toISOString()],
    ]);
    const lapsed = (await client.get(`/v1/customers/${lapsing.id}/scores`)).json();
    expect(lapsed.sixR.reactivation).toEqual({ times: 1 });

    const kept = (await client.get(`/v1/customers/${complaining.id}/status-history`)).json().data;
    expect(kept.find((h: any) => h.reason === 'recovered')).toMatchObject({
      fromStatus: 'at_risk',
      toStatus: 'active',
      changedAt: at(201).toISOString(),
    });
    const recovered = (await client.get(`/v1/customers/${complaining.id}/scores`)).json();
    expect(recovered.sixR.recovery).toEqual({ complaints: 1, recovered: 1 });

    // each change is an event too
    const events = (await client.get('/v1/events?type=customer.status_changed&limit=100')).json().data;
    expect(events.map((e: any) => `${e.data.customerId}:${e.data.reason}`)).toEqual(
      expect.arrayContaining([
        `${lapsing.id}:silence`,
        `${lapsing.id}:reactivated`,
        `${complaining.id}:recovered`,
      ]),
    );

    // the lifecycle insight counts the flows of the period
    const flows = (
      await client.get(`/v1/insights/lifecycle?from=${at(-2).toISOString()}&to=${at(402).toISOString()}`)
    ).json();
    // at risk: both at day 200, and the complaining customer again at day 400 (199 days of silence)
    expect(flows.flows).toEqual({ acquired: 2, atRisk: 3, lapsed: 1, reactivated: 1, recovered: 1 });
    expect(flows.current).toEqual([
      { status: 'active', lifecyclePhase: 'retention', customers: 1 },
      { status: 'at_risk', lifecyclePhase: 'retention', customers: 1 },
    ]);
  });
});

describe('a change of the rules, not a purchase', () => {
  it('moves customers out of inactive or at risk without counting a reactivation', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const scores = t.app.services.scores;
    const quiet = await newCustomer(client);
    const risky = await newCustomer(client);
    now = at(0);
    expect((await client.post('/v1/orders', buy(quiet.id, 0))).statusCode).toBe(201);
    expect((await client.post('/v1/orders', buy(risky.id, 200))).statusCode).toBe(201);
    now = at(400);
    await scores.recompute(tenantId);
    expect((await client.get(`/v1/customers/${quiet.id}`)).json().status).toBe('inactive');
    expect((await client.get(`/v1/customers/${risky.id}`)).json().status).toBe('at_risk');

    // looser rules: inactive only after 500 days, at risk only after 300
    const rules = {
      atRiskAfterDays: 300,
      inactiveAfterDays: 500,
      atRiskProbability: 0.3,
      atRiskGapMultiple: 3,
    };
    expect((await client.patch('/v1/settings', { scores: { status: rules } })).statusCode).toBe(200);
    await scores.recompute(tenantId);
    const reasons = async (id: string) =>
      (await client.get(`/v1/customers/${id}/status-history`)).json().data.map((h: any) => h.reason);
    expect(await reasons(quiet.id)).toEqual(['first_order', 'inactivity', 'silence']);
    expect(await reasons(risky.id)).toEqual(['first_order', 'silence', 'reassessed']);
    expect((await client.get(`/v1/customers/${quiet.id}/scores`)).json().sixR.reactivation).toEqual({
      times: 0,
    });
    const flows = (
      await client.get(`/v1/insights/lifecycle?from=${at(399).toISOString()}&to=${at(401).toISOString()}`)
    ).json().flows;
    expect(flows).toMatchObject({ reactivated: 0, recovered: 0 });

    // a purchase afterwards is a reactivation
    now = at(401);
    expect(
      (await client.patch('/v1/settings', { scores: { status: { ...rules, inactiveAfterDays: 365 } } }))
        .statusCode,
    ).toBe(200);
    await scores.recompute(tenantId);
    expect((await client.get(`/v1/customers/${quiet.id}`)).json().status).toBe('inactive');
    expect((await client.post('/v1/orders', buy(quiet.id, 401))).statusCode).toBe(201);
    await scores.refresh(tenantId);
    expect((await reasons(quiet.id)).at(-1)).toBe('reactivated');
    expect((await client.get(`/v1/customers/${quiet.id}/scores`)).json().sixR.reactivation).toEqual({
      times: 1,
    });
  });
});

describe('an order placed a little ahead of the clock (up to five minutes is accepted)', () => {
  it('is a purchase of the day: the refresh and the full recompute agree, and it reactivates', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const scores = t.app.services.scores;
    const ahead = (minutes: number) => new Date(now.getTime() + minutes * 60_000).toISOString();
    const early = await newCustomer(client);
    const back = await newCustomer(client);
    now = at(0);
    expect((await client.post('/v1/orders', buy(back.id, 0))).statusCode).toBe(201);
    now = at(400);
    await scores.recompute(tenantId);
    expect((await client.get(`/v1/customers/${back.id}`)).json().status).toBe('inactive');

    for (const c of [early, back]) {
      const body = orderBody({ customerId: c.id, placedAt: ahead(2), sourceUpdatedAt: ahead(2) });
      expect((await client.post('/v1/orders', body)).statusCode).toBe(201);
    }
    await scores.refresh(tenantId);
    // the raw values and the status (quintiles and tier are placed against the last recompute's
    // distributions between recomputes, so those may move when it runs)
    const pick = (b: any) => ({
      recencyDays: b.rfm.recencyDays,
      frequency: b.rfm.frequency,
      monetary: b.rfm.monetary,
      x: b.model.inputs?.x ?? null,
      status: b.status.status,
    });
    const body = (await client.get(`/v1/customers/${early.id}/scores`)).json();
    const refreshed = pick(body);
    expect(refreshed).toMatchObject({ recencyDays: 0, frequency: 1, status: 'active' });
    // placed, not left out (it was: its purchase day was not counted while the order was ahead)
    expect([body.rfm.r, body.rfm.f, body.rfm.m, body.value.tier].every((v) => v !== null)).toBe(true);
    expect((await client.get(`/v1/customers/${back.id}`)).json().status).toBe('active');
    const history = (await client.get(`/v1/customers/${back.id}/status-history`)).json().data;
    expect(history.at(-1)).toMatchObject({
      fromStatus: 'inactive',
      toStatus: 'active',
      reason: 'reactivated',
    });

    await scores.recompute(tenantId);
    expect(pick((await client.get(`/v1/customers/${early.id}/scores`)).json())).toEqual(refreshed);
  });
});

describe('the nightly recompute', () => {
  it('runs once a local day, after the tenant’s nightlyAt in its time zone', async () => {
    const { id: tenantId, client } = await t.newTenant();
    expect(
      (
        await client.patch('/v1/settings', {
          timezone: 'America/Mexico_City',
          scores: { nightlyAt: '02:30' },
        })
      ).statusCode,
    ).toBe(200);
    const scores = t.app.services.scores;
    // a tenant that never had a nightly run has one at the next tick
    now = new Date('2026-03-10T07:45:00.000Z');
    expect(await scores.nightly([tenantId])).toEqual([tenantId]);
    // 08:00 UTC is 02:00 in Mexico City: that run stands for the night before; today's is not due yet
    now = new Date('2026-03-10T08:00:00.000Z');
    expect(await scores.nightly([tenantId])).toEqual([]);
    now = new Date('2026-03-10T08:45:00.000Z');
    expect(await scores.nightly([tenantId])).toEqual([tenantId]);
    expect((await client.get('/v1/scores/model')).json().recomputedAt).toBe('2026-03-10T08:45:00.000Z');
    // the same local day: done already
    now = new Date('2026-03-10T20:00:00.000Z');
    expect(await scores.nightly([tenantId])).toEqual([]);
    // an on-demand recompute (without a refit) after the next night's time (02:40 local) does not
    // stand in for that night's run
    now = new Date('2026-03-11T08:40:00.000Z');
    await scores.recompute(tenantId, { refit: false });
    now = new Date('2026-03-11T09:00:00.000Z');
    expect(await scores.nightly([tenantId])).toEqual([tenantId]);
  });

  it('runs a nightlyAt after the day’s last quarter-hour tick at the first tick of the next day, once', async () => {
    const { id: tenantId, client } = await t.newTenant();
    expect(
      (await client.patch('/v1/settings', { timezone: 'UTC', scores: { nightlyAt: '23:50' } })).statusCode,
    ).toBe(200);
    const scores = t.app.services.scores;
    now = new Date('2026-04-01T12:00:00.000Z');
    expect(await scores.nightly([tenantId])).toEqual([tenantId]); // the first, at once
    const runs: string[] = [];
    // the worker's crontab: every 15 minutes, for three days
    for (let tick = 1; tick <= 4 * 24 * 3; tick++) {
      now = new Date(Date.parse('2026-04-01T12:00:00.000Z') + tick * 15 * 60_000);
      if ((await scores.nightly([tenantId])).length) runs.push(now.toISOString());
    }
    expect(runs).toEqual([
      '2026-04-02T00:00:00.000Z',
      '2026-04-03T00:00:00.000Z',
      '2026-04-04T00:00:00.000Z',
    ]);
  });
});

describe('the nightly recompute, when one tenant fails', () => {
  it('runs for the others, and reports the one that failed', async () => {
    const failing = await t.newTenant();
    const other = await t.newTenant();
    const scores = t.app.services.scores;
    const recompute = scores.recompute;
    now = new Date('2026-04-01T12:00:00.000Z');
    scores.recompute = (tenantId, options) =>
      tenantId === failing.id
        ? Promise.reject(new Error('broken'))
        : recompute.call(scores, tenantId, options);
    try {
      await expect(scores.nightly([failing.id, other.id])).rejects.toThrow(
        `the nightly recompute failed for ${failing.id}; it ran for the 1 other tenant(s)`,
      );
    } finally {
      scores.recompute = recompute;
    }
    expect((await other.client.get('/v1/scores/model')).json().recomputedAt).toBe(now.toISOString());
    expect((await failing.client.get('/v1/scores/model')).json().recomputedAt).toBeNull();
    // the failed one is tried again at the next tick, the other is done for the day
    now = new Date('2026-04-01T12:15:00.000Z');
    expect(await scores.nightly([failing.id, other.id])).toEqual([failing.id]);
  });
});

describe('the refresh after a recompute that saw no buyer', () => {
  it('is a full recompute: the first buyers are ranked against each other, not each placed first', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const scores = t.app.services.scores;
    now = at(0);
    const buyers: { id: string }[] = [];
    for (let k = 0; k < 5; k++) buyers.push(await newCustomer(client));
    await scores.recompute(tenantId);
    for (const [k, c] of buyers.entries())
      for (let n = 0; n <= k; n++)
        expect((await client.post('/v1/orders', buy(c.id, -1 - n))).statusCode).toBe(201);
    await scores.refresh(tenantId);
    const view = async () =>
      Promise.all(
        buyers.map(async (c) => {
          const s = (await client.get(`/v1/customers/${c.id}/scores`)).json();
          return { f: s.rfm.f, score: s.value.score, tier: s.value.tier };
        }),
      );
    const refreshed = await view();
    expect(refreshed.map((s) => s.f)).toEqual([1, 2, 3, 4, 5]);
    expect(refreshed.filter((s) => s.tier === 'vip')).toHaveLength(1);
    await scores.recompute(tenantId);
    expect(await view()).toEqual(refreshed);
  });
});

describe('a customer back to potential who buys again', () => {
  it('is recorded active again after the change to potential, even when the order that counts is older', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const c = await newCustomer(client);
    now = at(0);
    const first = buy(c.id, -1);
    expect((await client.post('/v1/orders', first)).statusCode).toBe(201);
    // the order is refunded in full: the customer is potential again, at day 10
    now = at(10);
    const refund = await client.post('/v1/orders', {
      ...first,
      status: 'refunded',
      refunded: first.total,
      sourceUpdatedAt: at(10).toISOString(),
    });
    expect(refund.statusCode, refund.body).toBe(200);
    await t.app.services.scores.refresh(tenantId);
    expect((await client.get(`/v1/customers/${c.id}`)).json().status).toBe('potential');
    // an import brings an order from the year before
    now = at(11);
    expect((await client.post('/v1/orders', buy(c.id, -300))).statusCode).toBe(201);
    const history = (await client.get(`/v1/customers/${c.id}/status-history`)).json().data as {
      toStatus: string;
      changedAt: string;
    }[];
    expect(history.map((h) => h.toStatus)).toEqual(['active', 'potential', 'active']);
    const [, back, again] = history;
    expect(Date.parse(again!.changedAt)).toBeGreaterThanOrEqual(Date.parse(back!.changedAt));
    expect((await client.get(`/v1/customers/${c.id}`)).json().status).toBe('active');
  });
});

/** The app's scores service, its job runs followed by `jobRuns` instead (to hold or watch a run). */
function scoresFollowedBy(jobRuns: Pick<JobRunsService, 'running' | 'progress' | 'finish'>) {
  const services = t.app.services;
  return new ScoresService({
    db: t.db,
    clock: { now: () => now },
    tenants: services.tenants,
    customers: services.customers,
    events: services.events,
    jobRuns: jobRuns as JobRunsService,
  });
}

describe('a purchase while a full recompute runs', () => {
  it('is not recorded as a lapse and a reactivation: the buyer moves at the refresh, from the new order', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const c = await newCustomer(client);
    now = at(0);
    expect((await client.post('/v1/orders', buy(c.id, -1))).statusCode).toBe(201);
    await t.app.services.scores.recompute(tenantId);
    expect((await client.get(`/v1/customers/${c.id}`)).json().status).toBe('active');
    // a recompute 400 days on would find the customer inactive; it is held once its features are read
    let featuresRead: () => void = () => {};
    const read = new Promise<void>((resolve) => {
      featuresRead = resolve;
    });
    let goOn: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      goOn = resolve;
    });
    const jobRuns = {
      running: async () => {},
      finish: async () => {},
      progress: async (_tenant: string, _run: string | undefined, p: { done: number }) => {
        if (p.done !== 1) return;
        featuresRead();
        await gate;
      },
    };
    const services = t.app.services;
    const gated = scoresFollowedBy(jobRuns);
    now = at(400);
    const recompute = gated.recompute(tenantId, { runId: 'held' });
    await read;
    expect((await client.post('/v1/orders', buy(c.id, 400))).statusCode).toBe(201);
    goOn();
    await recompute;
    await services.scores.refresh(tenantId);
    const reasons = (await client.get(`/v1/customers/${c.id}/status-history`))
      .json()
      .data.map((h: { toStatus: string }) => h.toStatus);
    expect(reasons).not.toContain('inactive');
    expect((await client.get(`/v1/customers/${c.id}`)).json().status).toBe('active');
  });

  it('a listener failing after the recompute committed leaves its run recorded as done', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const c = await newCustomer(client);
    now = at(0);
    expect((await client.post('/v1/orders', buy(c.id, -1))).statusCode).toBe(201);
    const finished: unknown[] = [];
    const jobRuns = {
      running: async () => {},
      progress: async () => {},
      finish: async (_tenant: string, _run: string | undefined, outcome: unknown) => {
        finished.push(outcome);
      },
    };
    const scores = scoresFollowedBy(jobRuns);
    scores.onRecomputed(async () => {
      throw new Error('the queue is away');
    });
    await expect(scores.recompute(tenantId, { runId: 'r' })).rejects.toThrow('the queue is away');
    expect(finished).toEqual([{ result: expect.objectContaining({ customers: 1 }) }]);
  });
});
