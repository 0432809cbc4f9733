import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { phoneForms } from '../src/modules/customers/customers.fields.ts';
import { anyOf } from '../src/platform/redaction.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { complaintBody, newCustomer, newOrder } from './helpers/factories.ts';

let t: TestApp;
let owner: pg.Client;
beforeAll(async () => {
  t = await createTestApp();
  owner = new pg.Client({ connectionString: inject('ownerUrl') });
  await owner.connect();
});
afterAll(async () => {
  await owner.end();
  await t.close();
});

/**
 * Every table of the database (as the owner, whom RLS does not bind here), searched for a value:
 * the text of each row, and the bytes of each bytea column (uploaded files).
 */
async function tablesHolding(value: string): Promise<string[]> {
  const tables = await owner.query<{ name: string; bytes: string[] }>(
    `SELECT format('%I.%I', t.table_schema, t.table_name) AS name,
       array_remove(array_agg(CASE WHEN c.data_type = 'bytea' THEN quote_ident(c.column_name) END), NULL) AS bytes
     FROM information_schema.tables t JOIN information_schema.columns c USING (table_schema, table_name)
     WHERE t.table_schema IN ('public', 'graphile_worker') AND t.table_type = 'BASE TABLE'
     GROUP BY 1`,
  );
  const found: string[] = [];
  for (const { name, bytes } of tables.rows) {
    const inBytes = bytes.map((col) => ` OR strpos(lower(encode(${col}, 'escape')), lower($1)) > 0`).join('');
    const hit = await owner.query(
      `SELECT 1 FROM ${name} x WHERE strpos(lower(x::text), lower($1)) > 0${inBytes} LIMIT 1`,
      [value],
    );
    if (hit.rowCount) found.push(name);
  }
  return found;
}

