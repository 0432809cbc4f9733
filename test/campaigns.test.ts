import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { campaignsRepository } from '../src/modules/campaigns/campaigns.repository.ts';
import { inHoldout } from '../src/modules/campaigns/campaigns.sending.ts';
import { nextRun } from '../src/modules/campaigns/campaigns.service.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer, orderBody, placeOrder } from './helpers/factories.ts';
import { startReceiver } from './helpers/receiver.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-05-01T10:00:00.000Z');
let now = T0;
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({
    clock: { now: () => new Date(now) },
    env: { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_SCHEDULE: '0' },
  });
});
afterAll(() => t.close());

type Client = Awaited<ReturnType<TestApp['newTenant']>>['client'];
const consenting = { consent: { email: { granted: true } } };

async function staticSegment(client: Client, name: string, customerIds: string[]) {
  const s = (await client.post('/v1/segments', { name, kind: 'static' })).json();
  if (customerIds.length) await client.post(`/v1/segments/${s.id}/members`, { customerIds });
  return s.id as string;
}

async function campaign(client: Client, body: Record<string, unknown>) {
  const res = await client.post('/v1/campaigns', {
    name: `c-${Math.random().toString(36).slice(2, 8)}`,
    kind: 'retention',
    channel: 'email',
    trigger: { type: 'scheduled' },
    variants: [
      { key: 'default', subject: 'Hola {{ customer.firstName }}', body: 'Vuelve, {{ customer.firstName }}' },
    ],
    ...body,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; version: number };
}

const messagesOf = async (client: Client, id: string) =>
  (await client.get(`/v1/campaigns/${id}/messages?limit=500`)).json().data as {
    customerId: string;
    status: string;
    reason: string | null;
    subject: string | null;
    body: string | null;
    id: string;
    variant: string | null;
  }[];

describe('campaigns: sending', () => {
  it('skips for consent, contact, exclusion and the frequency cap, each with its reason; renders per variant', async () => {
    now = T0;
    const { id: tenantId, client } = await t.newTenant();
    await client.patch('/v1/settings', { campaigns: { frequencyCap: { messages: 1, days: 7 } } });
    const ok = await newCustomer(client, { firstName: 'Ana', ...consenting });
    const vip = await newCustomer(client, { firstName: 'Bea', ...consenting });
    const noConsent = await newCustomer(client, { firstName: 'Carla' });
    const noEmail = await newCustomer(client, { firstName: 'Dani', email: null, ...consenting });
    const excluded = await newCustomer(client, { firstName: 'Eva', ...consenting });
    const capped = await newCustomer(client, { firstName: 'Fede', ...consenting });
    const noName = await newCustomer(client, { firstName: null, ...consenting });
    const all = [ok, vip, noConsent, noEmail, excluded, capped, noName].map((c) => c.id);
    const audience = await staticSegment(client, 'audience', all);
    const excludedSegment = await staticSegment(client, 'excluded', [excluded.id]);
    const vips = await staticSegment(client, 'vips', [vip.id]);
    // one message already this week for `capped`
    const earlier = await campaign(client, {
      segmentIds: [await staticSegment(client, 'earlier', [capped.id])],
    });
    expect((await client.post(`/v1/campaigns/${earlier.id}/launch`)).statusCode).toBe(200);

    const c = await campaign(client, {
      segmentIds: [audience],
      excludeSegmentIds: [excludedSegment],
      variants: [
        {
          key: 'vip',
          segmentId: vips,
          subject: 'Para ti, {{ customer.firstName }}',
          body: 'Oferta VIP {{ offer.code }}',
          offer: { code: 'VIP20' },
        },
        { key: 'default', subject: 'Hola {{ customer.firstName }}', body: 'Vuelve pronto' },
      ],
    });
    const preview = await client.post(`/v1/campaigns/${c.id}/preview`, { customerId: vip.id });
    expect(preview.json()).toMatchObject({
      decision: 'queued',
      variant: 'vip',
      subject: 'Para ti, Bea',
      body: 'Oferta VIP VIP20',
    });
    const launched = await client.post(`/v1/campaigns/${c.id}/launch`);
    expect(launched.json()).toMatchObject({ status: 'running' });

    const byCustomer = new Map((await messagesOf(client, c.id)).map((m) => [m.customerId, m]));
    expect(byCustomer.get(ok.id)).toMatchObject({
      status: 'queued',
      variant: 'default',
      subject: 'Hola Ana',
    });
    expect(byCustomer.get(vip.id)).toMatchObject({
      status: 'queued',
      variant: 'vip',
      body: 'Oferta VIP VIP20',
    });
    expect(byCustomer.get(noConsent.id)).toMatchObject({ status: 'skipped', reason: 'no_consent:email' });
    expect(byCustomer.get(noEmail.id)).toMatchObject({ status: 'skipped', reason: 'no_contact' });
    expect(byCustomer.get(excluded.id)).toMatchObject({ status: 'skipped', reason: 'excluded' });
    expect(byCustomer.get(capped.id)).toMatchObject({ status: 'skipped', reason: 'frequency_cap' });
    expect(byCustomer.get(noName.id)).toMatchObject({ status: 'failed', body: null });
    expect(byCustomer.get(noName.id)!.reason).toMatch(/undefined variable: customer.firstName/);
    // intent to treat: the one whose message failed to render is in the treatment group all the same
    const treated = [...byCustomer.values()].filter((m) => m.status === 'queued' || m.status === 'failed');
    expect((await client.get(`/v1/campaigns/${c.id}/report`)).json().treatment.customers).toBe(
      treated.length,
    );
    expect(treated).toHaveLength(3);

    const events = (await client.get('/v1/events?type=campaign.message')).json().data;
    const forCampaign = events.filter((e: { data: { campaignId: string } }) => e.data.campaignId === c.id);
    expect(
      forCampaign.map((e: { data: { to: string; customerId: string } }) => e.data.customerId).sort(),
    ).toEqual([ok.id, vip.id].sort());
    expect(
      forCampaign.find((e: { data: { customerId: string } }) => e.data.customerId === ok.id).data,
    ).toMatchObject({
      to: ok.email,
      subject: 'Hola Ana',
      channel: 'email',
    });
    // a second run of the same occurrence changes nothing
    await t.app.services.campaigns.runDue(tenantId);
    expect(await messagesOf(client, c.id)).toHaveLength(7);
    // the message is in the customer's timeline
    const timeline = (await client.get(`/v1/customers/${ok.id}/timeline?kinds=campaign_message`)).json().data;
    expect(timeline).toMatchObject([
      { kind: 'campaign_message', summary: 'Campaign message queued, variant default' },
    ]);
    expect(JSON.stringify(timeline)).not.toContain('Hola Ana');

    // a template that shows an email: its text and the contact only to customers:pii
    const showing = await campaign(client, {
      segmentIds: [audience],
      variants: [{ key: 'default', body: 'Your address on file: {{ customer.email }}' }],
    });
    const fresh = await newCustomer(client, { firstName: 'Gala', ...consenting }); // under the cap
    const reader = t.as(await t.token({ id: tenantId, slug: '' }, ['campaigns:read']));
    const hidden = (
      await reader.post(`/v1/campaigns/${showing.id}/preview`, { customerId: fresh.id })
    ).json();
    expect(hidden).toMatchObject({ decision: 'queued', to: null, body: null });
    const shown = (await client.post(`/v1/campaigns/${showing.id}/preview`, { customerId: fresh.id })).json();
    expect(shown).toMatchObject({
      decision: 'queued',
      to: fresh.email,
      body: `Your address on file: ${fresh.email}`,
    });
    // however the template reaches the customer's personal data, the reader does not see it
    for (const body of [
      '{{ customer["email"] }}',
      '{{ customer | json }}',
      '{% assign c = customer %}{{ c.phone }}',
      '{% for f in customer %}{{ f }}{% endfor %}',
    ]) {
      const sly = await campaign(client, { segmentIds: [audience], variants: [{ key: 'default', body }] });
      const seen = (await reader.post(`/v1/campaigns/${sly.id}/preview`, { customerId: fresh.id })).json();
      expect(seen.body, body).toBeNull();
      expect(JSON.stringify(seen)).not.toContain(fresh.email);
    }
    // a template of names only is shown
    const names = await campaign(client, {
      segmentIds: [audience],
      variants: [{ key: 'default', body: 'Hola {{ customer["firstName"] }}' }],
    });
    expect(
      (await reader.post(`/v1/campaigns/${names.id}/preview`, { customerId: fresh.id })).json().body,
    ).toBe('Hola Gala');
  });

  it('refuses templates that do not parse, illegal transitions, and unknown segments', async () => {
    const { client } = await t.newTenant();
    const bad = await client.post('/v1/campaigns', {
      name: 'bad',
      kind: 'custom',
      channel: 'email',
      segmentIds: ['0193a0a0-0000-7000-8000-000000000000'],
      trigger: { type: 'scheduled' },
      variants: [{ key: 'a', body: 'Hola {{ customer.firstName ' }],
    });
    expect(bad.statusCode).toBe(400);
    expect(
      bad
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['segmentIds[0]', 'variants[0].body']);
    const c = await campaign(client, { segmentIds: [await staticSegment(client, 's', [])] });
    expect((await client.post(`/v1/campaigns/${c.id}/resume`)).statusCode).toBe(409);
    expect((await client.post(`/v1/campaigns/${c.id}/launch`)).statusCode).toBe(200);
    const again = await client.post(`/v1/campaigns/${c.id}/launch`);
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('campaign_transition_invalid');
    expect((await client.post(`/v1/campaigns/${c.id}/pause`)).json().status).toBe('paused');
    expect((await client.post(`/v1/campaigns/${c.id}/resume`)).json().status).toBe('running');
    expect((await client.post(`/v1/campaigns/${c.id}/complete`)).json().status).toBe('completed');
    expect((await client.patch(`/v1/campaigns/${c.id}`, { holdoutPercent: 5 })).statusCode).toBe(409);
    expect((await client.post(`/v1/campaigns/${c.id}/archive`)).json().status).toBe('archived');
  });

  it('hides a message’s text from readers without customers:pii by the template it was rendered from', async () => {
    now = T0;
    const { id: tenantId, client } = await t.newTenant();
    const ana = await newCustomer(client, { firstName: 'Ana', ...consenting });
    const audience = await staticSegment(client, 'audience', [ana.id]);
    const c = await campaign(client, {
      segmentIds: [audience],
      variants: [{ key: 'default', body: 'Your address: {{ customer.email }}' }],
    });
    expect((await client.post(`/v1/campaigns/${c.id}/launch`)).statusCode).toBe(200);
    // the template changes afterwards to one without personal data
    const patched = await client.patch(
      `/v1/campaigns/${c.id}`,
      { variants: [{ key: 'default', body: 'Hola {{ customer.firstName }}' }] },
      { 'if-match': (await client.get(`/v1/campaigns/${c.id}`)).headers.etag as string },
    );
    expect(patched.statusCode, patched.body).toBe(200);
    const reader = t.as(await t.token({ id: tenantId, slug: '' }, ['campaigns:read']));
    const seen = (await reader.get(`/v1/campaigns/${c.id}/messages`)).json().data;
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ status: 'queued', body: null });
    expect(JSON.stringify(seen)).not.toContain(ana.email);
    expect((await messagesOf(client, c.id))[0]!.body).toBe(`Your address: ${ana.email}`);
  });

  it('keeps a segment a live campaign names (audience, exclusion, variant, trigger) from being deleted', async () => {
    const { client } = await t.newTenant();
    const audience = await staticSegment(client, 'audience', []);
    const excluded = await staticSegment(client, 'do not contact', []);
    const c = await campaign(client, { segmentIds: [audience], excludeSegmentIds: [excluded] });
    const refused = await client.delete(`/v1/segments/${excluded}`);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'segment_in_use' });
    expect(refused.json().detail).toMatch(/campaign "c-/);
    expect((await client.delete(`/v1/segments/${audience}`)).statusCode).toBe(409);
    const entering = await staticSegment(client, 'entering', []);
    // named in upper case, deleted in lower case (and the other way round): the same segment
    await campaign(client, {
      segmentIds: [],
      trigger: { type: 'segment_entered', segmentId: entering.toUpperCase() },
    });
    expect((await client.delete(`/v1/segments/${entering}`)).statusCode).toBe(409);
    expect((await client.delete(`/v1/segments/${entering.toUpperCase()}`)).statusCode).toBe(409);
    // once the campaign is over, the segment can go
    expect((await client.post(`/v1/campaigns/${c.id}/archive`)).json().status).toBe('archived');
    expect((await client.delete(`/v1/segments/${excluded}`)).statusCode).toBe(204);
  });

  it('refuses a repeat shorter than an hour or longer than ten years; a long-past start finds its next run at once', async () => {
    const { client } = await t.newTenant();
    for (const every of ['P0D', 'PT0S', 'PT30M', 'garbage', 'P11Y', 'P300000Y']) {
      const res = await client.post('/v1/campaigns', {
        name: `every-${every}`,
        kind: 'custom',
        channel: 'email',
        trigger: { type: 'scheduled', every },
        variants: [{ key: 'a', body: 'Hola' }],
      });
      expect(res.statusCode, every).toBe(400);
      expect(res.json().errors.map((e: { path: string }) => e.path)).toEqual(['trigger.every']);
    }
    const from = new Date('1970-01-01T00:00:00Z');
    const at = new Date('2026-05-01T10:30:00Z');
    expect(nextRun(from, 'PT1H', at).toISOString()).toBe('2026-05-01T11:00:00.000Z');
    // a repeat stored before the rule (no longer accepted) runs hourly rather than looping
    expect(nextRun(from, 'P0D', at).toISOString()).toBe('2026-05-01T11:00:00.000Z');
    expect(nextRun(from, 'P0M', at).toISOString()).toBe('2026-05-01T11:00:00.000Z');
    expect(nextRun(from, 'P1W', at).toISOString()).toBe('2026-05-07T00:00:00.000Z');
    // monthly from the 31st: the last day of a shorter month, and the 31st again after it (no drift)
    const end = new Date('2026-01-31T09:00:00Z');
    expect(nextRun(end, 'P1M', new Date('2026-02-10T00:00:00Z')).toISOString()).toBe(
      '2026-02-28T09:00:00.000Z',
    );
    expect(nextRun(end, 'P1M', new Date('2026-03-01T00:00:00Z')).toISOString()).toBe(
      '2026-03-31T09:00:00.000Z',
    );
    expect(nextRun(end, 'P1M', at).toISOString()).toBe('2026-05-31T09:00:00.000Z');
    // daily at 09:00 in Madrid: 08:00 UTC in winter, 07:00 UTC once summer time starts (29 March
    // 2026), and 08:00 again after it ends (25 October); hourly steps stay fixed lengths
    const nine = new Date('2026-03-27T08:00:00Z');
    const madrid = (now: string, every = 'P1D') =>
      nextRun(nine, every, new Date(now), 'Europe/Madrid').toISOString();
    expect(madrid('2026-03-28T12:00:00Z')).toBe('2026-03-29T07:00:00.000Z');
    expect(madrid('2026-03-30T00:00:00Z')).toBe('2026-03-30T07:00:00.000Z');
    expect(madrid('2026-10-26T00:00:00Z')).toBe('2026-10-26T08:00:00.000Z');
    expect(madrid('2026-04-01T00:00:00Z', 'P1W')).toBe('2026-04-03T07:00:00.000Z');
    expect(madrid('2026-03-29T07:30:00Z', 'PT12H')).toBe('2026-03-29T08:00:00.000Z');
    expect(nextRun(nine, 'P1D', new Date('2026-03-30T00:00:00Z')).toISOString()).toBe(
      '2026-03-30T08:00:00.000Z',
    );
    expect(nextRun(new Date('2027-01-01T00:00:00Z'), 'P1D', at).toISOString()).toBe(
      '2027-01-01T00:00:00.000Z',
    );
  });
});

