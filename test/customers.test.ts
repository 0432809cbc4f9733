import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { newAttribute, newCustomer, newIntermediary } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const uid = () => randomUUID().slice(0, 8);

/** Asserts a problem+json answer and returns its body. */
function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  expect(body.detail).toEqual(expect.any(String));
  return body as { code: string; errors?: { path: string; message: string }[]; [k: string]: unknown };
}

const paths = (body: { errors?: { path: string }[] }) => (body.errors ?? []).map((e) => e.path);

async function listAll(client: Client, query = '') {
  const res = await client.get(`/v1/customers?limit=500${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as Record<string, any>[];
}

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

  it('stores every field and lists customers oldest first', async () => {
    const { client } = await t.newTenant();
    const full = await newCustomer(client, {
      phone: '+34 600 123 456',
      birthDate: '1988-04-12',
      locale: 'es-ES',
      address: { line: 'Calle Sierpes 12', city: 'Sevilla', country: 'ES' },
      tags: ['vip', 'newsletter', 'vip'],
      consent: { email: { granted: true, at: '2026-01-10T09:30:00Z' }, sms: { granted: false } },
      source: 'instagram',
    });
    const res = await client.get(`/v1/customers/${full.id}`);
    expect(res.json()).toMatchObject({
      phone: '+34 600 123 456',
      birthDate: '1988-04-12',
      locale: 'es-ES',
      address: { line: 'Calle Sierpes 12', city: 'Sevilla', region: null, postalCode: null, country: 'ES' },
      tags: ['vip', 'newsletter'],
      consent: {
        email: { granted: true, at: '2026-01-10T09:30:00.000Z' },
        sms: { granted: false, at: expect.any(String) },
      },
      source: 'instagram',
      lifecyclePhase: 'acquisition',
      version: 1,
    });
    const second = await newCustomer(client);
    const third = await newCustomer(client);
    expect((await listAll(client)).map((c) => c.id)).toEqual([full.id, second.id, third.id]);
  });

  it('PATCH changes fields, merges consent and null clears a field', async () => {
    const { client } = await t.newTenant();
    const c = await newCustomer(client, {
      phone: '+34 600 000 001',
      address: { city: 'Sevilla', country: 'ES' },
      source: 'store',
      consent: { email: { granted: true } },
    });
    const res = await client.patch(`/v1/customers/${c.id}`, {
      lastName: 'Pérez',
      phone: null,
      source: null,
      address: { postalCode: '41004' },
      consent: { sms: { granted: true } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const got = (await client.get(`/v1/customers/${c.id}`)).json();
    expect(got).toMatchObject({ lastName: 'Pérez', firstName: c.firstName, phone: null, source: null });
    expect(got.address).toEqual({
      line: null,
      city: 'Sevilla',
      region: null,
      postalCode: '41004',
      country: 'ES',
    });
    expect(Object.keys(got.consent).sort()).toEqual(['email', 'sms']);
    await client.patch(`/v1/customers/${c.id}`, { address: null, email: null });
    const cleared = (await client.get(`/v1/customers/${c.id}`)).json();
    expect(cleared.email).toBeNull();
    expect(cleared.address).toEqual({
      line: null,
      city: null,
      region: null,
      postalCode: null,
      country: null,
    });
  });

  it('unknown id → 404, malformed id → 400', async () => {
    const { client } = await t.newTenant();
    expectProblem(await client.get(`/v1/customers/${randomUUID()}`), 404, 'customer_not_found');
    expectProblem(
      await client.patch(`/v1/customers/${randomUUID()}`, { firstName: 'X' }),
      404,
      'customer_not_found',
    );
    const bad = expectProblem(await client.get('/v1/customers/not-a-uuid'), 400, 'validation_failed');
    expect(paths(bad)).toEqual(['params.id']);
  });
});

describe('customer uniqueness', () => {
  it('emails are stored lower-case and unique case-insensitively (409 with existingId)', async () => {
    const { client } = await t.newTenant();
    const first = await newCustomer(client, { email: 'Marta@Example.com' });
    expect(first.email).toBe('marta@example.com');
    const dup = expectProblem(
      await client.post('/v1/customers', { email: 'MARTA@example.COM', externalId: 'other' }),
      409,
      'customer_email_taken',
    );
    expect(dup.existingId).toBe(first.id);
    expect((await listAll(client)).map((c) => c.id)).toEqual([first.id]);

    const second = await newCustomer(client);
    const patch = expectProblem(
      await client.patch(`/v1/customers/${second.id}`, { email: 'marta@EXAMPLE.com' }),
      409,
      'customer_email_taken',
    );
    expect(patch.existingId).toBe(first.id);
    expect((await client.get(`/v1/customers/${second.id}`)).json().email).toBe(second.email);
  });

  it('a duplicate externalId → 409 customer_external_id_taken with existingId', async () => {
    const { client } = await t.newTenant();
    const first = await newCustomer(client, { externalId: 'shop-1' });
    const dup = expectProblem(
      await client.post('/v1/customers', { externalId: 'shop-1', email: 'new@example.com' }),
      409,
      'customer_external_id_taken',
    );
    expect(dup.existingId).toBe(first.id);
    expect(await listAll(client, '&email=new%40example.com')).toEqual([]);
  });
});

describe('customer validation', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['externalId not a string', { externalId: 5 }, 'externalId'],
    ['invalid email', { email: 'nope' }, 'email'],
    ['invalid phone', { phone: 'abc' }, 'phone'],
    ['firstName not a string', { firstName: 5 }, 'firstName'],
    ['lastName an object', { lastName: {} }, 'lastName'],
    ['birthDate not a date', { birthDate: 'yesterday' }, 'birthDate'],
    ['birthDate in the future', { birthDate: `${new Date().getUTCFullYear() + 1}-01-01` }, 'birthDate'],
    ['locale not BCP 47', { locale: 'Spanish' }, 'locale'],
    ['address.country not ISO', { address: { country: 'Spain' } }, 'address.country'],
    ['address.city not a string', { address: { city: 5 } }, 'address.city'],
    ['attributes not an object', { attributes: 'x' }, 'attributes'],
    ['tags not an array', { tags: 'x' }, 'tags'],
    ['a tag of 51 characters', { tags: ['ok', 'x'.repeat(51)] }, 'tags[1]'],
    ['consent.email not an object', { consent: { email: true } }, 'consent.email'],
    ['consent for an unknown channel', { consent: { fax: { granted: true } } }, 'consent.fax'],
    ['source not a string', { source: 5 }, 'source'],
    ['referredBy of an unknown kind', { referredBy: { kind: 'friend' } }, 'referredBy.kind'],
    ['accountManagerId not a uuid', { accountManagerId: 'x' }, 'accountManagerId'],
    ['an unknown field', { nickname: 'Lu' }, 'nickname'],
    ['read-only status', { status: 'active' }, 'status'],
    ['firstName of 101 characters', { firstName: 'a'.repeat(101) }, 'firstName'],
  ];

  it.each(cases)('%s → 400 naming the field, nothing written', async (_name, body, path) => {
    const { client } = await t.newTenant();
    const res = await client.post('/v1/customers', { externalId: `ext-${uid()}`, ...body });
    const problem = expectProblem(res, 400, 'validation_failed');
    expect(paths(problem)).toContain(path);
    expect(await listAll(client)).toEqual([]);
  });

  it('PATCH validates the same way and leaves the row as it was', async () => {
    const { client } = await t.newTenant();
    const c = await newCustomer(client);
    const res = await client.patch(`/v1/customers/${c.id}`, { firstName: 'Ok', birthDate: 'yesterday' });
    expect(paths(expectProblem(res, 400, 'validation_failed'))).toContain('birthDate');
    const status = await client.patch(`/v1/customers/${c.id}`, { status: 'active' });
    expect(paths(expectProblem(status, 400, 'validation_failed'))).toContain('status');
    const got = (await client.get(`/v1/customers/${c.id}`)).json();
    expect(got).toMatchObject({ firstName: c.firstName, version: 1, status: 'potential' });
  });
});

describe('custom attributes on customers', () => {
  async function tenantWithAttributes() {
    const tenant = await t.newTenant();
    await newAttribute(tenant.client, { key: 'children', label: 'Children', type: 'number' });
    await newAttribute(tenant.client, {
      key: 'car',
      label: 'Car',
      type: 'enum',
      values: ['none', 'compact', 'SUV'],
    });
    return tenant;
  }

  it('an unknown key → 400 unknown_attribute naming it; nothing written', async () => {
    const { client } = await tenantWithAttributes();
    const res = await client.post('/v1/customers', { attributes: { children: 1, pets: 2 } });
    expect(paths(expectProblem(res, 400, 'unknown_attribute'))).toEqual(['attributes.pets']);
    expect(await listAll(client)).toEqual([]);
  });

  it('a wrong type → 400 invalid_attribute naming it; nothing written', async () => {
    const { client } = await tenantWithAttributes();
    const num = await client.post('/v1/customers', { attributes: { children: 'two' } });
    expect(paths(expectProblem(num, 400, 'invalid_attribute'))).toEqual(['attributes.children']);
    const en = await client.post('/v1/customers', { attributes: { car: 'truck' } });
    expect(paths(expectProblem(en, 400, 'invalid_attribute'))).toEqual(['attributes.car']);
    expect(await listAll(client)).toEqual([]);
  });

  it('stores valid attributes; PATCH merges keys and null removes one', async () => {
    const { client } = await tenantWithAttributes();
    const c = await newCustomer(client, { attributes: { children: 2, car: 'SUV' } });
    expect(c.attributes).toEqual({ children: 2, car: 'SUV' });
    const merged = await client.patch(`/v1/customers/${c.id}`, { attributes: { car: 'compact' } });
    expect(merged.statusCode, merged.body).toBe(200);
    expect((await client.get(`/v1/customers/${c.id}`)).json().attributes).toEqual({
      children: 2,
      car: 'compact',
    });
    await client.patch(`/v1/customers/${c.id}`, { attributes: { children: null } });
    expect((await client.get(`/v1/customers/${c.id}`)).json().attributes).toEqual({ car: 'compact' });
    const bad = await client.patch(`/v1/customers/${c.id}`, { attributes: { car: 'truck' } });
    expectProblem(bad, 400, 'invalid_attribute');
    expect((await client.get(`/v1/customers/${c.id}`)).json().attributes).toEqual({ car: 'compact' });
  });
});

describe('personal data', () => {
  const PII = ['email', 'phone', 'birthDate', 'address'];

  it('a token without customers:pii sees no email, phone, birth date or address', async () => {
    const tenant = await t.newTenant();
    const c = await newCustomer(tenant.client, {
      phone: '+34 600 123 456',
      birthDate: '1990-01-01',
      address: { city: 'Sevilla' },
    });
    const reader = t.as(await t.token(tenant, ['customers:read']));
    const got = await reader.get(`/v1/customers/${c.id}`);
    expect(got.statusCode, got.body).toBe(200);
    for (const key of PII) expect(Object.keys(got.json())).not.toContain(key);
    expect(got.json().firstName).toBe(c.firstName);
    const list = await reader.get('/v1/customers');
    expect(list.statusCode).toBe(200);
    expect(list.json().data).toHaveLength(1);
    for (const key of PII) expect(Object.keys(list.json().data[0])).not.toContain(key);
    expectProblem(
      await reader.get(`/v1/customers?email=${encodeURIComponent(c.email)}`),
      403,
      'insufficient_scope',
    );
    // the full token still sees everything
    const full = (await tenant.client.get(`/v1/customers/${c.id}`)).json();
    for (const key of PII) expect(Object.keys(full)).toContain(key);
    expect(await listAll(tenant.client, `&email=${encodeURIComponent(c.email.toUpperCase())}`)).toHaveLength(
      1,
    );
  });
});

describe('customer references', () => {
  it('accountManagerId and referredBy must point at this tenant’s rows (else 422, nothing written)', async () => {
    const { client } = await t.newTenant();
    const other = await t.newTenant();
    const prescriber = await newIntermediary(client, { kind: 'prescriber' });
    const foreignEmployee = await newIntermediary(other.client, { kind: 'employee' });
    const foreignCustomer = await newCustomer(other.client);
    const bodies = [
      { accountManagerId: randomUUID() },
      { accountManagerId: prescriber.id },
      { accountManagerId: foreignEmployee.id },
      { referredBy: { kind: 'customer', id: foreignCustomer.id } },
      { referredBy: { kind: 'customer', id: randomUUID() } },
      { referredBy: { kind: 'intermediary', id: foreignEmployee.id } },
    ];
    for (const body of bodies) {
      const res = await client.post('/v1/customers', { externalId: `ext-${uid()}`, ...body });
      expectProblem(res, 422, 'invalid_reference');
      expect(res.json().errors, JSON.stringify(body)).toEqual([
        expect.objectContaining({ path: Object.keys(body)[0] }),
      ]);
    }
    expect(await listAll(client)).toEqual([]);
  });

  it('stores a valid account manager and referrer; PATCH checks them too', async () => {
    const { client } = await t.newTenant();
    const employee = await newIntermediary(client, { kind: 'employee' });
    const prescriber = await newIntermediary(client, { kind: 'prescriber' });
    const referrer = await newCustomer(client);
    const c = await newCustomer(client, {
      accountManagerId: employee.id,
      referredBy: { kind: 'customer', id: referrer.id },
    });
    const got = (await client.get(`/v1/customers/${c.id}`)).json();
    expect(got.accountManagerId).toBe(employee.id);
    expect(got.referredBy).toEqual({ kind: 'customer', id: referrer.id });

    const viaPrescriber = await client.patch(`/v1/customers/${c.id}`, {
      referredBy: { kind: 'intermediary', id: prescriber.id },
    });
    expect(viaPrescriber.statusCode, viaPrescriber.body).toBe(200);
    expect(viaPrescriber.json().referredBy).toEqual({ kind: 'intermediary', id: prescriber.id });

    expectProblem(
      await client.patch(`/v1/customers/${c.id}`, { accountManagerId: prescriber.id }),
      422,
      'invalid_reference',
    );
    expectProblem(
      await client.patch(`/v1/customers/${c.id}`, { referredBy: { kind: 'customer', id: c.id } }),
      422,
      'invalid_reference',
    );
    const after = (await client.get(`/v1/customers/${c.id}`)).json();
    expect(after.accountManagerId).toBe(employee.id);
    expect(after.referredBy).toEqual({ kind: 'intermediary', id: prescriber.id });
  });
});

describe('ETag and If-Match', () => {
  it('a stale If-Match → 412 and the row is unchanged', async () => {
    const { client } = await t.newTenant();
    const c = await newCustomer(client, { firstName: 'Uno' });
    expect((await client.get(`/v1/customers/${c.id}`)).headers.etag).toBe('"v1"');

    const ok = await client.patch(`/v1/customers/${c.id}`, { firstName: 'Dos' }, { 'if-match': '"v1"' });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.headers.etag).toBe('"v2"');
    expect(ok.json().version).toBe(2);

    const stale = await client.patch(`/v1/customers/${c.id}`, { firstName: 'Tres' }, { 'if-match': '"v1"' });
    expectProblem(stale, 412, 'precondition_failed');
    const got = await client.get(`/v1/customers/${c.id}`);
    expect(got.headers.etag).toBe('"v2"');
    expect(got.json()).toMatchObject({ firstName: 'Dos', version: 2 });

    const star = await client.patch(`/v1/customers/${c.id}`, { firstName: 'Cuatro' }, { 'if-match': '*' });
    expect(star.statusCode, star.body).toBe(200);
    expect(star.headers.etag).toBe('"v3"');

    const none = await client.patch(`/v1/customers/${c.id}`, { firstName: 'Cinco' });
    expect(none.statusCode, none.body).toBe(200);
    expect(none.headers.etag).toBe('"v4"');
    expect((await client.get(`/v1/customers/${c.id}`)).json()).toMatchObject({
      firstName: 'Cinco',
      version: 4,
    });
  });
});
