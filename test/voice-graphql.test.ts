import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type GraphqlBody, type TestApp } from './helpers/app.ts';
import { complaintBody, newCustomer } from './helpers/factories.ts';

let now = new Date('2026-06-20T12:00:00.000Z');
const clock = { now: () => now };
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(() => t.close());

const FIELDS = `id customerId channel direction type subject tags sentiment metadata replyTo version occurredAt
  case { status firstResponseDueAt dueAt firstResponseAt resolvedAt resolution { outcome note } slaBreached }`;
const RECORD = `mutation ($input: InteractionInput!) { recordInteraction(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation ($id: ID!, $input: InteractionPatch!, $ifMatch: String) {
  updateInteraction(id: $id, input: $input, ifMatch: $ifMatch) { ${FIELDS} } }`;
const REPLY = `mutation ($id: ID!, $input: ReplyInput!) { reply(id: $id, input: $input) { ${FIELDS} } }`;
const MOVE = `mutation ($id: ID!, $to: CaseTransition!, $resolution: ResolutionInput) {
  moveCase(id: $id, to: $to, resolution: $resolution) { ${FIELDS} } }`;
const LIST = `query ($filter: InteractionFilter, $first: Int!, $after: String) {
  interactions(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }`;
async function ok(client: Client, query: string, variables?: Record<string, unknown>) {
  const { status, body } = await client.graphql(query, variables);
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  expect(status).toBe(200);
  return body.data as Record<string, any>;
}
const errorOf = (body: GraphqlBody) => body.errors?.[0]?.extensions ?? {};
const pathsOf = (body: GraphqlBody) =>
  ((errorOf(body).errors ?? []) as { path: string }[]).map((e) => e.path);
const record = async (client: Client, input: Record<string, unknown>) =>
  (await ok(client, RECORD, { input })).recordInteraction as Record<string, any> & { id: string };
const restIds = async (client: Client, query: string) =>
  (await client.get(`/v1/interactions?${query}`)).json().data.map((r: { id: string }) => r.id);