describe('campaigns: reactivation, from the status change to the sending system', () => {
  it('a customer who becomes inactive gets the reactivation message, delivered by webhook with the rendered text', async () => {
    now = T0;
    const receiver = await startReceiver();
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await client.post('/v1/webhooks', { url: receiver.url, events: ['campaign.message'] });
      expect(hook.statusCode).toBe(201);
      const lapsing = await newCustomer(client, { firstName: 'Lola', ...consenting });
      const placedAt = new Date(T0 - DAY).toISOString();
      await client.post(
        '/v1/orders',
        orderBody({ customerId: lapsing.id, placedAt, sourceUpdatedAt: placedAt }),
      );
      await t.app.services.scores.recompute(tenantId);
      const c = await campaign(client, {
        kind: 'reactivation',
        trigger: { type: 'status_changed', to: 'inactive' },
        variants: [
          {
            key: 'default',
            subject: 'Te echamos de menos, {{ customer.firstName }}',
            body: 'Usa {{ offer.code }}',
            offer: { code: 'VUELVE' },
          },
        ],
      });
      await client.post(`/v1/campaigns/${c.id}/launch`);
      now = T0 + 400 * DAY;
      await t.app.services.scores.recompute(tenantId);
      expect((await client.get(`/v1/customers/${lapsing.id}`)).json().status).toBe('inactive');
      await t.app.services.campaigns.processInbox(tenantId);
      const [message] = await messagesOf(client, c.id);
      expect(message).toMatchObject({
        customerId: lapsing.id,
        status: 'queued',
        subject: 'Te echamos de menos, Lola',
      });
      for (let i = 0; i < 5 && !receiver.received.length; i++)
        await t.app.services.webhooks.dispatch(tenantId);
      expect(receiver.received).toHaveLength(1);
      const delivered = JSON.parse(receiver.received[0]!.body);
      expect(delivered).toMatchObject({
        type: 'campaign.message',
        data: {
          customerId: lapsing.id,
          to: lapsing.email,
          subject: 'Te echamos de menos, Lola',
          body: 'Usa VUELVE',
        },
      });

      // the sender reports back; an unsubscribe withdraws the email consent
      const reported = await client.post('/v1/message-events', {
        items: [
          { messageId: message!.id, type: 'delivered', occurredAt: new Date(now).toISOString() },
          { messageId: message!.id, type: 'unsubscribed', occurredAt: new Date(now).toISOString() },
          {
            messageId: '0193a0a0-0000-7000-8000-000000000000',
            type: 'opened',
            occurredAt: new Date(now).toISOString(),
          },
        ],
      });
      expect(reported.json().results.map((r: { status: string }) => r.status)).toEqual([
        'recorded',
        'recorded',
        'error',
      ]);
      expect(reported.json().results[2].error.code).toBe('message_not_found');
      // a failure reported after the delivery records its time but does not unsend the message
      const late = await client.post('/v1/message-events', {
        items: [{ messageId: message!.id, type: 'failed', occurredAt: new Date(now).toISOString() }],
      });
      expect(late.json().results[0].status).toBe('recorded');
      expect((await messagesOf(client, c.id)).find((m) => m.id === message!.id)?.status).toBe('unsubscribed');
      expect((await client.get(`/v1/customers/${lapsing.id}`)).json().consent.email.granted).toBe(false);
      const history = (await client.get(`/v1/customers/${lapsing.id}/consent-history`)).json().data;
      expect(history.at(-1)).toMatchObject({
        channel: 'email',
        granted: false,
        source: `unsubscribe:${c.id}`,
      });
    } finally {
      await receiver.close();
    }
  });
});

