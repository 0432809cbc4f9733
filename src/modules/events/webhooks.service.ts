import type { TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { forEachTenant, type Jobs } from '../../platform/jobs.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { ifMatchSatisfied } from '../../platform/schemas.ts';
import type { EventsService } from './events.service.ts';
import { type AllowList, parseAllowList, urlRefusal } from './webhooks.guard.ts';
import { type Outcome, post } from './webhooks.http.ts';
import {
  type Claimed,
  type DeliveryRow,
  webhooksRepository as repo,
  type SubscriptionRow,
} from './webhooks.repository.ts';
import type { CreateWebhookInput, Delivery, UpdateWebhookInput, Webhook } from './webhooks.schemas.ts';
import { newSecret, signedHeaders } from './webhooks.signing.ts';

export const DISPATCH_TASK = 'webhooks_dispatch';
export const WEBHOOKS_CHANNEL = 'vinculo_webhooks';
/** Seconds to wait after each failed attempt: 11 attempts over about three days (± 20 % jitter). */
export const RETRY_SCHEDULE = [5, 300, 1800, 7200, 18_000, 36_000, 36_000, 50_400, 72_000, 36_000];
export const ROTATION_HOURS = 24;
/** Replaced secrets signing at once, at most (beyond it, the oldest stops first). */
const MAX_RETIRING = 4;
/** A subscription whose deliveries have failed without a success for this long is switched off. */
export const DISABLE_AFTER_DAYS = 5;
/**
 * How long a claimed delivery is another worker's to leave alone: the address check and the request
 * (each bounded by the timeout) and the recording, with a margin — never less than a minute.
 */
const leaseMs = (timeoutMs: number) => Math.max(60_000, 2 * timeoutMs + 30_000);
/** Attempts of one tenant in flight at once in a pass, and of one webhook across all workers. */
const IN_FLIGHT = 20;
const PER_WEBHOOK = 5;
/**
 * A dispatch pass claims no more after this long: it lets the attempts in flight end and asks for
 * the next pass, behind the jobs already waiting (a slow receiver never holds a worker for long).
 */
const PASS_MS = 60_000;

export type WebhookOptions = {
  allowedHosts?: string;
  requireHttps: boolean;
  timeoutMs: number;
  retrySchedule?: number[];
};

const notFound = (id: string) => new AppError('webhook_not_found', `no webhook ${id} in this tenant`);

/** The replaced secrets that still sign beside the current one. */
const retiring = (row: SubscriptionRow, now: Date) =>
  row.retiringSecrets.filter((r) => Date.parse(r.until) > now.getTime());

/** When the last replaced secret stops signing (null when no rotation is under way). */
const rotationEnd = (row: SubscriptionRow, now: Date) => {
  const until = retiring(row, now).map((r) => Date.parse(r.until));
  return until.length ? new Date(Math.max(...until)) : null;
};

export class WebhooksService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #clock: Clock;
  readonly #events: EventsService;
  readonly #jobs: () => Jobs | undefined;
  readonly #allow: AllowList;
  readonly #options: WebhookOptions;
  readonly #schedule: number[];

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    clock: Clock;
    events: EventsService;
    jobs?: () => Jobs | undefined;
    webhooks?: WebhookOptions;
  }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#jobs = deps.jobs ?? (() => undefined);
    this.#options = deps.webhooks ?? { requireHttps: false, timeoutMs: 15_000 };
    this.#allow = parseAllowList(this.#options.allowedHosts);
    this.#schedule = this.#options.retrySchedule ?? RETRY_SCHEDULE;
  }

  toWebhook(row: SubscriptionRow): Webhook {
    return {
      id: row.id,
      url: row.url,
      events: row.events,
      description: row.description,
      enabled: row.enabled,
      disabledReason: row.disabledReason,
      failingSince: row.failingSince?.toISOString() ?? null,
      rotationEndsAt: rotationEnd(row, this.#clock.now())?.toISOString() ?? null,
      version: row.version,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  }

  toDelivery(row: DeliveryRow): Delivery {
    return {
      id: row.id,
      webhookId: row.subscriptionId,
      eventId: row.eventId,
      eventType: row.eventType,
      status: row.status,
      attempts: row.attempts,
      lastAttemptAt: row.lastAttemptAt?.toISOString() ?? null,
      lastStatusCode: row.lastStatusCode,
      lastError: row.lastError,
      lastLatencyMs: row.lastLatencyMs,
      nextAttemptAt: row.status === 'pending' ? row.nextAttemptAt.toISOString() : null,
      createdAt: row.createdAt.toISOString(),
    };
  }

  async #checkUrl(url: string): Promise<void> {
    const refusal = await urlRefusal(url, { allow: this.#allow, requireHttps: this.#options.requireHttps });
    if (refusal)
      throw new AppError('webhook_url_refused', `the url ${refusal}`, {
        errors: [{ path: 'url', message: refusal }],
      });
  }

  async create(actor: TenantActor, input: CreateWebhookInput): Promise<Webhook & { secret: string }> {
    await this.#checkUrl(input.url);
    const secret = newSecret();
    const row = await this.#db.withTenant(actor.tenantId, (tx) =>
      repo.insert(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        url: input.url,
        events: [...new Set(input.events)],
        description: input.description ?? null,
        enabled: input.enabled,
        secret,
      }),
    );
    return { ...this.toWebhook(row), secret };
  }

  #read<T>(actor: TenantActor, fn: (tx: Tx) => Promise<T>) {
    return this.#db.withTenant(actor.tenantId, fn, { readOnly: true });
  }

  async #find(tx: Tx, id: string, forUpdate = false): Promise<SubscriptionRow> {
    const row = await repo.findById(tx, id, forUpdate);
    if (!row) throw notFound(id);
    return row;
  }

  get(actor: TenantActor, id: string): Promise<Webhook> {
    return this.#read(actor, async (tx) => this.toWebhook(await this.#find(tx, id)));
  }

  list(actor: TenantActor, limit: number, cursor?: string): Promise<Page<Webhook>> {
    const scope = { tenantId: actor.tenantId, list: 'webhooks', filters: {} };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#read(actor, async (tx) =>
      this.#cursors.page(
        scope,
        await repo.list(tx, after, limit),
        limit,
        (r) => r.id,
        (r) => this.toWebhook(r),
      ),
    );
  }

  async update(
    actor: TenantActor,
    id: string,
    input: UpdateWebhookInput,
    ifMatch?: string,
  ): Promise<Webhook> {
    if (input.url !== undefined) await this.#checkUrl(input.url);
    let resumed = false;
    const webhook = await this.#db.withTenant(actor.tenantId, async (tx) => {
      const current = await this.#find(tx, id, true);
      resumed = input.enabled === true && !current.enabled;
      if (!ifMatchSatisfied(ifMatch, current.version))
        throw new AppError('precondition_failed', `the webhook is at version ${current.version}`);
      const row = await repo.update(tx, id, {
        ...(input.url !== undefined ? { url: input.url } : {}),
        ...(input.events !== undefined ? { events: [...new Set(input.events)] } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
        ...(resumed ? { disabledReason: null, failingSince: null } : {}),
      });
      return this.toWebhook(row);
    });
    // the deliveries that waited while it was disabled go now
    if (resumed) await this.wake(actor.tenantId);
    return webhook;
  }

  remove(actor: TenantActor, id: string): Promise<void> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      await this.#find(tx, id, true);
      await repo.remove(tx, id);
    });
  }

  /**
   * A new secret; the one it replaces keeps signing for 24 hours beside it, and so do earlier ones
   * still inside their own 24 hours (a retried or second rotation never cuts a receiver off).
   */
  rotateSecret(actor: TenantActor, id: string): Promise<Webhook & { secret: string }> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      const current = await this.#find(tx, id, true);
      const now = this.#clock.now();
      const secret = newSecret();
      const until = new Date(now.getTime() + ROTATION_HOURS * 3_600_000).toISOString();
      const row = await repo.update(tx, id, {
        secret,
        retiringSecrets: [
          { secret: current.secret, until },
          ...retiring(current, now).slice(0, MAX_RETIRING - 1),
        ],
      });
      return { ...this.toWebhook(row), secret };
    });
  }

  deliveries(
    actor: TenantActor,
    id: string,
    status: DeliveryRow['status'] | undefined,
    limit: number,
    cursor?: string,
  ) {
    const scope = { tenantId: actor.tenantId, list: `webhook-deliveries:${id}`, filters: { status } };
    const before = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#read(actor, async (tx): Promise<Page<Delivery>> => {
      await this.#find(tx, id);
      const rows = await repo.deliveries(tx, id, status, before, limit);
      return this.#cursors.page(
        scope,
        rows,
        limit,
        (r) => r.id,
        (r) => this.toDelivery(r),
      );
    });
  }

  /**
   * Sends a delivery again, now (the same `webhook-id`); its attempt count goes on. Refused while the
   * webhook is disabled (nothing would be sent) and while an attempt of it is in flight.
   */
  async redeliver(actor: TenantActor, id: string, deliveryId: string): Promise<Delivery> {
    const row = await this.#db.withTenant(actor.tenantId, async (tx) => {
      const subscription = await this.#find(tx, id);
      const delivery = await repo.findDelivery(tx, id, deliveryId, true);
      if (!delivery) throw new AppError('not_found', `no delivery ${deliveryId} for this webhook`);
      if (!subscription.enabled)
        throw new AppError('webhook_disabled', 'enable the webhook to send its deliveries again');
      const now = this.#clock.now();
      if (delivery.leasedUntil && delivery.leasedUntil > now)
        throw new AppError(
          'delivery_in_flight',
          `an attempt of this delivery is under way (its lease ends at ${delivery.leasedUntil.toISOString()})`,
        );
      return repo.updateDelivery(tx, deliveryId, { status: 'pending', nextAttemptAt: now });
    });
    await this.wake(actor.tenantId);
    return this.toDelivery(row);
  }

  /** A `webhook.test` event delivered to this subscription only. */
  async test(actor: TenantActor, id: string): Promise<Delivery> {
    const row = await this.#db.withTenant(actor.tenantId, async (tx) => {
      const subscription = await this.#find(tx, id);
      if (!subscription.enabled) throw new AppError('webhook_disabled', 'enable the webhook to test it');
      const eventId = await this.#events.emitOne(tx, actor.tenantId, {
        type: 'webhook.test',
        data: { webhookId: id, message: 'A test delivery from Vínculo' },
      });
      return repo.insertDelivery(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        subscriptionId: id,
        eventId,
        eventType: 'webhook.test',
        nextAttemptAt: this.#clock.now(),
      });
    });
    await this.wake(actor.tenantId);
    return this.toDelivery(row);
  }

  /**
   * Asks for a dispatch pass of the tenant at `at` (now by default). A pass's own next wake-up has
   * a key of its own, so it never moves a wake-up for now (a new event's) to later.
   */
  async wake(tenantId: string, at?: Date): Promise<void> {
    const key = at ? `${DISPATCH_TASK}:${tenantId}:next` : `${DISPATCH_TASK}:${tenantId}`;
    await this.#jobs()
      ?.add(DISPATCH_TASK, { tenantId }, { jobKey: key, jobKeyMode: 'replace', ...(at ? { runAt: at } : {}) })
      .catch(() => undefined);
  }

  listen(onError: (error: Error) => void): Promise<() => Promise<void>> {
    return this.#db.listen(WEBHOOKS_CHANNEL, (tenantId) => void this.wake(tenantId), onError);
  }

  /**
   * One dispatch pass: every due delivery of the tenant, up to `IN_FLIGHT` attempts at once, each
   * recorded as it ends and its slot refilled at once (a slow receiver holds one slot, not the pass);
   * no webhook gets more than `PER_WEBHOOK` of them; nothing more is claimed after `passMs`. Then
   * the next wake-up.
   */
  async dispatch(tenantId: string, passMs = PASS_MS): Promise<{ attempted: number }> {
    let attempted = 0;
    let failure: unknown;
    const running = new Set<Promise<void>>();
    const until = Date.now() + passMs;
    for (;;) {
      if (running.size < IN_FLIGHT && Date.now() < until) {
        const lease = leaseMs(this.#options.timeoutMs);
        const claimed = await this.#db.withTenant(tenantId, (tx) =>
          repo.claim(tx, this.#clock.now(), lease, IN_FLIGHT - running.size, PER_WEBHOOK),
        );
        for (const c of claimed) {
          const attempt: Promise<void> = this.#attempt(tenantId, c)
            .catch((error: unknown) => {
              // its lease runs out and a later pass tries again; the pass reports the failure
              failure ??= error;
            })
            .finally(() => running.delete(attempt));
          running.add(attempt);
        }
        attempted += claimed.length;
      }
      // nothing in flight and nothing claimable (or its time is up): the pass is over
      if (!running.size) break;
      await Promise.race(running);
    }
    const next = await this.#db.withTenant(tenantId, (tx) => repo.nextDue(tx), { readOnly: true });
    // one already due was not claimable (its webhook's slots held by another worker, whose pass
    // takes it next): look again shortly rather than at once
    const now = this.#clock.now().getTime();
    if (next) await this.wake(tenantId, next.getTime() <= now ? new Date(now + 5_000) : next);
    if (failure) throw failure;
    return { attempted };
  }

  async #attempt(tenantId: string, { delivery, subscription, event }: Claimed): Promise<void> {
    const now = this.#clock.now();
    const body = JSON.stringify({
      id: event.id,
      type: event.type,
      version: event.version,
      timestamp: event.occurredAt.toISOString(),
      data: event.data,
    });
    const secrets = [subscription.secret, ...retiring(subscription, now).map((r) => r.secret)];
    const headers = signedHeaders(secrets, `msg_${delivery.id}`, Math.floor(now.getTime() / 1000), body);
    const outcome = await post(subscription.url, body, headers, {
      allow: this.#allow,
      requireHttps: this.#options.requireHttps,
      timeoutMs: this.#options.timeoutMs,
    });
    await this.#db.withTenant(tenantId, (tx) => this.#record(tx, tenantId, delivery, subscription, outcome));
  }

  async #record(
    tx: Tx,
    tenantId: string,
    delivery: DeliveryRow,
    subscription: SubscriptionRow,
    outcome: Outcome,
  ) {
    const now = this.#clock.now();
    const attempts = delivery.attempts + 1;
    const ok = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300;
    const gone = outcome.status === 410;
    const delay = this.#schedule[attempts - 1];
    const last = ok || gone || delay === undefined;
    // the schedule is the floor: a Retry-After may ask for longer (up to a day), never for less
    const waitMs = Math.max(
      (delay ?? 0) * 1000 * (0.8 + Math.random() * 0.4),
      Math.min(outcome.retryAfterMs ?? 0, 86_400_000),
    );
    // only while this attempt's lease holds: a redelivery or another worker may have taken it over
    const recorded = await repo.recordAttempt(tx, delivery.id, delivery.leasedUntil!, {
      status: ok ? 'succeeded' : last ? 'failed' : 'pending',
      attempts,
      lastAttemptAt: now,
      lastStatusCode: outcome.status ?? null,
      lastError: ok ? null : (outcome.error ?? `the receiver answered ${outcome.status}`),
      lastLatencyMs: outcome.latencyMs,
      nextAttemptAt: last ? now : new Date(now.getTime() + waitMs),
    });
    if (!recorded) return;
    // the subscription may have been deleted while the attempt ran (its deliveries went with it)
    const current = await repo.findById(tx, subscription.id, true);
    if (!current) return;
    if (ok) {
      if (current.failingSince) await repo.setState(tx, current.id, { failingSince: null });
      return;
    }
    const failingSince = current.failingSince ?? now;
    const failingTooLong = now.getTime() - failingSince.getTime() >= DISABLE_AFTER_DAYS * 86_400_000;
    if ((gone || failingTooLong) && current.enabled) {
      const reason = gone ? 'gone' : 'failing';
      await repo.setState(tx, current.id, { enabled: false, disabledReason: reason, failingSince });
      await this.#events.emit(tx, tenantId, [
        {
          type: 'webhook.disabled',
          data: { webhookId: current.id, url: current.url, reason, failingSince: failingSince.toISOString() },
        },
      ]);
    } else if (!current.failingSince) await repo.setState(tx, current.id, { failingSince });
  }

  /**
   * The sweep: a dispatch pass asked for each tenant with due deliveries (nothing is left behind
   * if no listener was up). It dispatches nothing itself, so it never waits on a receiver.
   */
  async sweep(tenantIds: string[]): Promise<void> {
    await forEachTenant('the webhooks sweep', tenantIds, async (tenantId) => {
      const next = await this.#db.withTenant(tenantId, (tx) => repo.nextDue(tx), { readOnly: true });
      if (next && next.getTime() <= this.#clock.now().getTime()) await this.wake(tenantId);
    });
  }
}
