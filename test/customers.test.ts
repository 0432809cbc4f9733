import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('customers', () => {
  it('creates and reads a customer with its ETag', async () => {
    const { client } = await t.newTenant();
    const created = await newCustomer(client, { email: 'Ana.Lopez@Example.COM' });
    expect(created.email).toBe('ana.lopez@example.com');
    expect(created.status).toBe('potential');
    const res = await client.get(`/v1/customers/${created.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe('"v1"');
    expect(res.json().id).toBe(created.id);
  });
});