describe('erasure: DELETE /v1/customers/:id', () => {
  it('replaces whole values only, in any case (the pattern of other customers’ texts)', async () => {
    const pattern = anyOf(['600123456', 'ana@x.es', '+34 600 1']);
    const { rows } = await owner.query<{ out: string }>(
      `SELECT regexp_replace($1, $2, '[erased]', 'gi') AS out`,
      ['tel 600123456, ref 9600123456, ANA@X.ES, juana@x.es, +34 600 1', pattern],
    );
    expect(rows[0]!.out).toBe('tel [erased], ref 9600123456, [erased], juana@x.es, [erased]');
  });

  it('erases a short email where others quote it too (no length floor for emails)', async () => {
    const { client } = await t.newTenant();
    const email = 'a@x.es';
    const c = await newCustomer(client, { email });
    const other = await newCustomer(client);
    const quoting = await client.post('/v1/interactions', complaintBody(other.id, { body: `como ${email}` }));
    expect(quoting.statusCode, quoting.body).toBe(201);
    expect((await client.delete(`/v1/customers/${c.id}`)).statusCode).toBe(200);
    expect((await client.get(`/v1/interactions/${quoting.json().id}`)).json().body).toBe('como [erased]');
  });

  it('a feedback written while the customer is being erased waits, then is refused (nothing outlives it)', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const c = await newCustomer(client);
    const eraser = new pg.Client({ connectionString: inject('ownerUrl') });
    await eraser.connect();
    try {
      await eraser.query('BEGIN');
      await eraser.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
      await eraser.query('SELECT id FROM customers WHERE id = $1 FOR NO KEY UPDATE', [c.id]);
      const written = client.post('/v1/feedback', {
        customerId: c.id,
        dimension: 'overall',
        expectation: 6,
        perception: 3,
        comment: 'escribidme',
      });
      await new Promise((r) => setTimeout(r, 300));
      await eraser.query(`UPDATE customers SET erased_at = now() WHERE id = $1`, [c.id]);
      await eraser.query('COMMIT');
      const res = await written;
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().code).toBe('invalid_reference');
    } finally {
      await eraser.end();
    }
  });

  it('finds a phone however it is written: spaced, dashed, with 00 or no prefix, in national form', async () => {
    const pattern = anyOf(phoneForms('+34 600 123 456'));
    const text =
      'a 600-123-456, b 0034 600 12 34 56, c (600) 123.456, d 34600123456, e +34600123456, ' +
      'f 9600123456, g 600 123 4567, h 600 12, i +33 600 123 456, j 600 123 456 789, k tel:600123456.';
    const { rows } = await owner.query<{ out: string }>(
      `SELECT regexp_replace($1, $2, '[erased]', 'gi') AS out`,
      [text, pattern],
    );
    expect(rows[0]!.out).toBe(
      'a [erased], b [erased], c ([erased], d [erased], e [erased], f 9600123456, g 600 123 4567, h 600 12, ' +
        'i +33 600 123 456, j 600 123 456 789, k tel:[erased].',
    );
    // a national number too short to be distinctive is not among the forms
    expect(phoneForms('+44 7700 900123')).toEqual([
      '+44 7700 900123',
      '+447700900123',
      '7700900123',
      '07700900123',
    ]);
  });

  it('removes the personal data from every table, events and delivery logs included; orders stay', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const suffix = Math.random().toString(36).slice(2, 10);
    const email = `erase-${suffix}@example.com`;
    const phone = `+3460${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
    // the same phone as a person would write it: national, in groups of three
    const spoken = phone.slice(3).replace(/(\d{3})(?=\d)/g, '$1 ');
    const c = await newCustomer(client, {
      // a short external id must not make the erasure touch rows that merely contain "42"
      externalId: `42${suffix.slice(0, 1)}`,
      email,
      phone,
      firstName: `Nombre${suffix}`,
      birthDate: '1985-02-03',
      address: { line: `Calle ${suffix} 1`, city: 'Sevilla', country: 'ES' },
      consent: { email: { granted: true, source: 'web_form' } },
    });
    await client.post('/v1/webhooks', { url: 'https://example.com/hooks', events: ['*'] });
    const order = await newOrder(client, { customerId: c.id });
    await client.post(
      '/v1/interactions',
      complaintBody(c.id, { body: `Soy ${email}, llamadme al ${phone}` }),
    );
    await client.post('/v1/feedback', {
      customerId: c.id,
      dimension: 'overall',
      expectation: 6,
      perception: 3,
      comment: `escribidme a ${email}`,
    });
    const again = await client.post(
      '/v1/customers',
      { email: `other-${suffix}@example.com`, firstName: 'Otra' },
      { 'idempotency-key': `k-${suffix}` },
    );
    expect(again.statusCode).toBe(201);
    await client.patch(`/v1/customers/${c.id}`, { tags: ['vip'] }, { 'idempotency-key': `p-${suffix}` });
    const otherCustomer = again.json().id as string;
    // another customer's complaint and comment that quote the erased one (in another case)
    const quoting = await client.post(
      '/v1/interactions',
      complaintBody(otherCustomer, {
        body: `Mi vecina ${email.toUpperCase()} (tel. ${phone} o ${spoken}) tampoco recibió nada`,
        metadata: { contact: phone, ticket: 42 },
      }),
    );
    expect(quoting.statusCode, quoting.body).toBe(201);
    await client.post('/v1/feedback', {
      customerId: otherCustomer,
      dimension: 'overall',
      expectation: 5,
      perception: 4,
      comment: `como ${email}, tarde`,
    });
    await newOrder(client, {
      customerId: otherCustomer,
      total: { amount: 4200, currency: 'EUR' },
      items: [],
    });
    // an upload still waiting for a worker (as the API stores it), whose file names the customer
    const importId = randomUUID();
    await owner.query(
      `INSERT INTO imports (tenant_id, id, type, format, status, bytes) VALUES ($1, $2, 'customers', 'csv', 'queued', 40);
       INSERT INTO import_chunks (tenant_id, import_id, seq, data) VALUES ($1, $2, 0, convert_to($3, 'UTF8'))`.split(
        ';',
      )[0]!,
      [tenantId, importId],
    );
    await owner.query(
      `INSERT INTO import_chunks (tenant_id, import_id, seq, data) VALUES ($1, $2, 0, convert_to($3, 'UTF8'))`,
      [tenantId, importId, `email,firstName\n${email.toUpperCase()},Ana\n`],
    );
    // a segment that names the email in its definition
    const byEmail = await client.post('/v1/segments', {
      name: 'by email',
      definition: {
        version: 1,
        all: [
          { field: 'email', op: 'in', value: [email.toUpperCase(), 'someone@else.com'] },
          // a number that is the phone's national digits: a number, not the phone, and kept
          { field: 'purchases.orders', op: 'lt', value: Number(phone.slice(3)) },
        ],
      },
    });
    expect(byEmail.statusCode, byEmail.body).toBe(201);
    // and a campaign whose message quotes it
    const quotingCampaign = await client.post('/v1/campaigns', {
      name: 'quoting',
      kind: 'custom',
      channel: 'email',
      trigger: { type: 'first_order' },
      variants: [
        { key: 'a', subject: 'Hola', body: `Escribe a ${email.toUpperCase()}, o llama al ${spoken}.` },
      ],
    });
    expect(quotingCampaign.statusCode, quotingCampaign.body).toBe(201);
    const list = (await client.post('/v1/segments', { name: 'list', kind: 'static' })).json();
    await client.post(`/v1/segments/${list.id}/members`, { customerIds: [c.id] });
    const before = await tablesHolding(email);
    for (const table of [
      'public.customers',
      'public.events',
      'public.interactions',
      'public.import_chunks',
      'public.segments',
    ])
      expect(before).toContain(table);

    const erased = await client.delete(`/v1/customers/${c.id}`);
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json()).toMatchObject({ customerId: c.id, requestedBy: expect.any(String) });

    for (const value of [email, phone, spoken, `Nombre${suffix}`, `Calle ${suffix} 1`])
      expect(await tablesHolding(value)).toEqual([]);
    // a second request answers the same
    const second = await client.delete(`/v1/customers/${c.id}`);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual(erased.json());
    // the customer is gone from every read and search
    expect((await client.get(`/v1/customers/${c.id}`)).statusCode).toBe(404);
    for (const search of [`email=${encodeURIComponent(email)}`, `q=Nombre${suffix}`, 'tag=vip']) {
      const found = await client.get(`/v1/customers?${search}`);
      expect(found.statusCode).toBe(200);
      expect(found.json().data).toEqual([]);
    }
    expect((await client.get(`/v1/segments/${list.id}`)).json().memberCount).toBe(0);
    expect((await client.get(`/v1/customers/${c.id}/segments`)).statusCode).toBe(404);
    // the order stays, with no personal data
    const kept = await client.get(`/v1/orders/${order.id}`);
    expect(kept.statusCode).toBe(200);
    expect(kept.json().customerId).toBe(c.id);
    // customer.erased carries the id only; the customer's earlier events keep only the id
    const events = (await client.get('/v1/events')).json().data as {
      type: string;
      data: Record<string, unknown>;
    }[];
    expect(events.find((e) => e.type === 'customer.erased')?.data).toEqual({ customerId: c.id });
    expect(events.find((e) => e.type === 'customer.created')?.data).toEqual({
      customerId: c.id,
      erased: true,
    });
    // the other customer's events are untouched, its order too
    expect(JSON.stringify(events)).toContain(`other-${suffix}@example.com`);
    const others = events.filter((e) => e.data.customerId === otherCustomer && e.type === 'order.recorded');
    expect(others).toHaveLength(1);
    expect(others[0]!.data.erased).toBeUndefined();
    // the other customer's complaint and comment keep their text, without the erased one's values
    const quoted = (await client.get(`/v1/interactions/${quoting.json().id}`)).json();
    // whole values only: the reference number that merely contains the phone's digits stays
    expect(quoted.body).toBe('Mi vecina [erased] (tel. [erased] o [erased]) tampoco recibió nada');
    expect(quoted.metadata).toEqual({});
    // edited rows are new versions (new ETags): no client keeps the old text as current
    expect(quoted.version).toBe(quoting.json().version + 1);
    const segment = (await client.get(`/v1/segments/${byEmail.json().id}`)).json();
    expect(segment.version).toBe(byEmail.json().version + 1);
    expect(segment.definition.all).toEqual([
      { field: 'email', op: 'in', value: ['[erased]', 'someone@else.com'] },
      { field: 'purchases.orders', op: 'lt', value: Number(phone.slice(3)) },
    ]);
    const campaign = (await client.get(`/v1/campaigns/${quotingCampaign.json().id}`)).json();
    expect(campaign.version).toBe(quotingCampaign.json().version + 1);
    expect(campaign.variants[0].body).toBe('Escribe a [erased], o llama al [erased].');
    const comments = (await client.get(`/v1/feedback?customerId=${otherCustomer}`)).json().data;
    expect(comments.map((f: any) => f.comment)).toEqual(['como [erased], tarde']);
    // the import that held the email was stopped
    const stopped = (await client.get(`/v1/imports/${importId}`)).json();
    expect(stopped).toMatchObject({ status: 'failed' });
  });

  it('needs privacy:manage; an unknown customer is 404; an order for the erased customer is refused', async () => {
    const tenant = await t.newTenant();
    const c = await newCustomer(tenant.client);
    const open = (await tenant.client.post('/v1/interactions', complaintBody(c.id))).json();
    const writer = t.as(await t.token(tenant, ['customers:write', 'customers:read']));
    expect((await writer.delete(`/v1/customers/${c.id}`)).statusCode).toBe(403);
    expect(
      (await tenant.client.delete('/v1/customers/0193a0a0-0000-7000-8000-000000000000')).statusCode,
    ).toBe(404);
    expect((await tenant.client.delete(`/v1/customers/${c.id}`)).statusCode).toBe(200);
    const late = await tenant.client.post('/v1/orders', {
      source: 'shop',
      externalId: 'late-1',
      customerId: c.id,
      placedAt: '2026-01-02T10:00:00.000Z',
      status: 'paid',
      total: { amount: 100, currency: 'EUR' },
    });
    expect(late.statusCode).toBe(422);
    // nor can anything new be recorded about them
    const complaint = await tenant.client.post(
      '/v1/interactions',
      complaintBody(c.id, { body: 'my email is again late@example.com' }),
    );
    expect(complaint.statusCode, complaint.body).toBe(422);
    expect(complaint.json()).toMatchObject({ code: 'invalid_reference', errors: [{ path: 'customerId' }] });
    const answer = await tenant.client.post('/v1/feedback', {
      customerId: c.id,
      dimension: 'overall',
      expectation: 5,
      perception: 5,
      comment: 'late@example.com',
    });
    expect(answer.statusCode, answer.body).toBe(422);
    // their case takes no reply, edit or resolution note; it can still be moved on
    const url = `/v1/interactions/${open.id}`;
    for (const refused of [
      await tenant.client.post(`${url}/replies`, { body: 'write to late@example.com' }),
      await tenant.client.patch(url, { body: 'late@example.com' }),
      await tenant.client.post(`${url}/transitions`, {
        to: 'resolved',
        resolution: { outcome: 'resolved', note: 'called late@example.com' },
      }),
    ]) {
      expect(refused.statusCode, refused.body).toBe(422);
      expect(refused.json()).toMatchObject({
        code: 'invalid_reference',
        detail: expect.stringContaining('erased'),
      });
    }
    const moved = await tenant.client.post(`${url}/transitions`, {
      to: 'resolved',
      resolution: { outcome: 'rejected' },
    });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json()).toMatchObject({ body: null, case: { status: 'resolved' } });
    expect(await tablesHolding('late@example.com')).toEqual([]);
  });
});