describe('campaigns: event and calendar triggers', () => {
  it('segment_entered and birthdays bring the right customers in, once per occurrence', async () => {
    now = T0;
    const { id: tenantId, client } = await t.newTenant();
    const a = await newCustomer(client, { firstName: 'Alba', ...consenting, birthDate: '1990-05-04' });
    const b = await newCustomer(client, { firstName: 'Blas', ...consenting, birthDate: '1990-06-30' });
    const list = await staticSegment(client, 'welcome list', []);
    const entered = await campaign(client, {
      kind: 'welcome',
      trigger: { type: 'segment_entered', segmentId: list },
    });
    const birthday = await campaign(client, {
      kind: 'birthday',
      trigger: { type: 'birthday', daysBefore: 7 },
      variants: [{ key: 'default', body: 'Feliz cumpleaños, {{ customer.firstName }}' }],
    });
    for (const c of [entered, birthday]) await client.post(`/v1/campaigns/${c.id}/launch`);

    await client.post(`/v1/segments/${list}/members`, { customerIds: [a.id] });
    await t.app.services.campaigns.processInbox(tenantId);
    expect((await messagesOf(client, entered.id)).map((m) => m.customerId)).toEqual([a.id]);
    // an inbox drained twice, or the same customer re-entering the list later, are other occurrences
    await t.app.services.campaigns.processInbox(tenantId);
    expect(await messagesOf(client, entered.id)).toHaveLength(1);

    await t.app.services.campaigns.sweep([tenantId]);
    await t.app.services.campaigns.sweep([tenantId]);
    const wishes = await messagesOf(client, birthday.id);
    expect(wishes.map((m) => [m.customerId, m.body])).toEqual([[a.id, 'Feliz cumpleaños, Alba']]);
    expect(wishes.some((m) => m.customerId === b.id)).toBe(false);
  });
});