describe('interactions over GraphQL', () => {
  it('records and updates an interaction, honouring ifMatch', async () => {
    const { client } = await t.newTenant();
    const other = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date('2026-06-10T09:00:00.000Z');
    const created = await record(
      client,
      complaintBody(customer.id, { tags: ['talla'], metadata: { pedido: 'A1' } }),
    );
    expect(created).toMatchObject({
      channel: 'email',
      tags: ['talla'],
      metadata: { pedido: 'A1' },
      version: 1,
      occurredAt: '2026-06-10T09:00:00.000Z',
      case: {
        status: 'open',
        firstResponseDueAt: '2026-06-11T09:00:00.000Z',
        dueAt: '2026-06-13T09:00:00.000Z',
      },
    });
    expect((await client.get(`/v1/interactions/${created.id}`)).json()).toMatchObject({
      id: created.id,
      version: 1,
    });

    const bad = await client.graphql(RECORD, { input: complaintBody(customer.id, { sentiment: 2 }) });
    expect(errorOf(bad.body)).toMatchObject({ code: 'validation_failed', status: 400 });
    expect(pathsOf(bad.body)).toEqual(['input.sentiment']);
    const foreign = await client.graphql(RECORD, {
      input: complaintBody((await newCustomer(other.client)).id),
    });
    expect(errorOf(foreign.body).code).toBe('invalid_reference');
    const unknownChannel = await client.graphql(RECORD, {
      input: complaintBody(customer.id, { channel: 'fax' }),
    });
    expect(errorOf(unknownChannel.body).code).toBe('graphql_validation_failed');
    expect(await restIds(client, `customerId=${customer.id}`)).toEqual([created.id]);

    const updated = await ok(client, UPDATE, {
      id: created.id,
      input: { sentiment: -0.25, tags: ['talla', 'urgente', 'talla'] },
      ifMatch: 'v1',
    });
    expect(updated.updateInteraction).toMatchObject({
      version: 2,
      sentiment: -0.25,
      tags: ['talla', 'urgente'],
    });
    const stale = await client.graphql(UPDATE, { id: created.id, input: { sentiment: 1 }, ifMatch: '"v1"' });
    expect(errorOf(stale.body)).toMatchObject({ code: 'precondition_failed', status: 412 });
    expect((await client.get(`/v1/interactions/${created.id}`)).json()).toMatchObject({
      version: 2,
      sentiment: -0.25,
    });
    // in an update a null clears, lists and maps included
    await ok(client, UPDATE, { id: created.id, input: { metadata: { pedido: 'A-1' } } });
    const cleared = await ok(client, UPDATE, {
      id: created.id,
      input: { tags: null, metadata: null, sentiment: null },
    });
    expect(cleared.updateInteraction).toMatchObject({ version: 4, tags: [], metadata: {}, sentiment: null });
    const theirs = await other.client.graphql(UPDATE, { id: created.id, input: { sentiment: 1 } });
    expect(errorOf(theirs.body).code).toBe('interaction_not_found');
    expect((await ok(other.client, `{ interaction(id: "${created.id}") { id } }`)).interaction).toBeNull();
  });

  it('replies and moves a case through legal moves, refusing illegal ones with case_transition_invalid', async () => {
    const { client } = await t.newTenant();
    const customer = await newCustomer(client);
    now = new Date('2026-06-10T09:00:00.000Z');
    const c = await record(client, complaintBody(customer.id));
    now = new Date('2026-06-10T10:00:00.000Z');
    const answer = (await ok(client, REPLY, { id: c.id, input: { body: 'Lo vemos', channel: 'phone' } }))
      .reply;
    expect(answer).toMatchObject({
      replyTo: c.id,
      direction: 'outbound',
      type: 'message',
      channel: 'phone',
      case: null,
    });
    const read = async () =>
      (
        await ok(
          client,
          `{ interaction(id: "${c.id}") { case { status firstResponseAt resolution { outcome } } } }`,
        )
      ).interaction.case;
    expect(await read()).toMatchObject({
      status: 'in_progress',
      firstResponseAt: '2026-06-10T10:00:00.000Z',
    });

    const noResolution = await client.graphql(MOVE, { id: c.id, to: 'resolved' });
    expect(errorOf(noResolution.body).code).toBe('validation_failed');
    expect(pathsOf(noResolution.body)).toEqual(['resolution']);
    const illegal = await client.graphql(MOVE, { id: c.id, to: 'reopened' });
    expect(errorOf(illegal.body)).toMatchObject({
      code: 'case_transition_invalid',
      status: 409,
      currentStatus: 'in_progress',
    });
    expect(illegal.body.errors![0]!.message).toContain('in_progress');
    expect(illegal.body.data).toBeNull();

    const resolved = await ok(client, MOVE, {
      id: c.id,
      to: 'resolved',
      resolution: { outcome: 'compensated', note: 'vale de 10 €' },
    });
    expect(resolved.moveCase.case).toMatchObject({
      status: 'resolved',
      resolvedAt: '2026-06-10T10:00:00.000Z',
      resolution: { outcome: 'compensated', note: 'vale de 10 €' },
      slaBreached: false,
    });
    for (const to of ['in_progress', 'resolved']) {
      const res = await client.graphql(MOVE, {
        id: c.id,
        to,
        resolution: to === 'resolved' ? { outcome: 'resolved' } : null,
      });
      expect(errorOf(res.body), to).toMatchObject({
        code: 'case_transition_invalid',
        currentStatus: 'resolved',
      });
    }
    expect((await ok(client, MOVE, { id: c.id, to: 'closed' })).moveCase.case.status).toBe('closed');
    expect(errorOf((await client.graphql(MOVE, { id: c.id, to: 'closed' })).body).currentStatus).toBe(
      'closed',
    );
    expect((await ok(client, MOVE, { id: c.id, to: 'reopened' })).moveCase.case).toMatchObject({
      status: 'reopened',
      resolution: null,
    });
    expect((await client.get(`/v1/interactions/${c.id}`)).json().case.status).toBe('reopened');
    const praise = await record(client, complaintBody(customer.id, { type: 'praise' }));
    expect(errorOf((await client.graphql(MOVE, { id: praise.id, to: 'in_progress' })).body).code).toBe(
      'not_a_case',
    );
  });

  it('pages interactions(filter, first, after)', async () => {
    const { client } = await t.newTenant();
    const c1 = (await newCustomer(client)).id;
    const c2 = (await newCustomer(client)).id;
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push((await record(client, complaintBody(c1))).id);
    await record(client, complaintBody(c2));
    const p1 = (await ok(client, LIST, { filter: { customerId: c1 }, first: 2 })).interactions;
    expect(p1.nodes.map((n: { id: string }) => n.id)).toEqual(mine.slice(0, 2));
    expect(p1.pageInfo.hasNextPage).toBe(true);
    expect(p1.edges[1].cursor).toBe(p1.pageInfo.endCursor);
    const p2 = (
      await ok(client, LIST, { filter: { customerId: c1 }, first: 2, after: p1.pageInfo.endCursor })
    ).interactions;
    expect(p2.nodes.map((n: { id: string }) => n.id)).toEqual(mine.slice(2));
    expect(p2.pageInfo.hasNextPage).toBe(false);
    const all = (await ok(client, LIST, { filter: { status: 'open', type: 'complaint' }, first: 10 }))
      .interactions;
    expect(all.nodes).toHaveLength(4);
    const wrong = await client.graphql(LIST, {
      filter: { customerId: c2 },
      first: 2,
      after: p1.pageInfo.endCursor,
    });
    expect(errorOf(wrong.body).code).toBe('invalid_cursor');
    for (const first of [0, 501]) {
      const res = await client.graphql(LIST, { first });
      expect(errorOf(res.body).code).toBe('validation_failed');
      expect(pathsOf(res.body)).toEqual(['first']);
    }
  });

  it('answers voiceInsights with numbers computed by hand', async () => {
    const { client } = await t.newTenant();
    const customer = (await newCustomer(client)).id;
    now = new Date('2026-06-20T12:00:00.000Z');
    const a = await record(client, complaintBody(customer, { occurredAt: '2026-06-18T12:00:00Z' }));
    await record(
      client,
      complaintBody(customer, { type: 'inquiry', channel: 'phone', occurredAt: '2026-06-20T00:00:00Z' }),
    );
    const c = await record(
      client,
      complaintBody(customer, { type: 'claim', occurredAt: '2026-06-10T12:00:00Z' }),
    );
    await ok(client, REPLY, { id: a.id, input: { body: 'ok', occurredAt: '2026-06-18T15:00:00Z' } }); // 3 h
    await ok(client, REPLY, { id: c.id, input: { body: 'ok', occurredAt: '2026-06-11T18:00:00Z' } }); // 30 h, late
    now = new Date('2026-06-19T12:00:00.000Z');
    await ok(client, MOVE, { id: a.id, to: 'resolved', resolution: { outcome: 'resolved' } }); // 24 h
    now = new Date('2026-06-20T12:00:00.000Z');
    const q = `query ($from: DateTime) { voiceInsights(from: $from) { cases byType { key cases } byChannel { key cases }
      byMonth { key cases } answeredWithinSla medianFirstResponseHours medianResolutionHours openBacklog { age cases } } }`;
    const insights = (await ok(client, q)).voiceInsights;
    expect(insights).toEqual({
      cases: 3,
      byType: [
        { key: 'claim', cases: 1 },
        { key: 'complaint', cases: 1 },
        { key: 'inquiry', cases: 1 },
      ],
      byChannel: [
        { key: 'email', cases: 2 },
        { key: 'phone', cases: 1 },
      ],
      byMonth: [{ key: '2026-06', cases: 3 }],
      answeredWithinSla: 0.5, // a in time, c late; the inquiry is not due yet
      medianFirstResponseHours: 16.5, // (3 + 30) / 2
      medianResolutionHours: 24,
      openBacklog: [
        { age: '<1d', cases: 1 },
        { age: '1-3d', cases: 0 },
        { age: '3-7d', cases: 0 },
        { age: '>7d', cases: 1 },
      ],
    });
    expect(insights).toEqual((await client.get('/v1/insights/voice')).json());
    const since = (await ok(client, q, { from: '2026-06-15T00:00:00Z' })).voiceInsights;
    expect(since).toMatchObject({ cases: 2, answeredWithinSla: 1, medianFirstResponseHours: 3 });
    const reader = t.as(await t.token(await t.newTenant(), ['customers:read']));
    expect(errorOf((await reader.graphql(q)).body).code).toBe('insufficient_scope');
  });
});
