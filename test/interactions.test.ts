import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLA_SWEEP_TASK, tasksOf } from '../src/modules/services.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { complaintBody, newCustomer } from './helpers/factories.ts';

let now = new Date('2026-11-20T19:00:00.000Z'); // a Friday evening
const clock = { now: () => now };
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(() => t.close());

describe('cases and SLAs (calendar hours)', () => {
  it('a complaint on Friday evening with a 24 h first-response SLA is due Saturday evening; a reply inside it is on time', async () => {
    const { client } = await t.newTenant();
    const settings = await client.patch('/v1/settings', {
      sla: { complaint: { firstResponseHours: 24, resolutionHours: 72 } },
    });
    expect(settings.statusCode, settings.body).toBe(200);
    const customer = await newCustomer(client);
    now = new Date('2026-11-20T19:00:00.000Z');
    const created = await client.post('/v1/interactions', complaintBody(customer.id));
    expect(created.statusCode, created.body).toBe(201);
    const c = created.json().case;
    expect(c).toMatchObject({
      status: 'open',
      firstResponseDueAt: '2026-11-21T19:00:00.000Z',
      dueAt: '2026-11-23T19:00:00.000Z',
      slaBreached: false,
    });
    now = new Date('2026-11-21T18:59:00.000Z');
    const reply = await client.post(`/v1/interactions/${created.json().id}/replies`, {
      body: 'Lo sentimos, lo arreglamos.',
    });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json()).toMatchObject({
      direction: 'outbound',
      type: 'message',
      replyTo: created.json().id,
    });
    const after = (await client.get(`/v1/interactions/${created.json().id}`)).json().case;
    expect(after).toMatchObject({
      status: 'in_progress',
      firstResponseAt: '2026-11-21T18:59:00.000Z',
      slaBreached: false,
    });
    // the scheduled sweep (the worker's task, every tenant) finds nothing late: the reply was on time
    // and the resolution is not due yet
    now = new Date('2026-11-22T10:00:00.000Z');
    await tasksOf(t.app.services)[SLA_SWEEP_TASK]!({});
    expect((await client.get(`/v1/interactions/${created.json().id}`)).json().case.slaBreached).toBe(false);
  });

  it('no reply by the due time is a breach, marked by the sweep', async () => {
    const { client } = await t.newTenant();
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    const customer = await newCustomer(client);
    now = new Date('2026-11-20T19:00:00.000Z');
    const created = (await client.post('/v1/interactions', complaintBody(customer.id))).json();
    now = new Date('2026-11-21T19:00:01.000Z'); // one second after the default 24 h
    expect(await t.app.services.interactions.markBreaches(tenantId)).toBe(1);
    expect(await t.app.services.interactions.markBreaches(tenantId)).toBe(0); // once
    expect((await client.get(`/v1/interactions/${created.id}`)).json().case.slaBreached).toBe(true);
    // a late reply keeps it breached
    await client.post(`/v1/interactions/${created.id}/replies`, { body: 'Perdón por la demora' });
    expect((await client.get(`/v1/interactions/${created.id}`)).json().case).toMatchObject({
      slaBreached: true,
      status: 'in_progress',
    });
  });

  it('emits case.sla_breached once for each case, however it became breached', async () => {
    const { client } = await t.newTenant();
    const tenantId = (await client.get('/v1/settings')).json().tenantId;
    const customer = await newCustomer(client);
    now = new Date('2026-11-20T19:00:00.000Z');
    // recorded late: breached from the start
    const late = (
      await client.post('/v1/interactions', {
        ...complaintBody(customer.id),
        occurredAt: '2026-11-10T19:00:00.000Z',
      })
    ).json();
    expect(late.case.slaBreached).toBe(true);
    // replied after its first-response time, before any sweep
    const slow = (await client.post('/v1/interactions', complaintBody(customer.id))).json();
    now = new Date('2026-11-21T19:30:00.000Z');
    await client.post(`/v1/interactions/${slow.id}/replies`, { body: 'Perdón por la demora' });
    // found by the sweep
    const swept = (await client.post('/v1/interactions', complaintBody(customer.id))).json();
    expect(swept.case.slaBreached).toBe(false);
    now = new Date('2026-11-23T19:30:00.000Z');
    await t.app.services.interactions.markBreaches(tenantId);
    await t.app.services.interactions.markBreaches(tenantId);
    const events = (await client.get('/v1/events?type=case.sla_breached&limit=50')).json().data;
    expect(events.map((e: any) => e.data.interactionId).sort()).toEqual([late.id, slow.id, swept.id].sort());
  });

  it('only inbound complaints, claims, suggestions and inquiries open cases', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date();
    for (const type of ['claim', 'suggestion', 'inquiry']) {
      expect(
        (await client.post('/v1/interactions', complaintBody(customer.id, { type }))).json().case.status,
      ).toBe('open');
    }
    expect(
      (await client.post('/v1/interactions', complaintBody(customer.id, { type: 'praise' }))).json().case,
    ).toBeNull();
    expect(
      (await client.post('/v1/interactions', complaintBody(customer.id, { direction: 'outbound' }))).json()
        .case,
    ).toBeNull();
  });
});