describe('campaigns: occurrences across a year boundary and within one batch', () => {
  it('a birthday near new year is wished once, keyed by the birthday’s year', async () => {
    now = Date.parse('2026-12-28T10:00:00.000Z');
    const { id: tenantId, client } = await t.newTenant();
    const c1 = await newCustomer(client, { firstName: 'Nora', ...consenting, birthDate: '1990-01-02' });
    const wishes = await campaign(client, { kind: 'birthday', trigger: { type: 'birthday', daysBefore: 7 } });
    await client.post(`/v1/campaigns/${wishes.id}/launch`);
    await t.app.services.campaigns.sweep([tenantId]);
    now = Date.parse('2027-01-01T10:00:00.000Z');
    await t.app.services.campaigns.sweep([tenantId]);
    const got = await messagesOf(client, wishes.id);
    expect(got.map((m) => m.customerId)).toEqual([c1.id]);
    now = Date.parse('2027-12-27T10:00:00.000Z');
    await t.app.services.campaigns.sweep([tenantId]);
    expect(await messagesOf(client, wishes.id)).toHaveLength(2);
  });

  it('a birthday pass wishes nobody once the campaign has ended, marked completed or not yet', async () => {
    now = Date.parse('2026-12-20T10:00:00.000Z');
    const { id: tenantId, client } = await t.newTenant();
    await newCustomer(client, { firstName: 'Nora', ...consenting, birthDate: '1990-12-24' });
    const wishes = await campaign(client, {
      kind: 'birthday',
      trigger: { type: 'birthday', daysBefore: 7 },
      endsAt: '2026-12-21T00:00:00.000Z',
    });
    expect((await client.post(`/v1/campaigns/${wishes.id}/launch`)).json().status).toBe('running');
    // past its end, before the sweep's completion step has run (another pass held its lock)
    now = Date.parse('2026-12-22T10:00:00.000Z');
    await t.app.services.campaigns.runBirthdays(tenantId);
    expect(await messagesOf(client, wishes.id)).toEqual([]);
  });

  it('a birthday sweep asks the database only for the customers not yet wished, a page at a time', async () => {
    now = Date.parse('2026-12-28T10:00:00.000Z');
    const { id: tenantId, client } = await t.newTenant();
    const born = ['1985-12-30', '1990-01-02', '2001-01-03', '1970-06-01'];
    const people = [];
    for (const birthDate of born) people.push(await newCustomer(client, { ...consenting, birthDate }));
    const wishes = await campaign(client, { kind: 'birthday', trigger: { type: 'birthday', daysBefore: 7 } });
    await client.post(`/v1/campaigns/${wishes.id}/launch`);
    const pending = (after?: string, limit = 10) =>
      t.db.withTenant(tenantId, async (tx) =>
        campaignsRepository.birthdaysToEnter(
          tx,
          wishes.id,
          await t.app.services.segments.audienceIn(tx, tenantId, {
            version: 1,
            all: [{ field: 'birthday', op: 'within', value: 'P7D' }],
          }),
          '2026-12-28',
          after,
          limit,
        ),
      );
    const inWindow = people
      .slice(0, 3)
      .map((p, k) => ({ customerId: p.id, occurrence: k === 0 ? 'birthday:2026' : 'birthday:2027' }))
      .sort((x, y) => x.customerId.localeCompare(y.customerId));
    expect(await pending()).toEqual(inWindow);
    // pages by id: the second starts after the first's last customer
    const first = await pending(undefined, 2);
    expect(first).toEqual(inWindow.slice(0, 2));
    expect(await pending(first.at(-1)!.customerId, 2)).toEqual(inWindow.slice(2));

    await t.app.services.campaigns.sweep([tenantId]);
    expect((await messagesOf(client, wishes.id)).map((m) => m.customerId).sort()).toEqual(
      inWindow.map((e) => e.customerId),
    );
    // wished: nothing comes back for them, until the next birthday's year
    expect(await pending()).toEqual([]);
  });

  it('a customer entering twice in one batch is capped like two separate entries', async () => {
    now = T0;
    const { id: tenantId, client } = await t.newTenant();
    await client.patch('/v1/settings', { campaigns: { frequencyCap: { messages: 1, days: 7 } } });
    const c1 = await newCustomer(client, { firstName: 'Olga', ...consenting });
    const list = await staticSegment(client, 'again', []);
    const welcome = await campaign(client, {
      kind: 'welcome',
      trigger: { type: 'segment_entered', segmentId: list },
    });
    await client.post(`/v1/campaigns/${welcome.id}/launch`);
    await client.post(`/v1/segments/${list}/members`, { customerIds: [c1.id] });
    await t.app.inject({
      method: 'DELETE',
      url: `/v1/segments/${list}/members`,
      headers: { authorization: `Bearer ${await t.token({ id: tenantId, slug: '' })}` },
      payload: { customerIds: [c1.id] },
    });
    await client.post(`/v1/segments/${list}/members`, { customerIds: [c1.id] });
    await t.app.services.campaigns.processInbox(tenantId);
    const got = (await messagesOf(client, welcome.id)).map((m) => [m.status, m.reason]).sort();
    expect(got).toEqual([
      ['queued', null],
      ['skipped', 'frequency_cap'],
    ]);
  });
});

