import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const unique = () => randomUUID().slice(0, 8);

/** Each keyed create: its path, a body for it, and how to count the rows it made. */
type Write = {
  name: string;
  path: (client: Client) => Promise<string>;
  body: (client: Client) => Promise<Record<string, unknown>>;
  other: (body: Record<string, unknown>) => Record<string, unknown>;
  rows: (client: Client, body: Record<string, unknown>) => Promise<number>;
};

const count = async (client: Client, url: string) => {
  const res = await client.get(url);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().data as unknown[]).length;
};

const writes: Write[] = [
  {
    name: 'POST /v1/customers',
    path: async () => '/v1/customers',
    body: async () => ({ externalId: `k-${unique()}`, email: `k-${unique()}@example.com`, firstName: 'Ana' }),
    other: (b) => ({ ...b, externalId: `k-${unique()}`, email: `k-${unique()}@example.com` }),
    rows: (client, b) => count(client, `/v1/customers?email=${encodeURIComponent(b.email as string)}`),
  },
  {
    name: 'POST /v1/interactions',
    path: async () => '/v1/interactions',
    body: async (client) => ({
      customerId: (await newCustomer(client)).id,
      channel: 'email',
      direction: 'inbound',
      type: 'complaint',
      subject: 'El pedido llegó roto',
    }),
    other: (b) => ({ ...b, subject: 'Otro asunto' }),
    rows: (client, b) => count(client, `/v1/interactions?customerId=${b.customerId}`),
  },
  {
    name: 'POST /v1/interactions/:id/replies',
    path: async (client) => {
      const customer = await newCustomer(client);
      const created = await client.post('/v1/interactions', {
        customerId: customer.id,
        channel: 'email',
        direction: 'inbound',
        type: 'inquiry',
      });
      expect(created.statusCode, created.body).toBe(201);
      return `/v1/interactions/${created.json().id}/replies`;
    },
    body: async () => ({ body: 'Gracias por escribirnos' }),
    other: (b) => ({ ...b, body: 'Otra respuesta' }),
    // a reply is an outbound message
    rows: (client) => count(client, '/v1/interactions?type=message'),
  },
  {
    name: 'POST /v1/feedback',
    path: async () => '/v1/feedback',
    body: async (client) => ({
      customerId: (await newCustomer(client)).id,
      dimension: 'overall',
      expectation: 6,
      perception: 5,
      nps: 9,
    }),
    other: (b) => ({ ...b, nps: 3 }),
    rows: (client, b) => count(client, `/v1/feedback?customerId=${b.customerId}`),
  },
];

describe.each(writes)('Idempotency-Key on $name', (write) => {
  it('five replays: one row, the first response each time (status, body, ETag), marked as replayed', async () => {
    const { client } = await t.newTenant();
    const path = await write.path(client);
    const body = await write.body(client);
    const key = { 'idempotency-key': `five-${unique()}` };
    const first = await client.post(path, body, key);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (let i = 0; i < 5; i++) {
      const again = await client.post(path, body, key);
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.headers.etag).toBe(first.headers.etag);
      expect(again.json()).toEqual(first.json());
    }
    expect(await write.rows(client, body)).toBe(1);
    // without a key, the same body is simply another write
    expect((await client.post(path, write.other(body))).statusCode).toBe(201);
  });

  it('the key with another body is a 422 and writes nothing; 10 concurrent requests make one row', async () => {
    const { client } = await t.newTenant();
    const path = await write.path(client);
    const body = await write.body(client);
    const key = { 'idempotency-key': `k-${unique()}` };
    const answers = await Promise.all(Array.from({ length: 10 }, () => client.post(path, body, key)));
    for (const a of answers) expect([201, 409], a.body).toContain(a.statusCode);
    const ok = answers.filter((a) => a.statusCode === 201);
    expect(new Set(ok.map((a) => a.json().id)).size).toBe(1);
    expect(ok.filter((a) => a.headers['idempotent-replayed'] !== 'true')).toHaveLength(1);
    for (const a of answers.filter((x) => x.statusCode === 409))
      expect(a.json().code).toBe('idempotency_conflict');
    const reused = await client.post(path, write.other(body), key);
    expect(reused.statusCode).toBe(422);
    expect(reused.json().code).toBe('idempotency_key_reused');
    expect(await write.rows(client, body)).toBe(1);
  });
});