describe('the case state machine', () => {
  const all = ['open', 'in_progress', 'resolved', 'closed', 'reopened'] as const;
  const targets = ['in_progress', 'resolved', 'closed', 'reopened'] as const;
  // how to bring a new case to each status
  const paths: Record<string, string[]> = {
    open: [],
    in_progress: ['in_progress'],
    resolved: ['resolved'],
    closed: ['resolved', 'closed'],
    reopened: ['resolved', 'reopened'],
  };
  // the legal moves, written out (as the README lists them): the service's own table is not the oracle
  const LEGAL: Record<string, readonly string[]> = {
    open: ['in_progress', 'resolved'],
    in_progress: ['resolved'],
    resolved: ['closed', 'reopened'],
    closed: ['reopened'],
    reopened: ['in_progress', 'resolved'],
  };
  const body = (to: string) =>
    to === 'resolved' ? { to, resolution: { outcome: 'resolved', note: 'ok' } } : { to };

  it('allows every legal transition and refuses every illegal one with 409 naming the current status', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date();
    for (const from of all) {
      for (const to of targets) {
        const id = (await client.post('/v1/interactions', complaintBody(customer.id))).json().id;
        for (const step of paths[from]!) {
          expect((await client.post(`/v1/interactions/${id}/transitions`, body(step))).statusCode).toBe(200);
        }
        const res = await client.post(`/v1/interactions/${id}/transitions`, body(to));
        if (LEGAL[from]!.includes(to)) {
          expect(res.statusCode, `${from} → ${to}`).toBe(200);
          expect(res.json().case.status).toBe(to);
        } else {
          expect(res.statusCode, `${from} → ${to}`).toBe(409);
          expect(res.json()).toMatchObject({ code: 'case_transition_invalid', currentStatus: from });
          expect(res.json().detail).toContain(`the case is ${from}`);
          expect((await client.get(`/v1/interactions/${id}`)).json().case.status).toBe(from);
        }
      }
    }
  });

  it('resolving needs a resolution, and records it; reopening clears it', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const id = (await client.post('/v1/interactions', complaintBody(customer.id))).json().id;
    const missing = await client.post(`/v1/interactions/${id}/transitions`, { to: 'resolved' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().errors[0].path).toBe('resolution');
    now = new Date('2026-11-22T12:00:00.000Z');
    const resolved = await client.post(`/v1/interactions/${id}/transitions`, {
      to: 'resolved',
      resolution: { outcome: 'compensated', note: 'vale de 10 €' },
    });
    expect(resolved.json().case).toMatchObject({
      status: 'resolved',
      resolvedAt: '2026-11-22T12:00:00.000Z',
      resolution: { outcome: 'compensated', note: 'vale de 10 €' },
    });
    const reopened = (await client.post(`/v1/interactions/${id}/transitions`, { to: 'reopened' })).json()
      .case;
    expect(reopened).toMatchObject({ status: 'reopened', resolvedAt: null, resolution: null });
    const praise = (
      await client.post('/v1/interactions', complaintBody(customer.id, { type: 'praise' }))
    ).json();
    expect(
      (await client.post(`/v1/interactions/${praise.id}/transitions`, { to: 'in_progress' })).json().code,
    ).toBe('not_a_case');
  });
});

