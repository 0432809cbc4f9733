import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('ids in upper case', () => {
  it('name the same rows as in lower case: in paths, references, definitions and campaign triggers', async () => {
    const { client } = await t.newTenant();
    const ana = await newCustomer(client, { firstName: 'Ana' });
    const upper = (id: string) => id.toUpperCase();

    // a reference
    const referred = await client.post('/v1/customers', {
      firstName: 'Luis',
      referredBy: { kind: 'customer', id: upper(ana.id) },
    });
    expect(referred.statusCode, referred.body).toBe(201);
    expect(referred.json().referredBy).toEqual({ kind: 'customer', id: ana.id });

    // a definition naming a segment, and a cycle named through the path in upper case
    const base = await client.post('/v1/segments', {
      name: 'base',
      definition: { version: 1, all: [{ field: 'status', op: 'eq', value: 'potential' }] },
    });
    expect(base.statusCode, base.body).toBe(201);
    const derived = await client.post('/v1/segments', {
      name: 'derived',
      definition: { version: 1, all: [{ field: 'segment', op: 'in', value: [upper(base.json().id)] }] },
    });
    expect(derived.statusCode, derived.body).toBe(201);
    expect(derived.json().dependsOn).toEqual([base.json().id]);
    const cycle = await client.patch(`/v1/segments/${upper(base.json().id)}`, {
      definition: { version: 1, all: [{ field: 'segment', op: 'in', value: [derived.json().id] }] },
    });
    expect(cycle.statusCode, cycle.body).toBe(400);
    expect(JSON.stringify(cycle.json().errors)).toContain('a cycle');
    // the same through GraphQL
    const gql = await client.graphql(
      'mutation($id: ID!, $input: UpdateSegmentInput!) { updateSegment(id: $id, input: $input) { id } }',
      {
        id: upper(base.json().id),
        input: {
          definition: { version: 1, all: [{ field: 'segment', op: 'in', value: [derived.json().id] }] },
        },
      },
    );
    expect(gql.body.errors?.[0]?.extensions?.code).toBe('validation_failed');
    expect(JSON.stringify(gql.body.errors)).toContain('a cycle');

    // a campaign's trigger and variant segments are kept as the database names them
    const campaign = await client.post('/v1/campaigns', {
      name: 'welcome upper',
      kind: 'welcome',
      channel: 'email',
      trigger: { type: 'segment_entered', segmentId: upper(base.json().id) },
      variants: [
        { key: 'vip', segmentId: upper(derived.json().id), body: 'Hola' },
        { key: 'default', body: 'Hola' },
      ],
    });
    expect(campaign.statusCode, campaign.body).toBe(201);
    expect(campaign.json().trigger.segmentId).toBe(base.json().id);
    expect(campaign.json().variants[0].segmentId).toBe(derived.json().id);
  });
});
