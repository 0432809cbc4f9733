import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhooksRepository } from '../src/modules/events/webhooks.repository.ts';
import { sign } from '../src/modules/events/webhooks.signing.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';
import { startReceiver } from './helpers/receiver.ts';

const ENV = {
  WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
  WEBHOOK_RETRY_SCHEDULE: '0,0,0,0,0,0',
  WEBHOOK_TIMEOUT_MS: '300',
};
let t: TestApp;
let guarded: TestApp;
let slow: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: ENV });
  guarded = await createTestApp();
  // retries an hour apart: each attempt's outcome can be looked at
  slow = await createTestApp({ env: { ...ENV, WEBHOOK_RETRY_SCHEDULE: '3600,3600' } });
});
afterAll(async () => {
  await t.close();
  await guarded.close();
  await slow.close();
});

/** Runs dispatch passes until `done` (deliveries with zero back-off are due at once). */
async function pump(tenantId: string, done: () => boolean, passes = 20) {
  for (let i = 0; i < passes && !done(); i++) {
    await t.app.services.webhooks.dispatch(tenantId);
    if (!done()) await new Promise((r) => setTimeout(r, 20));
  }
}

async function subscribe(
  client: TestApp['as'] extends (...a: never[]) => infer C ? C : never,
  url: string,
  events = ['customer.*'],
) {
  const res = await client.post('/v1/webhooks', { url, events });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; secret: string };
}

describe('webhook registration: the SSRF guard', () => {
  it.each([
    'http://127.0.0.1/hook',
    'http://10.0.0.1/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://localhost:8080/hook',
  ])('refuses %s without the allow-list', async (url) => {
    const { client } = await guarded.newTenant();
    const res = await client.post('/v1/webhooks', { url, events: ['*'] });
    expect(res.statusCode).toBe(422);
    expect(res.json().code).toBe('webhook_url_refused');
    expect(res.json().errors[0].path).toBe('url');
    expect((await client.get('/v1/webhooks')).json().data).toEqual([]);
  });

  it('refuses unknown event types and non-http URLs; shows the secret once', async () => {
    const { client } = await t.newTenant();
    const bad = await client.post('/v1/webhooks', { url: 'http://127.0.0.1/x', events: ['nothing.here'] });
    expect(bad.statusCode).toBe(400);
    for (const url of ['ftp://127.0.0.1/x', 'not a url', 'http:/127.0.0.1/x']) {
      const malformed = await client.post('/v1/webhooks', { url, events: ['*'] });
      expect(malformed.statusCode, url).toBe(400);
      expect(malformed.json().errors[0]).toMatchObject({
        path: 'url',
        message: 'must be an http or https URL',
      });
    }
    const created = await subscribe(client, 'http://127.0.0.1:9/x');
    expect(created.secret).toMatch(/^whsec_/);
    const read = (await client.get(`/v1/webhooks/${created.id}`)).json();
    expect(read.secret).toBeUndefined();
    expect(JSON.stringify((await client.get('/v1/webhooks')).json())).not.toContain(created.secret);
  });
});

