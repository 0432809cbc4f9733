import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type GraphqlBody, type TestApp } from './helpers/app.ts';
import { newCustomer, newIntermediary, newOrder, orderBody } from './helpers/factories.ts';

let now = new Date('2026-06-20T12:00:00.000Z');
const clock = { now: () => now };
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(() => t.close());

const RECORD = `mutation ($input: InteractionInput!) { recordInteraction(input: $input) {
  id case { status firstResponseDueAt dueAt } } }`;
const FEEDBACK = `mutation ($input: FeedbackInput!) { recordFeedback(input: $input) {
  id customerId interactionId dimension expectation perception gap nps csat occurredAt } }`;
const FEEDBACKS = `query ($filter: FeedbackFilter, $first: Int!, $after: String) {
  feedbacks(filter: $filter, first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }`;
const SATISFACTION = `{ satisfactionInsights(groupBy: intermediary) { groupBy groups { key responses
  meanExpectation meanPerception meanGap npsResponses nps csatResponses csat meanCsat } } }`;
const TIMELINE = `query ($id: ID!, $first: Int!, $after: String, $kinds: [String!]) { customer(id: $id) {
  timeline(first: $first, after: $after, kinds: $kinds) {
    edges { cursor node { kind id occurredAt summary } } pageInfo { hasNextPage endCursor } } } }`;

async function ok(client: Client, query: string, variables?: Record<string, unknown>) {
  const { status, body } = await client.graphql(query, variables);
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  expect(status).toBe(200);
  return body.data as Record<string, any>;
}
const errorOf = (body: GraphqlBody) => body.errors?.[0]?.extensions ?? {};
const pathsOf = (body: GraphqlBody) =>
  ((errorOf(body).errors ?? []) as { path: string }[]).map((e) => e.path);
const inbound = (customerId: string, type: string, extra: Record<string, unknown> = {}) => ({
  customerId,
  channel: 'email',
  direction: 'inbound',
  type,
  ...extra,
});
const record = async (client: Client, input: Record<string, unknown>) =>
  (await ok(client, RECORD, { input })).recordInteraction as Record<string, any> & { id: string };
const feedback = async (client: Client, input: Record<string, unknown>) =>
  (await ok(client, FEEDBACK, { input })).recordFeedback as Record<string, any> & { id: string };

