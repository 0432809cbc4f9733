import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TENANT_SCOPES } from '../src/platform/auth.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { orderBody } from './helpers/factories.ts';

let t: TestApp;
let platform: Client;
beforeAll(async () => {
  t = await createTestApp();
  platform = t.as(await t.token(null, ['platform:admin']));
});
afterAll(() => t.close());

const slug = () => `s-${randomUUID().slice(0, 12)}`;
const subjectOf = (jwt: string) =>
  (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub;

describe('POST /v1/tenants', () => {
  it('creates a tenant with a platform token, with EUR and Europe/Madrid by default', async () => {
    const s = slug();
    const res = await platform.post('/v1/tenants', { name: 'Zapatería Lola', slug: s });
    expect(res.statusCode, res.body).toBe(201);
    const tenant = res.json();
    expect(tenant).toMatchObject({
      slug: s,
      name: 'Zapatería Lola',
      currency: 'EUR',
      timezone: 'Europe/Madrid',
    });
    expect(tenant.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await t.app.services.tenants.find(s)).toMatchObject({ id: tenant.id, slug: s });
  });

  it('keeps the currency and timezone it is given', async () => {
    const res = await platform.post('/v1/tenants', {
      name: 'Tienda MX',
      slug: slug(),
      currency: 'MXN',
      timezone: 'America/Mexico_City',
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ currency: 'MXN', timezone: 'America/Mexico_City' });
  });

  it('refuses a duplicate slug with 409 tenant_slug_taken', async () => {
    const s = slug();
    expect((await platform.post('/v1/tenants', { name: 'One', slug: s })).statusCode).toBe(201);
    const res = await platform.post('/v1/tenants', { name: 'Two', slug: s });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().code).toBe('tenant_slug_taken');
    expect((await t.app.services.tenants.find(s))?.name).toBe('One');
  });

  it('finds by id or slug; a 36-character slug that is not a UUID is a slug', async () => {
    const s = `a${'-'.repeat(35)}`;
    const res = await platform.post('/v1/tenants', { name: 'Dashes', slug: s });
    expect(res.statusCode, res.body).toBe(201);
    expect((await t.app.services.tenants.find(s))?.id).toBe(res.json().id);
    expect((await t.app.services.tenants.find(res.json().id))?.slug).toBe(s);
  });

  it.each([
    ['currency', { currency: 'EURO' }],
    ['timezone', { timezone: 'Europe/Atlantis' }],
    ['slug', { slug: 'Not A Slug' }],
    ['slug', { slug: randomUUID() }],
    ['name', { name: '' }],
  ])('refuses an invalid %s with 400 naming it, and creates nothing', async (path, override) => {
    const s = slug();
    const res = await platform.post('/v1/tenants', { name: 'Bad', slug: s, ...override });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
    expect(res.json().errors).toEqual([expect.objectContaining({ path })]);
    expect(await t.app.services.tenants.find(s)).toBeUndefined();
  });

  it('refuses a tenant token, even with every tenant scope (403)', async () => {
    const { client } = await t.newTenant();
    const s = slug();
    const res = await client.post('/v1/tenants', { name: 'Sneaky', slug: s });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('insufficient_scope');
    expect(await t.app.services.tenants.find(s)).toBeUndefined();
  });

  it('refuses a request without a token (401)', async () => {
    const res = await t.as().post('/v1/tenants', { name: 'Anon', slug: slug() });
    expect(res.statusCode).toBe(401);
  });
});