describe('campaigns: measuring', () => {
  it('attributes orders within the window (edges included), by coupon, last touch; the report equals the figures by hand', async () => {
    now = T0;
    const { client } = await t.newTenant();
    const audience = await staticSegment(client, 'all', []);
    const c = await campaign(client, {
      segmentIds: [audience],
      holdoutPercent: 50,
      attributionWindowDays: 7,
      variants: [{ key: 'default', body: 'Hola {{ customer.firstName }}', offer: { code: 'PRIMAVERA' } }],
    });
    // 12 customers with at least two in each group: the split follows the campaign's random id, so
    // candidates that would leave no room for the other group's two are passed over
    const people: string[] = [];
    const inGroup = { held: 0, sent: 0 };
    for (let i = 0; people.length < 12; i++) {
      const p = await newCustomer(client, { firstName: `P${i}`, ...consenting });
      const group = inHoldout(c.id, p.id, 50) ? 'held' : 'sent';
      const other = group === 'held' ? 'sent' : 'held';
      if (12 - people.length - 1 < Math.max(0, 2 - inGroup[other])) continue;
      people.push(p.id);
      inGroup[group]++;
    }
    await client.post(`/v1/segments/${audience}/members`, { customerIds: people });
    await client.post(`/v1/campaigns/${c.id}/launch`);
    const messages = await messagesOf(client, c.id);
    const treated = messages.filter((m) => m.status === 'queued').map((m) => m.customerId);
    const control = messages.filter((m) => m.status === 'held_out').map((m) => m.customerId);
    expect(treated.length + control.length).toBe(12);
    expect(treated.length).toBeGreaterThanOrEqual(2);
    expect(control.length).toBeGreaterThanOrEqual(2);
    const buy = (customerId: string, at: number, amount: number, extra: Record<string, unknown> = {}) =>
      placeOrder(client, customerId, at, amount, extra);
    now = T0 + 30 * DAY;
    // treatment: exactly at the window's end (in), 1 s after it (out), 1 s before entry (out), a coupon a month later (in)
    await buy(treated[0]!, T0 + 7 * DAY, 1000);
    await buy(treated[1]!, T0 + 7 * DAY + 1000, 2000);
    await buy(treated[1]!, T0 - 1000, 4000);
    if (treated[2]) await buy(treated[2], T0 + 20 * DAY, 3000, { couponCode: 'PRIMAVERA' });
    // control: one converts at the start of the window
    await buy(control[0]!, T0, 500);
    const report = (await client.get(`/v1/campaigns/${c.id}/report`)).json();
    const nt = treated.length;
    const nc = control.length;
    const xt = treated[2] ? 2 : 1;
    const revenue = treated[2] ? 4000 : 1000;
    expect(report).toMatchObject({
      enrolled: 12,
      heldOut: nc,
      sent: nt,
      converted: xt,
      revenue,
      treatment: {
        customers: nt,
        converted: xt,
        revenue,
        conversionRate: xt / nt,
        revenuePerCustomer: revenue / nt,
      },
      control: { customers: nc, converted: 1, revenue: 500, conversionRate: 1 / nc },
    });
    expect(report.lift.absolute).toBeCloseTo(xt / nt - 1 / nc, 10);
    expect(report.lift.relative).toBeCloseTo((xt / nt - 1 / nc) / (1 / nc), 10);
    const se = Math.sqrt(((xt / nt) * (1 - xt / nt)) / nt + ((1 / nc) * (1 - 1 / nc)) / nc);
    expect(report.lift.ci95[0]).toBeCloseTo(xt / nt - 1 / nc - 1.96 * se, 3);
    expect(report.variants).toMatchObject([
      { variant: 'default', treatment: { customers: nt, converted: xt } },
    ]);

    // last touch: a later message of another campaign takes an order placed after it
    const later = await campaign(client, { segmentIds: [await staticSegment(client, 'one', [treated[0]!])] });
    now = T0 + 31 * DAY;
    await client.post(`/v1/campaigns/${later.id}/launch`);
    await buy(treated[0]!, T0 + 32 * DAY, 700);
    const laterReport = (await client.get(`/v1/campaigns/${later.id}/report`)).json();
    expect(laterReport.treatment).toMatchObject({ customers: 1, converted: 1, revenue: 700 });
    // GraphQL: the same report and the messages
    const gql = await client.graphql(
      `query($id: ID!) { campaign(id: $id) { status report messages(first: 20) { nodes { status } } } }`,
      {
        id: c.id,
      },
    );
    expect(gql.body.errors).toBeUndefined();
    expect(gql.body.data!.campaign.report.converted).toBe(xt);
    expect(gql.body.data!.campaign.messages.nodes).toHaveLength(12);
  });
});