describe('feedback over GraphQL', () => {
  it('enforces the scales with validation_failed and the paths of the fields, writing nothing', async () => {
    const { client } = await t.newTenant();
    const other = await t.newTenant();
    const customer = (await newCustomer(client)).id;
    const base = { customerId: customer, expectation: 5, perception: 4 };
    for (const [field, value] of [
      ['expectation', 8],
      ['expectation', 0],
      ['perception', 0],
      ['nps', 11],
      ['nps', -1],
      ['csat', 6],
      ['csat', 0],
    ] as const) {
      const res = await client.graphql(FEEDBACK, { input: { ...base, [field]: value } });
      expect(errorOf(res.body), `${field} ${value}`).toMatchObject({
        code: 'validation_failed',
        status: 400,
      });
      expect(pathsOf(res.body)).toEqual([`input.${field}`]);
    }
    const both = await client.graphql(FEEDBACK, { input: { ...base, expectation: 9, perception: 9 } });
    expect(pathsOf(both.body).sort()).toEqual(['input.expectation', 'input.perception']);
    const foreign = (
      await ok(other.client, RECORD, { input: inbound((await newCustomer(other.client)).id, 'praise') })
    ).recordInteraction.id;
    const res = await client.graphql(FEEDBACK, { input: { ...base, interactionId: foreign } });
    expect(errorOf(res.body).code).toBe('invalid_reference');
    expect(res.body.errors![0]!.message).toContain('interactionId');
    expect(
      (await ok(client, FEEDBACKS, { filter: { customerId: customer }, first: 10 })).feedbacks.nodes,
    ).toEqual([]);
    now = new Date('2026-06-20T12:00:00.000Z');
    expect(await feedback(client, { ...base, nps: 0, csat: 5 })).toMatchObject({
      dimension: 'overall',
      gap: -1,
      nps: 0,
      csat: 5,
      occurredAt: '2026-06-20T12:00:00.000Z',
    });
  });

  it('pages feedbacks(filter, first, after)', async () => {
    const { client } = await t.newTenant();
    const c1 = (await newCustomer(client)).id;
    const c2 = (await newCustomer(client)).id;
    const mine = [];
    for (const dimension of ['empathy', 'reliability', 'empathy']) {
      mine.push((await feedback(client, { customerId: c1, dimension, expectation: 4, perception: 5 })).id);
    }
    await feedback(client, { customerId: c2, dimension: 'empathy', expectation: 4, perception: 5 });
    const p1 = (await ok(client, FEEDBACKS, { filter: { customerId: c1 }, first: 2 })).feedbacks;
    expect(p1.nodes.map((n: { id: string }) => n.id)).toEqual(mine.slice(0, 2));
    expect(p1.pageInfo.hasNextPage).toBe(true);
    const p2 = (
      await ok(client, FEEDBACKS, { filter: { customerId: c1 }, first: 2, after: p1.pageInfo.endCursor })
    ).feedbacks;
    expect(p2.nodes.map((n: { id: string }) => n.id)).toEqual(mine.slice(2));
    expect(p2.pageInfo.hasNextPage).toBe(false);
    const empathy = (
      await ok(client, FEEDBACKS, { filter: { customerId: c1, dimension: 'empathy' }, first: 10 })
    ).feedbacks.nodes;
    expect(empathy.map((n: { id: string }) => n.id)).toEqual([mine[0], mine[2]]);
  });

  it('groups satisfaction by intermediary, with a null key for feedback without one', async () => {
    const { client } = await t.newTenant();
    const customer = (await newCustomer(client)).id;
    const m1 = (await newIntermediary(client)).id;
    const m2 = (await newIntermediary(client)).id;
    const i1 = (await record(client, inbound(customer, 'praise', { intermediaryId: m1 }))).id;
    const i2 = (await record(client, inbound(customer, 'praise', { intermediaryId: m2 }))).id;
    const i3 = (await record(client, inbound(customer, 'praise'))).id;
    const rows = [
      { interactionId: i1, expectation: 5, perception: 3, nps: 9 },
      { interactionId: i1, expectation: 6, perception: 6, nps: 3 },
      { interactionId: i2, expectation: 4, perception: 6, csat: 5 },
      { expectation: 7, perception: 5, nps: 10, csat: 2 }, // no interaction
      { interactionId: i3, expectation: 3, perception: 3, nps: 6 }, // an interaction without intermediary
    ];
    for (const r of rows) await feedback(client, { customerId: customer, ...r });
    const { satisfactionInsights } = await ok(client, SATISFACTION);
    expect(satisfactionInsights.groupBy).toBe('intermediary');
    const none = { npsResponses: 0, nps: null, csatResponses: 0, csat: null, meanCsat: null };
    expect(satisfactionInsights.groups).toEqual([
      ...[
        // m1: expectation (5+6)/2, perception (3+6)/2, gap (−2+0)/2; 1 promoter and 1 detractor of 2 → 0
        {
          key: m1,
          responses: 2,
          meanExpectation: 5.5,
          meanPerception: 4.5,
          meanGap: -1,
          ...none,
          npsResponses: 2,
          nps: 0,
        },
        // m2: one answer, gap 2, CSAT 5 → 100 % satisfied
        {
          key: m2,
          responses: 1,
          meanExpectation: 4,
          meanPerception: 6,
          meanGap: 2,
          ...none,
          csatResponses: 1,
          csat: 100,
          meanCsat: 5,
        },
      ].sort((a, b) => (a.key < b.key ? -1 : 1)),
      // none: expectation (7+3)/2, perception (5+3)/2, gap (−2+0)/2; NPS 10 and 6 → 0; CSAT 2 → 0 %
      {
        key: null,
        responses: 2,
        meanExpectation: 5,
        meanPerception: 4,
        meanGap: -1,
        npsResponses: 2,
        nps: 0,
        csatResponses: 1,
        csat: 0,
        meanCsat: 2,
      },
    ]);
    expect(satisfactionInsights).toEqual(
      (await client.get('/v1/insights/satisfaction?groupBy=intermediary')).json(),
    );
  });
});