describe('GET /v1/tenants', () => {
  it('lists tenants page by page with a cursor, in creation order, without duplicates', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 3; i++) {
      mine.push((await platform.post('/v1/tenants', { name: `List ${i}`, slug: slug() })).json().id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await platform.get(
        `/v1/tenants?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.statusCode).toBe(200);
      const page = res.json() as { data: { id: string }[]; nextCursor: string | null };
      expect(page.data.length).toBeLessThanOrEqual(50);
      seen.push(...page.data.map((d) => d.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 200);
    expect(cursor).toBeNull();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => mine.includes(id))).toEqual(mine);
  });

  it('pages with a small limit and refuses a forged cursor', async () => {
    await platform.post('/v1/tenants', { name: 'Page', slug: slug() });
    const first = await platform.get('/v1/tenants?limit=1');
    expect(first.json().data).toHaveLength(1);
    const next = first.json().nextCursor as string;
    expect(next).toEqual(expect.any(String));
    const second = await platform.get(`/v1/tenants?limit=1&cursor=${encodeURIComponent(next)}`);
    expect(second.statusCode).toBe(200);
    expect(second.json().data[0].id).not.toBe(first.json().data[0].id);

    const forged = `${Buffer.from(randomUUID()).toString('base64url')}.AAAAAAAAAAAAAAAAAAAAAA`;
    const bad = await platform.get(`/v1/tenants?limit=1&cursor=${forged}`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('invalid_cursor');
  });

  it('refuses a tenant token (403)', async () => {
    const { client } = await t.newTenant();
    expect((await client.get('/v1/tenants')).statusCode).toBe(403);
  });
});

describe('/v1/settings', () => {
  it('reads and updates the settings with an admin token', async () => {
    const tenant = await t.newTenant();
    const admin = t.as(await t.token(tenant, ['admin']));
    const read = await admin.get('/v1/settings');
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ tenantId: tenant.id, currency: 'EUR', timezone: 'Europe/Madrid' });

    const patch = await admin.patch('/v1/settings', { currency: 'MXN', timezone: 'America/Mexico_City' });
    expect(patch.statusCode, patch.body).toBe(200);
    expect(patch.json()).toMatchObject({
      tenantId: tenant.id,
      currency: 'MXN',
      timezone: 'America/Mexico_City',
    });
    expect((await admin.get('/v1/settings')).json()).toMatchObject({
      currency: 'MXN',
      timezone: 'America/Mexico_City',
    });
  });

  it('takes the current IANA names Intl lists under older ones, and PostgreSQL reads them', async () => {
    const tenant = await t.newTenant();
    const admin = t.as(await t.token(tenant, ['admin']));
    const customer = (await tenant.client.post('/v1/customers', { email: 'tz@example.com' })).json();
    const complaint = await tenant.client.post('/v1/interactions', {
      customerId: customer.id,
      channel: 'email',
      direction: 'inbound',
      type: 'complaint',
      occurredAt: '2026-01-31T23:00:00Z',
    });
    expect(complaint.statusCode, complaint.body).toBe(201);
    // 23:00 UTC on 31 January, in each zone's month
    const months = {
      'Asia/Kolkata': '2026-02',
      'Europe/Kyiv': '2026-02',
      'America/Argentina/Buenos_Aires': '2026-01',
      'Etc/UTC': '2026-01',
    };
    for (const [timezone, month] of Object.entries(months)) {
      const res = await admin.patch('/v1/settings', { timezone });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().timezone).toBe(timezone);
      // the months of the voice insights are the tenant's, cut in PostgreSQL
      const insights = await tenant.client.get(
        '/v1/insights/voice?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z',
      );
      expect(insights.statusCode, insights.body).toBe(200);
      expect(insights.json().byMonth).toEqual([{ key: month, cases: 1 }]);
    }
  });

  it.each([
    ['currency', { currency: 'EURO' }],
    ['timezone', { timezone: 'Mars/Olympus' }],
    ['timezone', { timezone: '+01:00' }],
    ['color', { color: 'red' }],
  ])('refuses an invalid %s with 400 and leaves the settings unchanged', async (path, body) => {
    const tenant = await t.newTenant();
    const admin = t.as(await t.token(tenant, ['admin']));
    const res = await admin.patch('/v1/settings', { name: 'Renamed', ...body });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([expect.objectContaining({ path })]);
    expect((await admin.get('/v1/settings')).json()).toMatchObject({
      name: `Tenant ${tenant.slug}`,
      currency: 'EUR',
      timezone: 'Europe/Madrid',
    });
  });

  it('keeps the currency once orders are recorded in it (409 currency_in_use), nothing changed', async () => {
    const tenant = await t.newTenant();
    const admin = t.as(await t.token(tenant, ['admin']));
    expect(
      (await tenant.client.post('/v1/orders', orderBody({ customer: { email: 'buyer@example.com' } })))
        .statusCode,
    ).toBe(201);
    const res = await admin.patch('/v1/settings', { currency: 'USD', name: 'Renamed' });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({ code: 'currency_in_use', errors: [{ path: 'currency' }] });
    expect((await admin.get('/v1/settings')).json()).toMatchObject({
      currency: 'EUR',
      name: `Tenant ${tenant.slug}`,
    });
    // the same currency again is no change, and other fields still update
    const same = await admin.patch('/v1/settings', { currency: 'EUR', name: 'Renamed' });
    expect(same.statusCode, same.body).toBe(200);
    expect(same.json()).toMatchObject({ currency: 'EUR', name: 'Renamed' });
  });

  it('never lets a currency change cross an order batch in flight', async () => {
    const tenant = await t.newTenant();
    const admin = t.as(await t.token(tenant, ['admin']));
    const items = Array.from({ length: 1000 }, (_, i) =>
      orderBody({ customer: { email: `b${i}@example.com` } }),
    );
    const batch = tenant.client.post('/v1/orders/batch', { items });
    // sent while the batch is being written (it read the currency when it started)
    await new Promise((resolve) => setTimeout(resolve, 30));
    const patch = await admin.patch('/v1/settings', { currency: 'USD' });
    const results = (await batch).json().results as { status: string }[];
    const currency = (await admin.get('/v1/settings')).json().currency;
    const created = results.filter((r) => r.status === 'created').length;
    if (patch.statusCode === 409) {
      expect(currency).toBe('EUR');
      expect(created).toBe(1000);
    } else {
      // the change came first: the batch saw USD and refused its EUR orders without baseTotal
      expect(patch.statusCode).toBe(200);
      expect(currency).toBe('USD');
      expect(created).toBe(0);
    }
    const stored = (await tenant.client.get('/v1/orders?limit=500')).json().data as {
      baseTotal: { currency: string };
    }[];
    expect(stored.length).toBe(Math.min(created, 500));
    for (const o of stored) expect(o.baseTotal.currency).toBe(currency);
  });

  it('keeps both of two concurrent patches of different sections', async () => {
    const tenant = await t.newTenant();
    const admin = t.as(await t.token(tenant, ['admin']));
    // without the lock a patch that read the settings before another committed writes them back
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        i % 2 === 0
          ? admin.patch('/v1/settings', {
              sla: { complaint: { firstResponseHours: 10 + i, resolutionHours: 100 } },
            })
          : admin.patch('/v1/settings', { campaigns: { frequencyCap: { messages: 2, days: 10 + i } } }),
      ),
    );
    for (const res of results) expect(res.statusCode, res.body).toBe(200);
    const after = (await admin.get('/v1/settings')).json();
    expect(after.sla.complaint.resolutionHours).toBe(100);
    expect(after.campaigns.frequencyCap.messages).toBe(2);
  });

  it('refuses an unknown campaign settings key with 400 at its path', async () => {
    const tenant = await t.newTenant();
    const admin = t.as(await t.token(tenant, ['admin']));
    const res = await admin.patch('/v1/settings', {
      campaigns: { frequencyCap: { messages: 1, days: 7, dayz: 3 } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([expect.objectContaining({ path: 'campaigns.frequencyCap.dayz' })]);
    expect((await admin.get('/v1/settings')).json().campaigns).toEqual({
      frequencyCap: { messages: 3, days: 7 },
    });
  });

  it('refuses tokens without admin (403), and a platform token without a tenant', async () => {
    const tenant = await t.newTenant();
    const noAdmin = t.as(
      await t.token(
        tenant,
        TENANT_SCOPES.filter((s) => s !== 'admin'),
      ),
    );
    const get = await noAdmin.get('/v1/settings');
    expect(get.statusCode).toBe(403);
    expect(get.json().code).toBe('insufficient_scope');
    expect((await noAdmin.patch('/v1/settings', { currency: 'USD' })).statusCode).toBe(403);
    expect((await platform.get('/v1/settings')).statusCode).toBe(403);
    expect((await tenant.client.get('/v1/settings')).json().currency).toBe('EUR');
  });
});

describe('GraphQL settings and viewer', () => {
  it('reads and updates settings', async () => {
    const tenant = await t.newTenant();
    const read = await tenant.client.graphql('{ settings { tenantId name currency timezone } }');
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data!.settings).toEqual({
      tenantId: tenant.id,
      name: `Tenant ${tenant.slug}`,
      currency: 'EUR',
      timezone: 'Europe/Madrid',
    });
    const update = await tenant.client.graphql(
      'mutation { updateSettings(input: { currency: "USD", timezone: "UTC" }) { currency timezone } }',
    );
    expect(update.body.errors).toBeUndefined();
    expect(update.body.data!.updateSettings).toEqual({ currency: 'USD', timezone: 'UTC' });
    expect((await tenant.client.get('/v1/settings')).json()).toMatchObject({
      currency: 'USD',
      timezone: 'UTC',
    });
  });

  it('reads and updates the campaign rules', async () => {
    const tenant = await t.newTenant();
    const read = await tenant.client.graphql('{ settings { campaigns } }');
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data!.settings).toEqual({ campaigns: { frequencyCap: { messages: 3, days: 7 } } });
    const update = await tenant.client.graphql(
      'mutation { updateSettings(input: { campaigns: { frequencyCap: { messages: 1, days: 14 } } }) { campaigns } }',
    );
    expect(update.body.errors).toBeUndefined();
    expect(update.body.data!.updateSettings).toEqual({
      campaigns: { frequencyCap: { messages: 1, days: 14 } },
    });
    expect((await tenant.client.get('/v1/settings')).json().campaigns).toEqual({
      frequencyCap: { messages: 1, days: 14 },
    });
  });

  it('refuses an invalid currency with validation_failed at input.currency, unchanged', async () => {
    const tenant = await t.newTenant();
    const { body } = await tenant.client.graphql(
      'mutation { updateSettings(input: { currency: "EURO" }) { currency } }',
    );
    expect(body.errors?.[0]?.extensions?.code).toBe('validation_failed');
    expect(body.errors?.[0]?.extensions?.errors).toEqual([
      expect.objectContaining({ path: 'input.currency' }),
    ]);
    expect((await tenant.client.get('/v1/settings')).json().currency).toBe('EUR');
  });

  it('requires admin for settings', async () => {
    const tenant = await t.newTenant();
    const reader = t.as(await t.token(tenant, ['customers:read']));
    const read = await reader.graphql('{ settings { currency } }');
    expect(read.body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
    const write = await reader.graphql(
      'mutation { updateSettings(input: { currency: "USD" }) { currency } }',
    );
    expect(write.body.errors?.[0]?.extensions?.code).toBe('insufficient_scope');
    expect((await tenant.client.get('/v1/settings')).json().currency).toBe('EUR');
  });

  it('tells the caller who it is', async () => {
    const tenant = await t.newTenant();
    const token = await t.token(tenant, ['customers:read', 'admin']);
    const { body } = await t.as(token).graphql('{ viewer { subject tenantId scopes } }');
    expect(body.errors).toBeUndefined();
    expect(body.data!.viewer).toEqual({
      subject: subjectOf(token),
      tenantId: tenant.id,
      scopes: ['customers:read', 'admin'],
    });

    const platformToken = await t.token(null, ['platform:admin']);
    const p = await t.as(platformToken).graphql('{ viewer { subject tenantId scopes } }');
    expect(p.body.data!.viewer).toEqual({
      subject: subjectOf(platformToken),
      tenantId: null,
      scopes: ['platform:admin'],
    });
  });
});