describe('campaigns: last touch and reports from the sending system', () => {
  it('another campaign’s message takes the orders after it; being held out of one does not', async () => {
    now = T0;
    const { client } = await t.newTenant();
    const heldSegment = await staticSegment(client, 'held', []);
    const heldBy = await campaign(client, {
      segmentIds: [heldSegment],
      holdoutPercent: 50,
      attributionWindowDays: 30,
    });
    // a customer that campaign puts in its control group
    let x = '';
    for (let i = 0; !x; i++) {
      const p = await newCustomer(client, { firstName: `X${i}`, ...consenting });
      if (inHoldout(heldBy.id, p.id, 50)) x = p.id;
    }
    const only = await staticSegment(client, 'x', [x]);
    const first = await campaign(client, { segmentIds: [only], attributionWindowDays: 30 });
    await client.post(`/v1/campaigns/${first.id}/launch`);
    now = T0 + DAY;
    await client.post(`/v1/segments/${heldSegment}/members`, { customerIds: [x] });
    await client.post(`/v1/campaigns/${heldBy.id}/launch`);
    expect((await messagesOf(client, heldBy.id)).map((m) => m.status)).toEqual(['held_out']);
    const buy = (at: number, amount: number) => placeOrder(client, x, at, amount);
    now = T0 + 10 * DAY;
    await buy(T0 + 2 * DAY, 1000);
    // a third campaign's message reaches them on day 3: the order of day 4 is its, not the first's
    const third = await campaign(client, { segmentIds: [only], attributionWindowDays: 30 });
    now = T0 + 3 * DAY;
    await client.post(`/v1/campaigns/${third.id}/launch`);
    now = T0 + 10 * DAY;
    await buy(T0 + 4 * DAY, 700);
    expect((await client.get(`/v1/campaigns/${first.id}/report`)).json().treatment).toMatchObject({
      customers: 1,
      converted: 1,
      revenue: 1000,
    });
    expect((await client.get(`/v1/campaigns/${third.id}/report`)).json().treatment).toMatchObject({
      converted: 1,
      revenue: 700,
    });

    // the sending system cannot report on what was never sent to it
    const [held] = await messagesOf(client, heldBy.id);
    const report = await client.post('/v1/message-events', {
      items: [{ messageId: held!.id, type: 'failed', occurredAt: new Date(now).toISOString() }],
    });
    expect(report.json().results[0]).toMatchObject({ status: 'error', error: { code: 'message_not_sent' } });
    expect((await messagesOf(client, heldBy.id)).map((m) => m.status)).toEqual(['held_out']);
  });

  it('welcomes a customer once, even one back to potential who buys again', async () => {
    now = T0;
    const { id: tenantId, client } = await t.newTenant();
    const welcome = await campaign(client, { kind: 'welcome', trigger: { type: 'first_order' } });
    await client.post(`/v1/campaigns/${welcome.id}/launch`);
    const c = await newCustomer(client, { ...consenting });
    const placedAt = new Date(T0 - DAY).toISOString();
    const order = orderBody({ customerId: c.id, placedAt, sourceUpdatedAt: placedAt });
    expect((await client.post('/v1/orders', order)).statusCode).toBe(201);
    await t.app.services.scores.refresh(tenantId);
    await t.app.services.campaigns.processInbox(tenantId);
    // a welcome recorded before this version was keyed by its event: migration 0038 rekeys it
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      await owner.query(`UPDATE campaign_messages SET occurrence = 'event:' || id WHERE campaign_id = $1`, [
        welcome.id,
      ]);
      await owner.query(
        readFileSync(new URL('../migrations/0038_welcome_occurrence.sql', import.meta.url), 'utf8'),
      );
      const keyed = await owner.query(`SELECT occurrence FROM campaign_messages WHERE campaign_id = $1`, [
        welcome.id,
      ]);
      expect(keyed.rows).toEqual([{ occurrence: 'first_order' }]);
    } finally {
      await owner.end();
    }
    // refunded in full: potential again; then a new first order
    const refundedAt = new Date(T0 - DAY / 2).toISOString();
    await client.post('/v1/orders', {
      ...order,
      status: 'refunded',
      refunded: order.total,
      sourceUpdatedAt: refundedAt,
    });
    await t.app.services.scores.recompute(tenantId);
    expect((await client.get(`/v1/customers/${c.id}`)).json().status).toBe('potential');
    const again = new Date(T0 - DAY / 4).toISOString();
    await client.post('/v1/orders', orderBody({ customerId: c.id, placedAt: again, sourceUpdatedAt: again }));
    await t.app.services.scores.refresh(tenantId);
    await t.app.services.campaigns.processInbox(tenantId);
    expect((await messagesOf(client, welcome.id)).filter((m) => m.status === 'queued')).toHaveLength(1);
  });

  /** A running welcome campaign and a first buyer in its inbox, not yet taken in. */
  async function firstBuyerAwaitingWelcome() {
    now = T0;
    const { id: tenantId, client } = await t.newTenant();
    const welcome = await campaign(client, { kind: 'welcome', trigger: { type: 'first_order' } });
    await client.post(`/v1/campaigns/${welcome.id}/launch`);
    const c = await newCustomer(client, { ...consenting, firstName: 'Ana' });
    const placedAt = new Date(T0 - DAY).toISOString();
    expect((await client.post('/v1/orders', orderBody({ customerId: c.id, placedAt }))).statusCode).toBe(201);
    await t.app.services.scores.refresh(tenantId);
    return { tenantId, client, welcome, c };
  }

  it('a pause in flight while the inbox is taken in: the paused campaign takes nobody', async () => {
    const { tenantId, client, welcome } = await firstBuyerAwaitingWelcome();
    // the pause holds the campaign's row, as the pause endpoint does, and commits while the inbox runs
    const pause = new pg.Client({ connectionString: inject('ownerUrl') });
    await pause.connect();
    try {
      await pause.query('BEGIN');
      await pause.query(`SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE`, [welcome.id]);
      await pause.query(`UPDATE campaigns SET status = 'paused' WHERE id = $1`, [welcome.id]);
      const inbox = t.app.services.campaigns.processInbox(tenantId);
      await new Promise((r) => setTimeout(r, 300));
      await pause.query('COMMIT');
      expect(await inbox).toBeGreaterThan(0);
    } finally {
      await pause.end();
    }
    expect(await messagesOf(client, welcome.id)).toEqual([]);
  });

  it('an erasure in flight while the inbox is taken in: the erased customer gets no message', async () => {
    const { tenantId, c } = await firstBuyerAwaitingWelcome();
    // the erasure holds the customer's row, as DELETE /v1/customers/:id does, and commits while the
    // inbox runs: the message it would render (with her email and name) must not outlive it
    const erasure = new pg.Client({ connectionString: inject('ownerUrl') });
    await erasure.connect();
    try {
      await erasure.query('BEGIN');
      await erasure.query('SELECT 1 FROM customers WHERE id = $1 FOR UPDATE', [c.id]);
      await erasure.query(
        `UPDATE customers SET erased_at = now(), email = NULL, first_name = NULL WHERE id = $1`,
        [c.id],
      );
      const inbox = t.app.services.campaigns.processInbox(tenantId);
      await new Promise((r) => setTimeout(r, 300));
      await erasure.query('COMMIT');
      await inbox;
      // as the owner, whom row-level security does not bind: nothing was rendered for her
      const rendered = await erasure.query(
        'SELECT status, subject, body FROM campaign_messages WHERE customer_id = $1',
        [c.id],
      );
      expect(rendered.rows).toEqual([]);
    } finally {
      await erasure.end();
    }
  });

  it('pauses only a running campaign (a scheduled one is 409), and keeps a launched one’s holdout share', async () => {
    now = T0;
    const { client } = await t.newTenant();
    const later = await campaign(client, {
      segmentIds: [await staticSegment(client, 'later', [])],
      startsAt: new Date(T0 + 10 * DAY).toISOString(),
    });
    expect((await client.post(`/v1/campaigns/${later.id}/launch`)).json().status).toBe('scheduled');
    const pause = await client.post(`/v1/campaigns/${later.id}/pause`);
    expect(pause.statusCode).toBe(409);
    expect(pause.json().code).toBe('campaign_transition_invalid');
    // launched: its holdout share is fixed (the control group stays the control group)
    const share = await client.patch(`/v1/campaigns/${later.id}`, { holdoutPercent: 20 });
    expect(share.statusCode, share.body).toBe(409);
    expect(share.json().detail).toMatch(/holdout share is fixed/);
    expect((await client.patch(`/v1/campaigns/${later.id}`, { name: 'renamed' })).statusCode).toBe(200);
  });
});