describe('satisfaction by intermediary, through orders', () => {
  it('feedback on an order counts for the intermediary the order came through', async () => {
    const { client } = await t.newTenant();
    const customer = (await newCustomer(client)).id;
    const seller = (await newIntermediary(client)).id;
    const order = await newOrder(client, { customerId: customer, intermediaryId: seller });
    await feedback(client, { customerId: customer, orderId: order.id, expectation: 5, perception: 7 });
    await feedback(client, { customerId: customer, expectation: 4, perception: 4 });
    const groups = (await client.get('/v1/insights/satisfaction?groupBy=intermediary')).json().groups;
    expect(groups.map((g: { key: string | null; meanGap: number }) => [g.key, g.meanGap])).toEqual([
      [seller, 2],
      [null, 0],
    ]);
  });
});

describe('feedback about an order', () => {
  it('holds the order to its customer while the feedback is written: a move to another customer waits', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const [first, second] = [(await newCustomer(client)).id, (await newCustomer(client)).id];
    const order = await newOrder(client, { customerId: first, externalId: 'held', source: 'shop' });
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let checked!: () => void;
    const owned = new Promise<void>((resolve) => {
      checked = resolve;
    });
    // the feedback's transaction: it has checked the order's customer and has not committed yet
    const feedbackTx = t.db.withTenant(tenant.id, async (tx) => {
      expect(await t.app.services.feedback.ownerOf.order(tx, order.id)).toBe(first);
      checked();
      await held;
    });
    await owned;
    let moved = false;
    const move = client
      .post('/v1/orders', {
        ...orderBody({ externalId: 'held', source: 'shop', customerId: second }),
        sourceUpdatedAt: new Date().toISOString(),
      })
      .then((res) => {
        moved = true;
        return res;
      });
    await new Promise((r) => setTimeout(r, 300));
    expect(moved).toBe(false);
    release();
    await feedbackTx;
    const res = await move;
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().order.customerId).toBe(second);
  });
});

describe('periods and arguments', () => {
  it('every list with a period refuses one that ends before it starts, naming the start', async () => {
    const tenant = await t.newTenant();
    for (const [url, path] of [
      ['/v1/feedback?from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z', 'from'],
      ['/v1/interactions?from=2026-05-02T00:00:00Z&to=2026-05-02T00:00:00Z', 'from'],
      ['/v1/audit-log?from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z', 'from'],
      ['/v1/orders?placedFrom=2026-05-02T00:00:00Z&placedTo=2026-05-01T00:00:00Z', 'placedFrom'],
    ] as const) {
      const res = await tenant.client.get(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().errors[0].path, url).toBe(`querystring.${path}`);
    }
    expect(
      (await tenant.client.get('/v1/feedback?from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z')).statusCode,
    ).toBe(200);
  });

  it('satisfactionInsights groups by dimension unless told otherwise, and checks the scope before the arguments', async () => {
    const tenant = await t.newTenant();
    const byDefault = await ok(tenant.client, '{ satisfactionInsights { groupBy } }');
    expect(byDefault.satisfactionInsights.groupBy).toBe('dimension');
    const weak = t.as(await t.token(tenant, ['customers:read']));
    const refused = await weak.graphql(
      '{ satisfactionInsights(from: "2026-05-02T00:00:00Z", to: "2026-05-01T00:00:00Z") { groupBy } }',
    );
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
  });
});

