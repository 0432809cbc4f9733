import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** The hook writes after the answer is sent: wait for the entry to land. */
async function auditOf(
  client: TestApp['as'] extends (...a: never[]) => infer C ? C : never,
  query = '',
  atLeast = 1,
) {
  // a deadline, not a number of tries: on a loaded machine the write can take more than a second
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const data = (await client.get(`/v1/audit-log${query}`)).json().data as Record<string, unknown>[];
    if (data.length >= atLeast) return data;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await client.get(`/v1/audit-log${query}`)).json().data as Record<string, unknown>[];
}

describe('the audit log', () => {
  it('records writes, GraphQL mutations, exports, erasures, partner reads and refused requests — never the data or the token', async () => {
    const tenant = await t.newTenant();
    const { client } = tenant;
    const c = await newCustomer(client, { email: 'audit-me@example.com' });
    await client.patch(`/v1/customers/${c.id}`, { firstName: 'Ana' });
    await client.get(`/v1/customers/${c.id}`); // a read by the tenant's own token: not audited
    await client.graphql('mutation { createSegment(input: { name: "g", kind: static }) { id } }');
    await client.graphql('{ segments(first: 1) { nodes { id } } }'); // a query: not audited
    const list = (await client.get('/v1/segments')).json().data[0];
    const partner = t.as(await t.token(tenant, ['segments:read'], { segments: [list.id] }));
    await partner.get(`/v1/segments/${list.id}/members`);
    const weak = t.as(await t.token(tenant, ['customers:read']));
    expect((await weak.delete(`/v1/customers/${c.id}`)).statusCode).toBe(403);
    await client.get(`/v1/customers/${c.id}/export`);
    await client.delete(`/v1/customers/${c.id}`);

    const entries = await auditOf(client, '', 7);
    const summary = entries.map((e) => [e.kind, e.action, e.status]).reverse();
    expect(summary).toEqual([
      ['write', 'POST /v1/customers', 201],
      ['write', 'PATCH /v1/customers/:id', 200],
      ['write', 'graphql mutation createSegment', 200],
      ['read', 'GET /v1/segments/:id/members', 200],
      ['auth_failure', 'DELETE /v1/customers/:id', 403],
      ['export', 'GET /v1/customers/:id/export', 200],
      ['erasure', 'DELETE /v1/customers/:id', 200],
    ]);
    const text = JSON.stringify(entries);
    expect(text).not.toContain('audit-me@example.com');
    expect(text).not.toContain('Ana');
    expect(text).not.toContain(tenant.token);
    expect(entries.every((e) => typeof e.requestId === 'string' && e.actor)).toBe(true);
    expect(entries.find((e) => e.kind === 'erasure')?.resource).toBe(c.id);

    const filtered = await auditOf(client, `?kind=erasure&resource=${c.id}`);
    expect(filtered.map((e) => e.action)).toEqual(['DELETE /v1/customers/:id']);
    const byAction = await auditOf(client, '?action=PATCH');
    expect(byAction).toHaveLength(1);
    expect((await client.get('/v1/audit-log?kind=nope')).statusCode).toBe(400);
    expect((await weak.get('/v1/audit-log')).statusCode).toBe(403);
  });

  it('an export or an erasure that cannot be logged is not served: the export is a 500, the erasure rolls back', async () => {
    const { client } = await t.newTenant();
    const c = await newCustomer(client);
    const { audit } = t.app.services;
    const recordIn = audit.recordIn.bind(audit);
    audit.recordIn = async () => {
      throw new Error('the audit log is unavailable');
    };
    try {
      const exported = await client.get(`/v1/customers/${c.id}/export`);
      expect(exported.statusCode).toBe(500);
      expect(exported.body).not.toContain(c.email);
      expect((await client.delete(`/v1/customers/${c.id}`)).statusCode).toBe(500);
    } finally {
      audit.recordIn = recordIn;
    }
    expect((await client.get(`/v1/customers/${c.id}`)).json().email).toBe(c.email);
    // logged with their work: each entry is there once the answer is, and only once
    expect((await client.get(`/v1/customers/${c.id}/export`)).statusCode).toBe(200);
    expect((await client.delete(`/v1/customers/${c.id}`)).statusCode).toBe(200);
    for (const kind of ['export', 'erasure']) {
      const data = (await client.get(`/v1/audit-log?kind=${kind}`)).json().data as { status: number }[];
      expect(
        data.filter((e) => e.status === 200),
        kind,
      ).toHaveLength(1);
    }
  });
});