describe('webhook delivery', () => {
  it('retries 500, 500, 500 then 200: four attempts, one webhook-id, fresh timestamps, each verified by standardwebhooks', async () => {
    const receiver = await startReceiver([{ status: 500 }, { status: 500 }, { status: 500 }]);
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await subscribe(client, receiver.url);
      const customer = await newCustomer(client);
      await pump(tenantId, () => receiver.received.length >= 4);
      expect(receiver.received).toHaveLength(4);
      const verifier = new Webhook(hook.secret);
      const ids = new Set(receiver.received.map((r) => r.headers['webhook-id']));
      expect(ids.size).toBe(1);
      const stamps = receiver.received.map((r) => Number(r.headers['webhook-timestamp']));
      expect([...stamps].sort()).toEqual(stamps);
      for (const r of receiver.received) {
        const payload = verifier.verify(r.body, r.headers as Record<string, string>) as {
          type: string;
          data: { id: string };
        };
        expect(payload).toMatchObject({ type: 'customer.created', data: { id: customer.id } });
      }
      // a tampered body, or a correctly signed but old message, fails verification
      const first = receiver.received[0]!;
      expect(() =>
        verifier.verify(first.body.replace(customer.id, 'x'), first.headers as Record<string, string>),
      ).toThrow();
      const old = Math.floor(Date.now() / 1000) - 3600;
      const id = first.headers['webhook-id'] as string;
      expect(() =>
        verifier.verify(first.body, {
          'webhook-id': id,
          'webhook-timestamp': String(old),
          'webhook-signature': sign(hook.secret, id, old, first.body),
        }),
      ).toThrow(/too old/);

      const log = (await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data;
      expect(log).toMatchObject([
        {
          eventType: 'customer.created',
          status: 'succeeded',
          attempts: 4,
          lastStatusCode: 200,
          nextAttemptAt: null,
        },
      ]);
      expect(`msg_${log[0].id}`).toBe(id);
    } finally {
      await receiver.close();
    }
  });

  it('during a rotation both secrets sign, and each verifies', async () => {
    const receiver = await startReceiver();
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await subscribe(client, receiver.url);
      const rotated = (await client.post(`/v1/webhooks/${hook.id}/rotate-secret`)).json();
      expect(rotated.secret).not.toBe(hook.secret);
      expect(rotated.rotationEndsAt).not.toBeNull();
      await newCustomer(client);
      await pump(tenantId, () => receiver.received.length >= 1);
      const [r] = receiver.received;
      expect((r!.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
      for (const secret of [hook.secret, rotated.secret]) {
        expect(() => new Webhook(secret).verify(r!.body, r!.headers as Record<string, string>)).not.toThrow();
      }
    } finally {
      await receiver.close();
    }
  });

  it('a second rotation within the window keeps the first one’s secret signing: all three verify', async () => {
    const receiver = await startReceiver();
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await subscribe(client, receiver.url);
      const first = (await client.post(`/v1/webhooks/${hook.id}/rotate-secret`)).json();
      const second = (await client.post(`/v1/webhooks/${hook.id}/rotate-secret`)).json();
      expect(new Set([hook.secret, first.secret, second.secret]).size).toBe(3);
      expect(Date.parse(second.rotationEndsAt)).toBeGreaterThanOrEqual(Date.parse(first.rotationEndsAt));
      await newCustomer(client);
      await pump(tenantId, () => receiver.received.length >= 1);
      const [r] = receiver.received;
      expect((r!.headers['webhook-signature'] as string).split(' ')).toHaveLength(3);
      for (const secret of [hook.secret, first.secret, second.secret])
        expect(() => new Webhook(secret).verify(r!.body, r!.headers as Record<string, string>)).not.toThrow();
    } finally {
      await receiver.close();
    }
  });

  it('410 disables the subscription and emits webhook.disabled', async () => {
    const receiver = await startReceiver([{ status: 410 }]);
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await subscribe(client, receiver.url);
      await newCustomer(client);
      await pump(tenantId, () => receiver.received.length >= 1);
      await t.app.services.webhooks.dispatch(tenantId);
      const read = (await client.get(`/v1/webhooks/${hook.id}`)).json();
      expect(read).toMatchObject({ enabled: false, disabledReason: 'gone' });
      expect((await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data[0]).toMatchObject({
        status: 'failed',
        lastStatusCode: 410,
      });
      const events = (await client.get('/v1/events?type=webhook.disabled')).json().data;
      expect(events).toMatchObject([{ data: { webhookId: hook.id, reason: 'gone' } }]);
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('a redirect is a failure (not followed); a hanging receiver times out; Retry-After is honoured', async () => {
    const target = await startReceiver();
    const receiver = await startReceiver([
      { status: 302, headers: { location: target.url } },
      'hang',
      { status: 429, headers: { 'retry-after': '120' } },
    ]);
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await subscribe(client, receiver.url);
      await newCustomer(client);
      const log = async () => (await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data[0];
      await t.app.services.webhooks.dispatch(tenantId);
      expect(receiver.received.length).toBeGreaterThanOrEqual(1);
      expect(target.received).toHaveLength(0);
      await pump(tenantId, () => receiver.received.length >= 3);
      const delivery = await log();
      expect(delivery).toMatchObject({ status: 'pending', attempts: 3, lastStatusCode: 429 });
      const wait = Date.parse(delivery.nextAttemptAt) - Date.parse(delivery.lastAttemptAt);
      expect(wait).toBeGreaterThanOrEqual(119_000);
      expect(wait).toBeLessThanOrEqual(121_000);
      const deliveries = await t.db.withTenant(tenantId, async (tx) => {
        const rows = await tx.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM webhook_deliveries`);
        return rows.rows[0]!.n;
      });
      expect(deliveries).toBe(1);
      expect(target.received).toHaveLength(0);
    } finally {
      await receiver.close();
      await target.close();
    }
  });

  it('records the redirect and the timeout as the attempts’ errors', async () => {
    const receiver = await startReceiver([
      { status: 301, headers: { location: 'http://example.com/' } },
      'hang',
    ]);
    try {
      const { id: tenantId, client } = await slow.newTenant();
      const hook = await subscribe(client, receiver.url);
      await newCustomer(client);
      await slow.app.services.webhooks.dispatch(tenantId);
      const first = (await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data[0];
      expect(first).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 301 });
      expect(first.lastError).toMatch(/redirect to http:\/\/example.com\/ not followed/);
      expect(Date.parse(first.nextAttemptAt) - Date.parse(first.lastAttemptAt)).toBeGreaterThan(2_800_000);
      await client.post(`/v1/webhooks/${hook.id}/deliveries/${first.id}/redeliver`);
      await slow.app.services.webhooks.dispatch(tenantId);
      const second = (await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data[0];
      expect(second).toMatchObject({
        attempts: 2,
        lastStatusCode: null,
        lastError: 'no answer within 300 ms',
      });
    } finally {
      await receiver.close();
    }
  });

  it('a subscription failing for days is switched off with a webhook.disabled event', async () => {
    const receiver = await startReceiver(Array.from({ length: 20 }, () => ({ status: 500 })));
    let now = Date.now();
    const later = await createTestApp({
      env: { ...ENV, WEBHOOK_RETRY_SCHEDULE: '0' },
      clock: { now: () => new Date(now) },
    });
    try {
      const { id: tenantId, client } = await later.newTenant();
      const hook = await subscribe(client, receiver.url);
      await newCustomer(client);
      await later.app.services.webhooks.dispatch(tenantId);
      const failing = (await client.get(`/v1/webhooks/${hook.id}`)).json();
      expect(failing).toMatchObject({ enabled: true, failingSince: new Date(now).toISOString() });
      expect((await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data[0]).toMatchObject({
        status: 'failed',
        attempts: 2,
      });
      const seen = (await client.get(`/v1/webhooks/${hook.id}`)).headers.etag;
      now += 6 * 86_400_000;
      await newCustomer(client);
      await later.app.services.webhooks.dispatch(tenantId);
      expect((await client.get(`/v1/webhooks/${hook.id}`)).json()).toMatchObject({
        enabled: false,
        disabledReason: 'failing',
      });
      // switched off, it is another version: a change based on the copy seen before is refused
      const stale = await client.patch(`/v1/webhooks/${hook.id}`, { enabled: true }, { 'if-match': seen! });
      expect(stale.statusCode, stale.body).toBe(412);
      const events = (await client.get('/v1/events?type=webhook.disabled')).json().data;
      expect(events).toMatchObject([{ data: { webhookId: hook.id, reason: 'failing' } }]);
      // enabling it again clears the record of failures
      const enabled = await client.patch(`/v1/webhooks/${hook.id}`, { enabled: true });
      expect(enabled.json()).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
    } finally {
      await later.close();
      await receiver.close();
    }
  });

  it('a rolled-back change emits nothing and delivers nothing', async () => {
    const receiver = await startReceiver();
    try {
      const { id: tenantId, client } = await t.newTenant();
      await subscribe(client, receiver.url, ['*']);
      await expect(
        t.db.withTenant(tenantId, async (tx) => {
          await t.app.services.events.emit(tx, tenantId, [{ type: 'customer.updated', data: { id: 'x' } }]);
          throw new Error('the change fails after its event was written');
        }),
      ).rejects.toThrow('the change fails');
      await t.app.services.webhooks.dispatch(tenantId);
      expect(receiver.received).toHaveLength(0);
      expect((await client.get('/v1/events')).json().data).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('a delivery committed while no worker ran is delivered by the next process', async () => {
    const receiver = await startReceiver();
    const first = await createTestApp({ env: ENV });
    try {
      const tenant = await first.newTenant();
      await subscribe(tenant.client, receiver.url);
      await newCustomer(tenant.client);
      await first.close(); // the process goes away with the delivery pending
      await pump(tenant.id, () => receiver.received.length >= 1);
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('test sends webhook.test to that subscription only; redeliver sends a delivery again with the same id', async () => {
    const receiver = await startReceiver();
    const other = await startReceiver();
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await subscribe(client, receiver.url, ['*']);
      await subscribe(client, other.url, ['*']);
      const test = await client.post(`/v1/webhooks/${hook.id}/test`);
      expect(test.statusCode).toBe(202);
      await pump(tenantId, () => receiver.received.length >= 1);
      expect(JSON.parse(receiver.received[0]!.body).type).toBe('webhook.test');
      expect(other.received).toHaveLength(0);
      const again = await client.post(`/v1/webhooks/${hook.id}/deliveries/${test.json().id}/redeliver`);
      expect(again.statusCode).toBe(202);
      await pump(tenantId, () => receiver.received.length >= 2);
      expect(receiver.received[1]!.headers['webhook-id']).toBe(receiver.received[0]!.headers['webhook-id']);
      expect((await client.post(`/v1/webhooks/${hook.id}/deliveries/${hook.id}/redeliver`)).statusCode).toBe(
        404,
      );
    } finally {
      await receiver.close();
      await other.close();
    }
  });

  it('a pass claims for a bounded time, and the sweep only asks for passes: a hanging receiver holds no worker', async () => {
    const receiver = await startReceiver(Array.from({ length: 20 }, () => 'hang' as const));
    try {
      const { id: tenantId, client } = await slow.newTenant();
      const hook = await subscribe(client, receiver.url);
      for (let i = 0; i < 12; i++) await newCustomer(client);
      const attempts = async () =>
        (await client.get(`/v1/webhooks/${hook.id}/deliveries?limit=100`))
          .json()
          .data.map((d: { attempts: number }) => d.attempts);
      // the sweep dispatches nothing itself (it would wait on the receiver): it asks for a pass
      await slow.app.services.webhooks.sweep([tenantId]);
      expect((await attempts()).filter((n: number) => n > 0)).toEqual([]);
      // five in flight for the webhook, hanging to the 300 ms timeout; after 100 ms nothing more is claimed
      const pass = await slow.app.services.webhooks.dispatch(tenantId, 100);
      expect(pass.attempted).toBe(5);
      const after = await attempts();
      expect(after.filter((n: number) => n === 1)).toHaveLength(5);
      expect(after.filter((n: number) => n === 0)).toHaveLength(7);
    } finally {
      await receiver.close();
    }
  });

  it('the nightly pruning drops events past 30 days, but not one a delivery still waits on', async () => {
    let now = new Date();
    const clocked = await createTestApp({ env: ENV, clock: { now: () => now } });
    try {
      const { id: tenantId, client } = await clocked.newTenant();
      const hook = await subscribe(client, 'http://127.0.0.1:9/x', ['customer.created']);
      const waiting = await newCustomer(client); // its customer.created has a pending delivery
      expect((await client.patch(`/v1/webhooks/${hook.id}`, { enabled: false })).statusCode).toBe(200);
      expect((await client.patch(`/v1/customers/${waiting.id}`, { firstName: 'Eva' })).statusCode).toBe(200);
      const types = async () =>
        (await client.get('/v1/events?limit=100')).json().data.map((e: { type: string }) => e.type);
      expect(await types()).toEqual(['customer.created', 'customer.updated']);
      now = new Date(Date.now() + 31 * 86_400_000);
      expect(await clocked.app.services.events.prune(tenantId)).toBe(1);
      expect(await types()).toEqual(['customer.created']);
      // once delivered (or failed) it goes like any other
      await clocked.db.withTenant(tenantId, (tx) =>
        tx.execute(sql`UPDATE webhook_deliveries SET status = 'failed'`),
      );
      expect(await clocked.app.services.events.prune(tenantId)).toBe(1);
      expect(await types()).toEqual([]);
    } finally {
      await clocked.close();
    }
  });

  it('a Retry-After shorter than the schedule does not shorten it (the schedule is the floor)', async () => {
    const receiver = await startReceiver([{ status: 429, headers: { 'retry-after': '0' } }]);
    try {
      const { id: tenantId, client } = await slow.newTenant();
      const hook = await subscribe(client, receiver.url);
      await newCustomer(client);
      await slow.app.services.webhooks.dispatch(tenantId);
      const delivery = (await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data[0];
      expect(delivery).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 429 });
      expect(Date.parse(delivery.nextAttemptAt) - Date.parse(delivery.lastAttemptAt)).toBeGreaterThan(
        2_800_000,
      );
    } finally {
      await receiver.close();
    }
  });

  it('a disabled webhook’s deliveries wait (redeliver is refused) and go once it is enabled again', async () => {
    const receiver = await startReceiver();
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await subscribe(client, receiver.url);
      await newCustomer(client);
      expect((await client.patch(`/v1/webhooks/${hook.id}`, { enabled: false })).statusCode).toBe(200);
      await t.app.services.webhooks.dispatch(tenantId);
      expect(receiver.received).toHaveLength(0);
      const [waiting] = (await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data;
      expect(waiting).toMatchObject({ status: 'pending', attempts: 0 });
      const refused = await client.post(`/v1/webhooks/${hook.id}/deliveries/${waiting.id}/redeliver`);
      expect(refused.statusCode).toBe(409);
      expect(refused.json().code).toBe('webhook_disabled');
      expect((await client.patch(`/v1/webhooks/${hook.id}`, { enabled: true })).statusCode).toBe(200);
      await pump(tenantId, () => receiver.received.length >= 1);
      expect(receiver.received).toHaveLength(1);
      expect((await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data[0]).toMatchObject({
        id: waiting.id,
        status: 'succeeded',
        attempts: 1,
      });
    } finally {
      await receiver.close();
    }
  });

  it('redeliver is refused while an attempt of the delivery is in flight, and accepted after', async () => {
    const receiver = await startReceiver(['hang']);
    try {
      const { id: tenantId, client } = await t.newTenant();
      const hook = await subscribe(client, receiver.url);
      await newCustomer(client);
      const pass = t.app.services.webhooks.dispatch(tenantId);
      for (let i = 0; i < 200 && !receiver.received.length; i++) await new Promise((r) => setTimeout(r, 10));
      expect(receiver.received).toHaveLength(1);
      const [delivery] = (await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data;
      const path = `/v1/webhooks/${hook.id}/deliveries/${delivery.id}/redeliver`;
      const busy = await client.post(path);
      expect(busy.statusCode).toBe(409);
      expect(busy.json().code).toBe('delivery_in_flight');
      await pass; // the hanging attempt times out; its retry succeeds
      expect((await client.get(`/v1/webhooks/${hook.id}/deliveries`)).json().data[0]).toMatchObject({
        status: 'succeeded',
        attempts: 2,
      });
      expect((await client.post(path)).statusCode).toBe(202);
      await pump(tenantId, () => receiver.received.length >= 3);
      expect(receiver.received).toHaveLength(3);
    } finally {
      await receiver.close();
    }
  });

  it('a receiver that hangs holds at most five attempts at once, and another webhook’s delivery does not wait for it', async () => {
    // a receiver that never answers, counting the requests open at once
    let open = 0;
    let most = 0;
    let total = 0;
    let firstEnded: number | undefined;
    const hanging = createServer((req, res) => {
      open += 1;
      total += 1;
      most = Math.max(most, open);
      req.resume();
      res.on('close', () => {
        open -= 1;
        firstEnded ??= Date.now();
      });
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const fast = await startReceiver();
    const once = await createTestApp({ env: { ...ENV, WEBHOOK_RETRY_SCHEDULE: '3600' } });
    try {
      const { id: tenantId, client } = await once.newTenant();
      const port = (hanging.address() as AddressInfo).port;
      await subscribe(client, `http://127.0.0.1:${port}/hook`, ['customer.created']);
      for (let i = 0; i < 22; i++) await newCustomer(client);
      const other = await subscribe(client, fast.url, ['customer.erased']);
      expect((await client.post(`/v1/webhooks/${other.id}/test`)).statusCode).toBe(202);
      await once.app.services.webhooks.dispatch(tenantId);
      expect(total).toBe(22);
      expect(most).toBe(5);
      // the other webhook's delivery, due after all 22, went out before the first hanging one ended
      expect(fast.received).toHaveLength(1);
      expect(fast.received[0]!.at).toBeLessThan(firstEnded!);
    } finally {
      await once.close();
      await fast.close();
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });

  it('a claim takes each webhook’s own oldest deliveries: a backlog of thousands on one hides nothing of another', async () => {
    const { id: tenantId, client } = await t.newTenant();
    const busy = await subscribe(client, 'http://127.0.0.1:9/busy', ['customer.created']);
    const quiet = await subscribe(client, 'http://127.0.0.1:9/quiet', ['customer.created']);
    await client.patch(`/v1/webhooks/${quiet.id}`, { enabled: false });
    await newCustomer(client); // one event, one delivery for the enabled one
    await client.patch(`/v1/webhooks/${quiet.id}`, { enabled: true });
    const claimed = await t.db.withTenant(tenantId, async (tx) => {
      const [event] = (await tx.execute<{ id: string }>(sql`SELECT id FROM events LIMIT 1`)).rows;
      // 1,500 old deliveries of the busy one, then one of the quiet one, the newest of all
      await tx.execute(sql`
        INSERT INTO webhook_deliveries (tenant_id, id, subscription_id, event_id, event_type, next_attempt_at)
        SELECT ${tenantId}::uuid, gen_random_uuid(), ${busy.id}::uuid, ${event!.id}::uuid, 'customer.created',
          now() - interval '1 hour' + n * interval '1 ms'
        FROM generate_series(1, 1500) n`);
      await tx.execute(sql`
        INSERT INTO webhook_deliveries (tenant_id, id, subscription_id, event_id, event_type, next_attempt_at)
        VALUES (${tenantId}::uuid, gen_random_uuid(), ${quiet.id}::uuid, ${event!.id}::uuid, 'customer.created', now())`);
      return webhooksRepository.claim(tx, new Date(Date.now() + 1000), 60_000, 20, 5);
    });
    const by = (id: string) => claimed.filter((c) => c.subscription.id === id).length;
    expect(by(busy.id)).toBe(5);
    expect(by(quiet.id)).toBe(1);
  });

  it('delivers on its own with background jobs: trigger → notification → dispatch job', async () => {
    const receiver = await startReceiver();
    const live = await createTestApp({ env: ENV, jobs: true });
    try {
      const { client } = await live.newTenant();
      await subscribe(client, receiver.url, ['customer.created']);
      await newCustomer(client);
      const end = Date.now() + 15_000;
      while (!receiver.received.length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(receiver.received).toHaveLength(1);
    } finally {
      await live.close();
      await receiver.close();
    }
  });
});