describe('the customer in GraphQL', () => {
  it('loads openCases and lastInteractionAt for several customers in one query', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const [c1, c2, c3] = [
      (await newCustomer(client)).id,
      (await newCustomer(client)).id,
      (await newCustomer(client)).id,
    ];
    now = new Date('2026-06-10T12:00:00.000Z');
    const suggestion = await record(
      client,
      inbound(c1, 'suggestion', { occurredAt: '2026-06-01T10:00:00Z' }),
    ); // due 06-15
    const complaint = await record(client, inbound(c1, 'complaint', { occurredAt: '2026-06-05T10:00:00Z' })); // due 06-08
    const inquiry = await record(client, inbound(c2, 'inquiry', { occurredAt: '2026-06-02T10:00:00Z' }));
    await client.post(`/v1/interactions/${inquiry.id}/transitions`, {
      to: 'resolved',
      resolution: { outcome: 'resolved' },
    });
    await record(client, inbound(c2, 'note', { direction: 'outbound', occurredAt: '2026-06-07T10:00:00Z' }));
    const query =
      '{ customers(first: 10) { nodes { id openCases { id case { status dueAt } } lastInteractionAt } } }';
    // both fields of every customer from one read
    const { interactions } = t.app.services;
    const voiceOf = interactions.voiceOf;
    const reads: string[][] = [];
    interactions.voiceOf = (actor, ids, check) => {
      reads.push([...ids]);
      return voiceOf.call(interactions, actor, ids, check);
    };
    const nodes = await ok(client, query)
      .then((data) => data.customers.nodes as { id: string }[])
      .finally(() => {
        interactions.voiceOf = voiceOf;
      });
    expect(reads.map((ids) => ids.sort())).toEqual([[c1, c2, c3].sort()]);
    const byId = Object.fromEntries(nodes.map(({ id, ...rest }) => [id, rest]));
    expect(byId).toEqual({
      [c1]: {
        openCases: [
          { id: complaint.id, case: { status: 'open', dueAt: '2026-06-08T10:00:00.000Z' } },
          { id: suggestion.id, case: { status: 'open', dueAt: '2026-06-15T10:00:00.000Z' } },
        ],
        lastInteractionAt: '2026-06-05T10:00:00.000Z',
      },
      [c2]: { openCases: [], lastInteractionAt: '2026-06-07T10:00:00.000Z' },
      [c3]: { openCases: [], lastInteractionAt: null },
    });
    const crm = t.as(await t.token(tenant, ['customers:read']));
    const denied = await crm.graphql(query);
    expect(errorOf(denied.body).code).toBe('insufficient_scope');
  });

  it('does not let a customer with many open cases crowd out another’s in the batched load', async () => {
    const { client } = await t.newTenant();
    const busy = (await newCustomer(client)).id;
    const quiet = (await newCustomer(client)).id;
    now = new Date('2026-06-10T12:00:00.000Z');
    // the quiet customer's one case is due last (a suggestion: 336 h); the busy one has 100 complaints (72 h)
    const late = await record(client, inbound(quiet, 'suggestion', { occurredAt: '2026-06-01T10:00:00Z' }));
    for (let i = 0; i < 10; i++) {
      await Promise.all(
        Array.from({ length: 10 }, () =>
          record(client, inbound(busy, 'complaint', { occurredAt: '2026-06-05T10:00:00Z' })),
        ),
      );
    }
    const query = `{ customers(first: 10) { nodes { id openCases { id } } } }`;
    const nodes = (await ok(client, query)).customers.nodes as { id: string; openCases: { id: string }[] }[];
    const of = (id: string) => nodes.find((n) => n.id === id)!.openCases;
    expect(of(busy)).toHaveLength(50); // at most 50 each
    expect(of(quiet)).toEqual([{ id: late.id }]);
    // REST, one customer at a time, agrees
    expect((await client.get(`/v1/customers/${quiet}/voice`)).json()).toMatchObject({
      openCaseCount: 1,
      openCases: [{ id: late.id }],
    });
  });

  it('pages Customer.timeline(first, after, kinds) across two pages', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const customer = (await newCustomer(client)).id;
    now = new Date('2026-06-20T12:00:00.000Z');
    const at = (d: number) => `2026-06-${String(d).padStart(2, '0')}T10:00:00.000Z`;
    const o1 = await newOrder(client, { customerId: customer, placedAt: at(1) });
    const i1 = await record(client, inbound(customer, 'complaint', { occurredAt: at(2) }));
    const f1 = await feedback(client, {
      customerId: customer,
      expectation: 5,
      perception: 6,
      occurredAt: at(3),
    });
    const o2 = await newOrder(client, { customerId: customer, placedAt: at(4) });
    const r1 = (
      await client.post(`/v1/interactions/${i1.id}/replies`, { body: 'ok', occurredAt: at(5) })
    ).json();
    const kinds = ['order', 'interaction', 'feedback'];
    const entries = (page: any) => page.edges.map((e: any) => [e.node.kind, e.node.id, e.node.occurredAt]);

    const p1 = (await ok(client, TIMELINE, { id: customer, first: 3, kinds })).customer.timeline;
    expect(entries(p1)).toEqual([
      ['interaction', r1.id, at(5)],
      ['order', o2.id, at(4)],
      ['feedback', f1.id, at(3)],
    ]);
    expect(p1.pageInfo.hasNextPage).toBe(true);
    expect(p1.edges[2].cursor).toBe(p1.pageInfo.endCursor);
    const p2 = (await ok(client, TIMELINE, { id: customer, first: 3, kinds, after: p1.pageInfo.endCursor }))
      .customer.timeline;
    expect(entries(p2)).toEqual([
      ['interaction', i1.id, at(2)],
      ['order', o1.id, at(1)],
    ]);
    expect(p2.pageInfo.hasNextPage).toBe(false);
    expect(p2.edges[0].node.summary).toContain('complaint');

    const everything = (await ok(client, TIMELINE, { id: customer, first: 10 })).customer.timeline;
    expect(everything.edges.map((e: any) => e.node.kind)).toContain('status_change');
    const otherKinds = await client.graphql(TIMELINE, {
      id: customer,
      first: 3,
      kinds: ['order'],
      after: p1.pageInfo.endCursor,
    });
    expect(errorOf(otherKinds.body).code).toBe('invalid_cursor');
    const unknown = await client.graphql(TIMELINE, { id: customer, first: 3, kinds: ['coupon'] });
    expect(errorOf(unknown.body).code).toBe('validation_failed');
    expect(pathsOf(unknown.body)).toEqual(['kinds']);
    const crm = t.as(await t.token(tenant, ['customers:read']));
    const denied = await crm.graphql(TIMELINE, { id: customer, first: 3, kinds: ['feedback'] });
    expect(errorOf(denied.body).code).toBe('insufficient_scope');
    const orders = (await ok(crm, TIMELINE, { id: customer, first: 10 })).customer.timeline;
    expect(orders.edges.map((e: any) => e.node.kind).filter((k: string) => k !== 'status_change')).toEqual([
      'order',
      'order',
    ]);
  });
});