describe('the customer’s voice', () => {
  it('shows open cases and the last interaction time, in REST and GraphQL', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date();
    const a = (
      await client.post(
        '/v1/interactions',
        complaintBody(customer.id, { occurredAt: '2026-11-01T10:00:00Z' }),
      )
    ).json();
    const b = (
      await client.post(
        '/v1/interactions',
        complaintBody(customer.id, { type: 'inquiry', occurredAt: '2026-11-02T10:00:00Z' }),
      )
    ).json();
    await client.post(`/v1/interactions/${b.id}/transitions`, {
      to: 'resolved',
      resolution: { outcome: 'resolved' },
    });
    await client.post('/v1/interactions', {
      ...complaintBody(customer.id),
      type: 'note',
      direction: 'outbound',
      occurredAt: '2026-11-03T10:00:00Z',
    });
    const voice = (await client.get(`/v1/customers/${customer.id}/voice`)).json();
    expect(voice.openCaseCount).toBe(1);
    expect(voice.openCases.map((c: any) => c.id)).toEqual([a.id]);
    expect(voice.lastInteractionAt).toBe('2026-11-03T10:00:00.000Z');
    const { body } = await client.graphql(
      `{ customer(id: "${customer.id}") { openCases { id } lastInteractionAt } }`,
    );
    expect(body.data?.customer).toEqual({
      openCases: [{ id: a.id }],
      lastInteractionAt: '2026-11-03T10:00:00.000Z',
    });
  });
});

describe('feedback', () => {
  it('enforces the scales', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const base = { customerId: customer.id, expectation: 5, perception: 4 };
    for (const [field, value] of [
      ['expectation', 8],
      ['perception', 0],
      ['nps', 11],
      ['csat', 6],
      ['expectation', 4.5],
    ] as const) {
      const res = await client.post('/v1/feedback', { ...base, [field]: value });
      expect(res.statusCode, `${field} ${value}`).toBe(400);
      expect(res.json().errors[0].path).toBe(field);
    }
    expect((await client.post('/v1/feedback', { ...base, gap: 1 })).statusCode).toBe(400); // derived, never sent
    expect((await client.get(`/v1/feedback?customerId=${customer.id}`)).json().data).toHaveLength(0);
    const ok = await client.post('/v1/feedback', base);
    expect(ok.json()).toMatchObject({ gap: -1, dimension: 'overall' });
  });

  it('refuses feedback about another customer’s interaction or order, or one that does not exist', async () => {
    const { client } = await t.newTenant();
    const [ana, luis] = [await newCustomer(client), await newCustomer(client)];
    now = new Date();
    const interaction = (await client.post('/v1/interactions', complaintBody(luis.id))).json();
    const order = (
      await client.post('/v1/orders', {
        source: 'shop',
        externalId: 'fb-1',
        customerId: luis.id,
        placedAt: '2026-11-01T10:00:00Z',
        status: 'paid',
        total: { amount: 100, currency: 'EUR' },
      })
    ).json().order;
    const base = { customerId: ana.id, expectation: 5, perception: 5 };
    for (const [field, id, message] of [
      ['interactionId', interaction.id, 'belongs to another customer'],
      ['orderId', order.id, 'belongs to another customer'],
      ['orderId', '01936f0e-0000-7000-8000-0000000000aa', 'does not exist in this tenant'],
    ]) {
      const res = await client.post('/v1/feedback', { ...base, [field]: id });
      expect(res.statusCode, `${field}`).toBe(422);
      expect(res.json()).toMatchObject({ code: 'invalid_reference', errors: [{ path: field, message }] });
    }
    expect((await client.get(`/v1/feedback?customerId=${ana.id}`)).json().data).toEqual([]);
    const mine = await client.post('/v1/feedback', {
      ...base,
      customerId: luis.id,
      interactionId: interaction.id,
      orderId: order.id,
    });
    expect(mine.statusCode, mine.body).toBe(201);
  });

  it('computes the satisfaction insights of a hand-built data set', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    const rows = [
      { dimension: 'reliability', expectation: 6, perception: 4, nps: 10, csat: 5 },
      { dimension: 'reliability', expectation: 5, perception: 5, nps: 6, csat: 2 },
      { dimension: 'reliability', expectation: 7, perception: 6, nps: 8 },
      { dimension: 'empathy', expectation: 4, perception: 7, nps: 9, csat: 4 },
    ];
    for (const r of rows) {
      expect(
        (
          await client.post('/v1/feedback', {
            customerId: customer.id,
            occurredAt: '2026-10-10T10:00:00Z',
            ...r,
          })
        ).statusCode,
      ).toBe(201);
    }
    const res = (await client.get('/v1/insights/satisfaction?groupBy=dimension')).json();
    const reliability = res.groups.find((g: any) => g.key === 'reliability');
    // by hand: expectation (6+5+7)/3 = 6; perception (4+5+6)/3 = 5; gap (−2+0−1)/3 = −1
    // NPS: 1 promoter (10), 1 detractor (6), 1 passive (8) of 3 → 0; CSAT: 1 of 2 answers is 4–5 → 50 %
    expect(reliability).toMatchObject({
      responses: 3,
      meanExpectation: 6,
      meanPerception: 5,
      meanGap: -1,
      npsResponses: 3,
      nps: 0,
      csatResponses: 2,
      csat: 50,
      meanCsat: 3.5,
    });
    expect(res.groups.find((g: any) => g.key === 'empathy')).toMatchObject({
      meanGap: 3,
      nps: 100,
      csat: 100,
    });
    const byMonth = (await client.get('/v1/insights/satisfaction?groupBy=month')).json();
    expect(byMonth.groups).toEqual([expect.objectContaining({ key: '2026-10', responses: 4, nps: 25 })]);
  });
});