describe('campaigns: the schedule', () => {
  it('a campaign launched ahead of its start first runs at the start, and repeats from there', async () => {
    now = T0;
    const tenant = await t.newTenant();
    const { client } = tenant;
    const c1 = await newCustomer(client, consenting);
    const startsAt = new Date(T0 + 4 * DAY - 3_600_000);
    const weekly = await campaign(client, {
      segmentIds: [await staticSegment(client, 'weekly', [c1.id])],
      trigger: { type: 'scheduled', every: 'P1W' },
      startsAt: startsAt.toISOString(),
    });
    const launched = (await client.post(`/v1/campaigns/${weekly.id}/launch`)).json();
    expect(launched).toMatchObject({ status: 'scheduled', nextRunAt: startsAt.toISOString() });
    now = startsAt.getTime() + 60_000;
    await t.app.services.campaigns.sweep([tenant.id]);
    expect(await messagesOf(client, weekly.id)).toHaveLength(1);
    // the next run is a week after the start, not a week after the launch (which would be 3 days on)
    expect((await client.get(`/v1/campaigns/${weekly.id}`)).json().nextRunAt).toBe(
      new Date(startsAt.getTime() + 7 * DAY).toISOString(),
    );
  });

  it('a campaign past its end cannot be launched or resumed: it would message its audience for nothing', async () => {
    now = T0;
    const { client } = await t.newTenant();
    const c1 = await newCustomer(client, consenting);
    const over = await campaign(client, {
      segmentIds: [await staticSegment(client, 'over', [c1.id])],
      startsAt: new Date(T0 - 2 * DAY).toISOString(),
      endsAt: new Date(T0 - DAY).toISOString(),
    });
    const launch = await client.post(`/v1/campaigns/${over.id}/launch`);
    expect(launch.statusCode).toBe(409);
    // `status` is the HTTP status, as in every problem; the campaign's is `currentStatus`
    expect(launch.json()).toMatchObject({
      code: 'campaign_transition_invalid',
      status: 409,
      currentStatus: 'draft',
    });
    expect(launch.json().detail).toMatch(/ended at/);
    expect(await messagesOf(client, over.id)).toHaveLength(0);
    expect((await client.get(`/v1/campaigns/${over.id}`)).json().status).toBe('draft');
  });

  it('changing a launched campaign’s trigger moves its next run: the old schedule stops, the new one starts', async () => {
    now = T0;
    const tenant = await t.newTenant();
    const { client } = tenant;
    const c1 = await newCustomer(client, consenting);
    const audience = await staticSegment(client, 'audience', [c1.id]);
    const weekly = await campaign(client, {
      segmentIds: [audience],
      trigger: { type: 'scheduled', every: 'P1W', at: new Date(T0 + DAY).toISOString() },
    });
    expect((await client.post(`/v1/campaigns/${weekly.id}/launch`)).json().nextRunAt).toBe(
      new Date(T0 + DAY).toISOString(),
    );
    const entered = await client.patch(`/v1/campaigns/${weekly.id}`, {
      trigger: { type: 'segment_entered', segmentId: audience },
    });
    expect(entered.statusCode, entered.body).toBe(200);
    expect(entered.json().nextRunAt).toBeNull();
    now = T0 + 2 * DAY;
    await t.app.services.campaigns.sweep([tenant.id]);
    expect(await messagesOf(client, weekly.id)).toHaveLength(0);
    const at = new Date(T0 + 3 * DAY).toISOString();
    const back = await client.patch(`/v1/campaigns/${weekly.id}`, { trigger: { type: 'scheduled', at } });
    expect(back.json().nextRunAt).toBe(at);
    // the same trigger sent again changes nothing
    const same = await client.patch(`/v1/campaigns/${weekly.id}`, { trigger: { type: 'scheduled', at } });
    expect(same.json().nextRunAt).toBe(at);
  });
});