describe('Idempotency-Key: personal data and GraphQL', () => {
  it('a key used by a caller who sees personal data is never replayed to one who does not', async () => {
    const tenant = await t.newTenant();
    const body = { externalId: `pii-${unique()}`, email: `pii-${unique()}@example.com`, firstName: 'Ana' };
    const key = { 'idempotency-key': `pii-${unique()}` };
    const first = await tenant.client.post('/v1/customers', body, key);
    expect(first.statusCode).toBe(201);
    expect(first.json().email).toBe(body.email);
    const writer = t.as(
      await t.token({ id: tenant.id, slug: tenant.slug }, ['customers:write', 'customers:read']),
    );
    const replay = await writer.post('/v1/customers', body, key);
    expect(replay.statusCode).toBe(422);
    expect(replay.json().code).toBe('idempotency_key_reused');
    expect(replay.body).not.toContain(body.email);
  });

  it('createCustomer, recordInteraction, reply and recordFeedback take an idempotencyKey', async () => {
    const { client } = await t.newTenant();
    const create = `mutation($input: CustomerInput!, $key: String) {
      createCustomer(input: $input, idempotencyKey: $key) { id version } }`;
    const input = { externalId: `g-${unique()}`, firstName: 'Ana' };
    const a = await client.graphql(create, { input, key: 'g1' });
    const b = await client.graphql(create, { input, key: 'g1' });
    expect(a.body.errors).toBeUndefined();
    expect(b.body.data).toEqual(a.body.data);
    const customerId = a.body.data!.createCustomer.id;
    const other = await client.graphql(create, { input: { ...input, firstName: 'Otra' }, key: 'g1' });
    expect(other.body.errors?.[0]?.extensions?.code).toBe('idempotency_key_reused');
    const tooLong = await client.graphql(create, { input, key: 'x'.repeat(256) });
    expect(tooLong.body.errors?.[0]?.extensions).toMatchObject({
      code: 'validation_failed',
      errors: [expect.objectContaining({ path: 'idempotencyKey' })],
    });

    const record = `mutation($input: InteractionInput!, $key: String) {
      recordInteraction(input: $input, idempotencyKey: $key) { id } }`;
    const interaction = { customerId, channel: 'phone', direction: 'inbound', type: 'inquiry' };
    const first = await client.graphql(record, { input: interaction, key: 'g2' });
    const again = await client.graphql(record, { input: interaction, key: 'g2' });
    expect(first.body.errors).toBeUndefined();
    expect(again.body.data).toEqual(first.body.data);

    const answer = `mutation($id: ID!, $key: String) {
      reply(id: $id, input: { body: "Hola" }, idempotencyKey: $key) { id } }`;
    const id = first.body.data!.recordInteraction.id;
    const r1 = await client.graphql(answer, { id, key: 'g3' });
    const r2 = await client.graphql(answer, { id, key: 'g3' });
    expect(r1.body.errors).toBeUndefined();
    expect(r2.body.data).toEqual(r1.body.data);

    const feedback = `mutation($input: FeedbackInput!, $key: String) {
      recordFeedback(input: $input, idempotencyKey: $key) { id } }`;
    const given = { customerId, dimension: 'overall', expectation: 5, perception: 6 };
    const f1 = await client.graphql(feedback, { input: given, key: 'g4' });
    const f2 = await client.graphql(feedback, { input: given, key: 'g4' });
    expect(f1.body.errors).toBeUndefined();
    expect(f2.body.data).toEqual(f1.body.data);

    expect(await count(client, `/v1/interactions?customerId=${customerId}`)).toBe(2);
    expect(await count(client, `/v1/feedback?customerId=${customerId}`)).toBe(1);
  });
});