describe('SLA settings over GraphQL', () => {
  it('reads settings { sla } and changes it with updateSettings, validating it', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const before = (await ok(client, '{ settings { sla } }')).settings.sla;
    expect(before.complaint).toEqual({ firstResponseHours: 24, resolutionHours: 72 });
    const UPDATE = 'mutation ($input: SettingsInput!) { updateSettings(input: $input) { sla } }';
    const bad = await client.graphql(UPDATE, {
      input: { sla: { complaint: { firstResponseHours: 10, resolutionHours: 2 } } },
    });
    expect(errorOf(bad.body).code).toBe('validation_failed');
    expect(pathsOf(bad.body)).toEqual(['input.sla.complaint.firstResponseHours']);
    const zero = await client.graphql(UPDATE, {
      input: { sla: { claim: { firstResponseHours: 0, resolutionHours: 2 } } },
    });
    expect(pathsOf(zero.body)).toEqual(['input.sla.claim.firstResponseHours']);
    expect((await ok(client, '{ settings { sla } }')).settings.sla).toEqual(before);

    const changed = await ok(client, UPDATE, {
      input: { sla: { complaint: { firstResponseHours: 2, resolutionHours: 10 } } },
    });
    expect(changed.updateSettings.sla).toEqual({
      ...before,
      complaint: { firstResponseHours: 2, resolutionHours: 10 },
    });
    expect((await client.get('/v1/settings')).json().sla).toEqual(changed.updateSettings.sla);
    now = new Date('2026-06-20T12:00:00.000Z');
    const customer = (await newCustomer(client)).id;
    expect((await record(client, inbound(customer, 'complaint'))).case).toEqual({
      status: 'open',
      firstResponseDueAt: '2026-06-20T14:00:00.000Z',
      dueAt: '2026-06-20T22:00:00.000Z',
    });
    const agent = t.as(await t.token(tenant, ['interactions:read', 'interactions:write']));
    expect(errorOf((await agent.graphql('{ settings { sla } }')).body).code).toBe('insufficient_scope');
    const denied = await agent.graphql(UPDATE, {
      input: { sla: { complaint: { firstResponseHours: 1, resolutionHours: 1 } } },
    });
    expect(errorOf(denied.body).code).toBe('insufficient_scope');
    expect((await ok(client, '{ settings { sla } }')).settings.sla.complaint).toEqual({
      firstResponseHours: 2,
      resolutionHours: 10,
    });
  });
});