describe('campaigns: a scheduled run that fails', () => {
  it('is undone alone: the tenant’s other due runs and its inbox go on, and the sweep names it', async () => {
    now = T0;
    const tenant = await t.newTenant();
    const { client } = tenant;
    const c1 = await newCustomer(client, consenting);
    const audience = await staticSegment(client, 'both', [c1.id]);
    const at = new Date(T0 + DAY).toISOString();
    const broken = await campaign(client, {
      segmentIds: [audience],
      trigger: { type: 'scheduled', at, every: 'P1W' },
    });
    const sound = await campaign(client, { segmentIds: [audience], trigger: { type: 'scheduled', at } });
    const welcome = await campaign(client, { kind: 'welcome', trigger: { type: 'first_order' } });
    for (const c of [broken, sound, welcome]) await client.post(`/v1/campaigns/${c.id}/launch`);
    const buyer = await newCustomer(client, consenting);
    const placedAt = new Date(T0 - DAY).toISOString();
    expect((await client.post('/v1/orders', orderBody({ customerId: buyer.id, placedAt }))).statusCode).toBe(
      201,
    );
    await t.app.services.scores.refresh(tenant.id);
    // a repeat stored before the rule that refuses it: its next run cannot be worked out
    const owner = new pg.Client({ connectionString: inject('ownerUrl') });
    await owner.connect();
    try {
      await owner.query(
        `UPDATE campaigns SET trigger = jsonb_set(trigger, '{every}', '"P300000Y"') WHERE id = $1`,
        [broken.id],
      );
    } finally {
      await owner.end();
    }
    now = T0 + DAY + 60_000;
    await expect(t.app.services.campaigns.sweep([tenant.id])).rejects.toThrow(/the campaigns sweep failed/);
    expect(await messagesOf(client, sound.id)).toHaveLength(1);
    expect(await messagesOf(client, broken.id)).toHaveLength(0);
    // the inbox was taken in all the same
    expect((await messagesOf(client, welcome.id)).map((m) => m.customerId)).toEqual([buyer.id]);
    // still due: looked at again at the next sweep
    expect((await client.get(`/v1/campaigns/${broken.id}`)).json().nextRunAt).toBe(at);
  });
});

describe('campaigns: a schedule changed after it has run', () => {
  it('goes on counting from its first run (no extra run at the change); one not yet run runs at once', async () => {
    now = T0;
    const tenant = await t.newTenant();
    const { client } = tenant;
    const c1 = await newCustomer(client, consenting);
    const weekly = await campaign(client, {
      segmentIds: [await staticSegment(client, 'weekly', [c1.id])],
      trigger: { type: 'scheduled', every: 'P1W' },
    });
    await client.post(`/v1/campaigns/${weekly.id}/launch`);
    now = T0 + 60_000;
    await t.app.services.campaigns.sweep([tenant.id]);
    expect(await messagesOf(client, weekly.id)).toHaveLength(1);
    now = T0 + 2 * DAY;
    const fortnightly = await client.patch(`/v1/campaigns/${weekly.id}`, {
      trigger: { type: 'scheduled', every: 'P2W' },
    });
    expect(fortnightly.statusCode, fortnightly.body).toBe(200);
    expect(fortnightly.json().nextRunAt).toBe(new Date(T0 + 14 * DAY).toISOString());
    await t.app.services.campaigns.sweep([tenant.id]);
    expect(await messagesOf(client, weekly.id)).toHaveLength(1);

    // launched but not yet run (its start ahead), then its start moved back: it runs at once
    const later = await campaign(client, {
      segmentIds: [await staticSegment(client, 'later', [c1.id])],
      trigger: { type: 'scheduled', every: 'P1W' },
      startsAt: new Date(T0 + 10 * DAY).toISOString(),
    });
    await client.post(`/v1/campaigns/${later.id}/launch`);
    const sooner = await client.patch(`/v1/campaigns/${later.id}`, { startsAt: new Date(T0).toISOString() });
    expect(sooner.json().nextRunAt).toBe(new Date(now).toISOString());
  });
});

describe('campaigns: an unsubscribe after the channel changed', () => {
  it('withdraws the consent of the channel the message went out on, not the campaign’s new one', async () => {
    now = T0;
    const { client } = await t.newTenant();
    const c1 = await newCustomer(client, {
      phone: '+34600123456',
      consent: { email: { granted: true }, sms: { granted: true } },
    });
    const c = await campaign(client, { segmentIds: [await staticSegment(client, 'both', [c1.id])] });
    await client.post(`/v1/campaigns/${c.id}/launch`);
    const [message] = await messagesOf(client, c.id);
    expect(message).toMatchObject({ status: 'queued' });
    const moved = await client.patch(`/v1/campaigns/${c.id}`, { channel: 'sms' });
    expect(moved.statusCode, moved.body).toBe(200);
    const reported = await client.post('/v1/message-events', {
      items: [{ messageId: message!.id, type: 'unsubscribed', occurredAt: new Date(now).toISOString() }],
    });
    expect(reported.json().results[0].status).toBe('recorded');
    const consent = (await client.get(`/v1/customers/${c1.id}`)).json().consent;
    expect(consent.email.granted).toBe(false);
    expect(consent.sms.granted).toBe(true);
  });
});