describe('the customer timeline', () => {
  it('interleaves orders, interactions, feedback and status changes newest first across pages', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date('2026-11-22T00:00:00Z');
    const at = (d: number) => `2026-11-${String(d).padStart(2, '0')}T10:00:00.000Z`;
    const order1 = (
      await client.post('/v1/orders', {
        source: 'shop',
        externalId: 'o1',
        customerId: customer.id,
        placedAt: at(1),
        status: 'paid',
        total: { amount: 1000, currency: 'EUR' },
      })
    ).json().order;
    const i1 = (
      await client.post('/v1/interactions', complaintBody(customer.id, { occurredAt: at(2) }))
    ).json();
    const f1 = (
      await client.post('/v1/feedback', {
        customerId: customer.id,
        expectation: 5,
        perception: 6,
        occurredAt: at(3),
      })
    ).json();
    const order2 = (
      await client.post('/v1/orders', {
        source: 'shop',
        externalId: 'o2',
        customerId: customer.id,
        placedAt: at(4),
        status: 'paid',
        total: { amount: 2000, currency: 'EUR' },
      })
    ).json().order;
    const r1 = (
      await client.post(`/v1/interactions/${i1.id}/replies`, { body: 'ok', occurredAt: at(5) })
    ).json();

    // the first order made the customer active at the order's time; at equal times the entry
    // recorded later (the status change) comes first
    const expected = [
      ['interaction', r1.id],
      ['order', order2.id],
      ['feedback', f1.id],
      ['interaction', i1.id],
      ['status_change', undefined],
      ['order', order1.id],
    ];
    const seen: [string, string][] = [];
    let cursor: string | null = null;
    do {
      const page: any = (
        await client.get(`/v1/customers/${customer.id}/timeline?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      ).json();
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((e: any) => [e.kind, e.id]));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.map(([k]) => k)).toEqual(expected.map(([k]) => k));
    expect(seen.filter(([k]) => k !== 'status_change')).toEqual(
      expected.filter(([k]) => k !== 'status_change'),
    );

    const onlyOrders = (await client.get(`/v1/customers/${customer.id}/timeline?kinds=order`)).json();
    expect(onlyOrders.data.map((e: any) => e.id)).toEqual([order2.id, order1.id]);
    // a kind named twice is read once
    const twice = (await client.get(`/v1/customers/${customer.id}/timeline?kinds=order,order`)).json();
    expect(twice.data.map((e: any) => e.id)).toEqual([order2.id, order1.id]);
    expect((await client.get(`/v1/customers/${customer.id}/timeline?kinds=coupon`)).statusCode).toBe(400);
    const { body } = await client.graphql(
      `{ customer(id: "${customer.id}") { timeline(first: 3, kinds: ["order", "feedback"]) { nodes { kind id } pageInfo { hasNextPage } } } }`,
    );
    expect(body.data?.customer.timeline).toEqual({
      nodes: [
        { kind: 'order', id: order2.id },
        { kind: 'feedback', id: f1.id },
        { kind: 'order', id: order1.id },
      ],
      pageInfo: { hasNextPage: false },
    });
  });

  it('leaves out interactions and feedback for a token without interactions:read', async () => {
    const tenant = await t.newTenant();
    const customer = await newCustomer(tenant.client);
    await tenant.client.post('/v1/interactions', complaintBody(customer.id));
    const reader = t.as(await t.token(tenant, ['customers:read']));
    expect((await reader.get(`/v1/customers/${customer.id}/timeline`)).json().data).toEqual([]);
    expect((await reader.get(`/v1/customers/${customer.id}/timeline?kinds=interaction`)).statusCode).toBe(
      403,
    );
  });
});
