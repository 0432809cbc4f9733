import type { TenantActor } from '../../platform/auth.ts';
import { canonicalJson } from '../../platform/canonical-json.ts';
import { atWallClock, type Clock, wallClock } from '../../platform/clock.ts';
import { type Database, inSavepoint, type Tx } from '../../platform/db.ts';
import { AppError, type FieldError, validationError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { drain, forEachTenant, type Jobs } from '../../platform/jobs.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { ifMatchSatisfied } from '../../platform/schemas.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { Event } from '../events/events.schemas.ts';
import type { EventsService } from '../events/events.service.ts';
import { shift } from '../segments/segments.compiler.ts';
import type { SegmentsService } from '../segments/segments.service.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import { arm, lift, share } from './campaigns.report.ts';
import { type CampaignRow, type MessageRow, campaignsRepository as repo } from './campaigns.repository.ts';
import type {
  Campaign,
  CampaignAction,
  CreateCampaignInput,
  Message,
  Rendered,
  Report,
  UpdateCampaignInput,
} from './campaigns.schemas.ts';
import { CONSENT_OF, type Entry, type Sender } from './campaigns.sending.ts';
import type { Trigger } from './campaigns.table.ts';
import { showsPersonalData, templateErrors } from './campaigns.templates.ts';

export const INBOX_TASK = 'campaigns_inbox';
export const RUN_TASK = 'campaigns_run';
export const CAMPAIGNS_SWEEP_TASK = 'campaigns_sweep';
export const CAMPAIGNS_CHANNEL = 'vinculo_campaigns';
const AUDIENCE_PAGE = 2000;
const INBOX_BATCH = 200;

export const ATTRIBUTION =
  'Last touch: an order (neither cancelled nor refunded) by the customer after their first entry and within the attribution window, unless another campaign’s message reached them in between; an order carrying one of the campaign’s offer codes after entry counts for it whatever the window. Control customers (held out) are measured the same way.';

/** The transitions each action makes (from → to); anything else is a 409. */
const TRANSITIONS: Record<CampaignAction, Partial<Record<CampaignRow['status'], CampaignRow['status']>>> = {
  launch: { draft: 'running' },
  pause: { running: 'paused' },
  resume: { paused: 'running' },
  complete: { running: 'completed', paused: 'completed', scheduled: 'completed' },
  archive: { draft: 'archived', completed: 'archived' },
};

const toCampaign = (row: CampaignRow): Campaign => ({
  id: row.id,
  name: row.name,
  kind: row.kind,
  channel: row.channel,
  segmentIds: row.segmentIds,
  excludeSegmentIds: row.excludeSegmentIds,
  trigger: row.trigger as Campaign['trigger'],
  variants: row.variants,
  holdoutPercent: row.holdoutPercent,
  attributionWindowDays: row.attributionWindowDays,
  startsAt: row.startsAt?.toISOString() ?? null,
  endsAt: row.endsAt?.toISOString() ?? null,
  status: row.status,
  launchedAt: row.launchedAt?.toISOString() ?? null,
  nextRunAt: row.nextRunAt?.toISOString() ?? null,
  version: row.version,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

/** A template that shows personal data (contact, birth date, address) is shown only to customers:pii. */
const showsPii = (campaign: CampaignRow) => showsPersonalData(campaign.variants);
const hideText = <T extends { subject: string | null; body: string | null }>(m: T): T => ({
  ...m,
  subject: null,
  body: null,
});

export const toMessage = (row: MessageRow): Message => ({
  id: row.id,
  campaignId: row.campaignId,
  customerId: row.customerId,
  status: row.status,
  reason: row.reason,
  variant: row.variant,
  subject: row.subject,
  body: row.body,
  enteredAt: row.enteredAt.toISOString(),
  deliveredAt: row.deliveredAt?.toISOString() ?? null,
  openedAt: row.openedAt?.toISOString() ?? null,
  clickedAt: row.clickedAt?.toISOString() ?? null,
});

const notFound = (id: string) => new AppError('campaign_not_found', `no campaign ${id} in this tenant`);

/**
 * The first run after `now` of a schedule that started at `from` and repeats `every` (at least an
 * hour, by the schema). Steps of hours or less are fixed lengths; steps with days, weeks, months or
 * years are calendar steps on the tenant's wall clock: a daily 09:00 stays 09:00 in `timezone` across
 * a change to or from summer time. An old start is skipped over arithmetically, not step by step.
 */
export function nextRun(from: Date, every: string, now: Date, timezone = 'UTC'): Date {
  if (from > now) return from;
  const [datePart] = every.split('T');
  const step = shift(from, every, 1).getTime() - from.getTime();
  if (!/[YMWD]/.test(datePart!) || step <= 0) {
    // a repeat stored before the one-hour rule runs hourly
    const hourly = Math.max(step, 3_600_000);
    const steps = Math.max(0, Math.floor((now.getTime() - from.getTime()) / hourly) + 1);
    return new Date(from.getTime() + steps * hourly);
  }
  // the n-th run is n steps from the start, not one step from the run before: a monthly run from
  // the 31st falls on the last day of shorter months and on the 31st again after them. The loop
  // starts a little short of the answer (steps a tenth longer than the first one, and a day more)
  const first = Math.max(1, Math.floor((now.getTime() - from.getTime()) / (step * 1.1 + 86_400_000)));
  for (let n = first; ; n++) {
    const times = every.replace(/\d+/g, (d) => String(Number(d) * n));
    const next = atWallClock(from, timezone, (wall) => shift(wall, times, 1));
    if (next > now) return next;
  }
}

/**
 * Where a scheduled campaign's runs start: its `at` (the launch time without one), never before
 * its `startsAt` — a campaign launched ahead of its start first runs when it starts.
 */
function scheduleStart(trigger: Trigger, startsAt: Date | null, launchedAt: Date): Date | null {
  if (trigger.type !== 'scheduled') return null;
  const at = trigger.at ? new Date(trigger.at) : launchedAt;
  return startsAt && startsAt > at ? startsAt : at;
}

/**
 * A launched campaign's next run after its trigger or start changed: its `at` when ahead, else its
 * next repeat (none for a one-off already past). Without an `at`, the runs count from the first
 * one: a schedule that has run (`ranSince`, its launch) goes on at its next repeat (none for a
 * one-off); one that has not runs as soon as it has started.
 */
function rescheduledRun(
  trigger: Trigger,
  startsAt: Date | null,
  now: Date,
  timezone: string,
  ranSince: Date | null,
): Date | null {
  if (trigger.type !== 'scheduled') return null;
  if (!trigger.at) {
    if (!ranSince) return startsAt && startsAt > now ? startsAt : now;
    return runAfter(trigger, scheduleStart(trigger, startsAt, ranSince), now, timezone);
  }
  return runAfter(trigger, scheduleStart(trigger, startsAt, now), now, timezone);
}

/** The run due after `now`, or none (a one-off already run, a schedule that is not repeating). */
function runAfter(trigger: Trigger, start: Date | null, now: Date, timezone: string): Date | null {
  if (trigger.type !== 'scheduled' || !start) return null;
  if (start > now) return start;
  return trigger.every ? nextRun(start, trigger.every, now, timezone) : null;
}

/** Does an event start this campaign for a customer? The customer when it does. */
function customerEntering(trigger: Trigger, event: Event): string | undefined {
  const d = event.data as Record<string, unknown>;
  const customer = typeof d.customerId === 'string' ? d.customerId : undefined;
  switch (trigger.type) {
    case 'segment_entered':
      return event.type === 'segment.entered' && d.segmentId === trigger.segmentId ? customer : undefined;
    case 'status_changed':
      return event.type === 'customer.status_changed' &&
        (!trigger.from || d.fromStatus === trigger.from) &&
        (!trigger.to || d.toStatus === trigger.to) &&
        d.toStatus !== d.fromStatus
        ? customer
        : undefined;
    case 'first_order':
      return event.type === 'customer.status_changed' && d.reason === 'first_order' ? customer : undefined;
    case 'case_resolved':
      return event.type === 'case.resolved' ? customer : undefined;
    case 'tier_changed':
      return event.type === 'customer.tier_changed' && (!trigger.to || d.toTier === trigger.to)
        ? customer
        : undefined;
    default:
      return undefined;
  }
}

const MESSAGE_RANK: Record<string, number> = { queued: 0, delivered: 1, opened: 2, clicked: 3 };

export class CampaignsService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #clock: Clock;
  readonly #segments: SegmentsService;
  readonly #customers: CustomersService;
  readonly #events: EventsService;
  readonly #sender: Sender;
  readonly #tenants: TenantsService;
  readonly #jobs: () => Jobs | undefined;

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    clock: Clock;
    segments: SegmentsService;
    customers: CustomersService;
    events: EventsService;
    sender: Sender;
    tenants: TenantsService;
    jobs?: () => Jobs | undefined;
  }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#clock = deps.clock;
    this.#segments = deps.segments;
    this.#customers = deps.customers;
    this.#events = deps.events;
    this.#sender = deps.sender;
    this.#tenants = deps.tenants;
    this.#jobs = deps.jobs ?? (() => undefined);
  }

  async #check(tx: Tx, c: Omit<CreateCampaignInput, 'name'>): Promise<void> {
    const errors: FieldError[] = templateErrors(c.variants);
    const keys = c.variants.map((v) => v.key);
    keys.forEach((k, i) => {
      if (keys.indexOf(k) !== i)
        errors.push({ path: `variants[${i}].key`, message: 'is used by another variant' });
    });
    if (!c.variants.some((v) => !v.segmentId))
      errors.push({ path: 'variants', message: 'one variant must have no segment (the default)' });
    if (c.trigger.type === 'scheduled' && !c.segmentIds.length)
      errors.push({ path: 'segmentIds', message: 'a scheduled campaign needs an audience' });
    if (c.startsAt && c.endsAt && Date.parse(c.endsAt) <= Date.parse(c.startsAt))
      errors.push({ path: 'endsAt', message: 'must be after startsAt' });
    const named = [
      ...c.segmentIds.map((id, i) => [id, `segmentIds[${i}]`] as const),
      ...c.excludeSegmentIds.map((id, i) => [id, `excludeSegmentIds[${i}]`] as const),
      ...c.variants.flatMap((v, i) =>
        v.segmentId ? [[v.segmentId, `variants[${i}].segmentId`] as const] : [],
      ),
      ...(c.trigger.type === 'segment_entered' ? [[c.trigger.segmentId, 'trigger.segmentId'] as const] : []),
    ];
    const missing = new Set(await this.#segments.missingIn(tx, [...new Set(named.map(([id]) => id))]));
    for (const [id, path] of named)
      if (missing.has(id)) errors.push({ path, message: `no segment ${id} in this tenant` });
    if (errors.length) throw validationError(errors);
  }

  create(actor: TenantActor, input: CreateCampaignInput): Promise<Campaign> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      await this.#check(tx, input);
      const row = await repo.insert(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        name: input.name,
        kind: input.kind,
        channel: input.channel,
        segmentIds: input.segmentIds,
        excludeSegmentIds: input.excludeSegmentIds,
        trigger: input.trigger as Trigger,
        variants: input.variants,
        holdoutPercent: input.holdoutPercent,
        attributionWindowDays: input.attributionWindowDays,
        startsAt: input.startsAt ? new Date(input.startsAt) : null,
        endsAt: input.endsAt ? new Date(input.endsAt) : null,
      });
      return toCampaign(row);
    });
  }

  update(actor: TenantActor, id: string, input: UpdateCampaignInput, ifMatch?: string): Promise<Campaign> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      const current = await repo.findById(tx, id, true);
      if (!current) throw notFound(id);
      if (!ifMatchSatisfied(ifMatch, current.version))
        throw new AppError('precondition_failed', `the campaign is at version ${current.version}`);
      if (current.status === 'completed' || current.status === 'archived')
        throw new AppError('campaign_transition_invalid', `a ${current.status} campaign cannot change`);
      // the split is by the campaign's id and the share: another share after launch would move
      // customers already messaged into the control group, and the report would compare nothing
      if (
        input.holdoutPercent !== undefined &&
        input.holdoutPercent !== current.holdoutPercent &&
        current.status !== 'draft'
      )
        throw new AppError(
          'campaign_transition_invalid',
          `the holdout share is fixed once the campaign is launched (it is ${current.holdoutPercent} %)`,
        );
      const merged = { ...toCampaign(current), ...input };
      await this.#check(tx, merged as CreateCampaignInput);
      const startsAt =
        input.startsAt === undefined ? undefined : input.startsAt ? new Date(input.startsAt) : null;
      // a launched campaign's schedule follows a change of its trigger or start: the old one stops,
      // the new one runs next at its own time (a start already past: at its next repeat, if any)
      const trigger = (input.trigger ?? current.trigger) as Trigger;
      const rescheduled =
        current.launchedAt &&
        ((input.trigger !== undefined && canonicalJson(input.trigger) !== canonicalJson(current.trigger)) ||
          (startsAt !== undefined && startsAt?.getTime() !== current.startsAt?.getTime()));
      const now = this.#clock.now();
      const row = await repo.update(tx, id, {
        ...input,
        trigger: input.trigger as Trigger | undefined,
        startsAt,
        endsAt: input.endsAt === undefined ? undefined : input.endsAt ? new Date(input.endsAt) : null,
        ...(rescheduled
          ? {
              nextRunAt: rescheduledRun(
                trigger,
                startsAt === undefined ? current.startsAt : startsAt,
                now,
                (await this.#tenants.settingsIn(tx, actor.tenantId)).timezone,
                (await repo.hasRun(tx, current.id)) ? current.launchedAt : null,
              ),
            }
          : {}),
      });
      return toCampaign(row);
    });
  }

  #read<T>(actor: TenantActor, fn: (tx: Tx) => Promise<T>) {
    return this.#db.withTenant(actor.tenantId, fn, { readOnly: true });
  }

  async #find(tx: Tx, id: string, forUpdate = false): Promise<CampaignRow> {
    const row = await repo.findById(tx, id, forUpdate);
    if (!row) throw notFound(id);
    return row;
  }

  get(actor: TenantActor, id: string): Promise<Campaign> {
    return this.#read(actor, async (tx) => toCampaign(await this.#find(tx, id)));
  }

  list(actor: TenantActor, status: CampaignRow['status'] | undefined, limit: number, cursor?: string) {
    const scope = { tenantId: actor.tenantId, list: 'campaigns', filters: { status } };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#read(
      actor,
      async (tx): Promise<Page<Campaign>> =>
        this.#cursors.page(scope, await repo.list(tx, status, after, limit), limit, (r) => r.id, toCampaign),
    );
  }

  /** launch, pause, resume, complete, archive; an illegal one is 409 `campaign_transition_invalid`. */
  async act(actor: TenantActor, id: string, action: CampaignAction): Promise<Campaign> {
    const now = this.#clock.now();
    const row = await this.#db.withTenant(actor.tenantId, async (tx) => {
      const current = await this.#find(tx, id, true);
      let next = TRANSITIONS[action][current.status];
      if (!next)
        throw new AppError('campaign_transition_invalid', `cannot ${action} a ${current.status} campaign`, {
          extra: { currentStatus: current.status },
        });
      // a campaign past its end would message its audience only to be completed: refused
      if ((action === 'launch' || action === 'resume') && current.endsAt && current.endsAt <= now)
        throw new AppError(
          'campaign_transition_invalid',
          `the campaign ended at ${current.endsAt.toISOString()}: move endsAt first`,
          { extra: { currentStatus: current.status } },
        );
      // a campaign whose start is ahead waits for it
      if (next === 'running' && current.startsAt && current.startsAt > now) next = 'scheduled';
      const firstRun = action === 'launch' ? scheduleStart(current.trigger, current.startsAt, now) : null;
      return repo.update(tx, id, {
        status: next,
        ...(action === 'launch' ? { launchedAt: now, ...(firstRun ? { nextRunAt: firstRun } : {}) } : {}),
      });
    });
    if (row.status === 'running' && row.nextRunAt && row.nextRunAt <= now)
      await this.#runSoon(actor.tenantId, row.id);
    return toCampaign(row);
  }

  /**
   * The launched campaign's first run, now. The launch has committed: if this fails, the minute
   * sweep runs it instead, and the client is not told its launch failed.
   */
  async #runSoon(tenantId: string, campaignId: string): Promise<void> {
    const jobs = this.#jobs();
    await (jobs
      ? jobs.add(RUN_TASK, { tenantId, campaignId }, { jobKey: `${RUN_TASK}:${campaignId}` })
      : this.runDue(tenantId)
    ).catch(() => undefined);
  }

  /** What this customer would get if they entered now: the pipeline without writing anything. */
  preview(actor: TenantActor, id: string, customerId: string): Promise<Rendered> {
    return this.#read(actor, async (tx) => {
      const campaign = await this.#find(tx, id);
      await this.#customers.assertExists(tx, customerId);
      const d = (
        await this.#sender.decide(tx, actor.tenantId, campaign, [customerId], this.#clock.now())
      ).get(customerId)!;
      const pii = actor.scopes.has('customers:pii');
      const preview = {
        variant: d.variant?.key ?? null,
        subject: d.subject,
        body: d.body,
        to: pii ? d.to : null,
        decision: d.status,
        reason: d.reason,
      };
      return pii || !showsPii(campaign) ? preview : hideText(preview);
    });
  }

  messages(
    actor: TenantActor,
    id: string,
    status: MessageRow['status'] | undefined,
    limit: number,
    cursor?: string,
  ) {
    const scope = { tenantId: actor.tenantId, list: `campaign-messages:${id}`, filters: { status } };
    const before = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#read(actor, async (tx): Promise<Page<Message>> => {
      await this.#find(tx, id);
      // by the template each message was rendered from (the campaign's variants may have changed since)
      const pii = actor.scopes.has('customers:pii');
      return this.#cursors.page(
        scope,
        await repo.messages(tx, id, status, before, limit),
        limit,
        (r) => r.id,
        (r) => (!pii && r.showsPersonalData ? hideText(toMessage(r)) : toMessage(r)),
      );
    });
  }

  /** The sender's reports, each on its own: unknown messages are per-item errors. */
  messageEvents(actor: TenantActor, items: { messageId: string; type: string; occurredAt: string }[]) {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      const found = new Map(
        (
          await repo.messagesByIds(
            tx,
            items.map((i) => i.messageId),
          )
        ).map((m) => [m.id, m]),
      );
      const campaigns = new Map<string, CampaignRow>();
      const results = [];
      for (const item of items) {
        const message = found.get(item.messageId);
        // a decision that sent nothing (skipped, held out, failed to render) takes no report; a failed
        // message takes a failed report again (the sending system's retry of its own report)
        if (
          !message ||
          message.status === 'skipped' ||
          message.status === 'held_out' ||
          (message.status === 'failed' && item.type !== 'failed')
        ) {
          results.push({
            messageId: item.messageId,
            status: 'error' as const,
            error: message
              ? {
                  code: 'message_not_sent',
                  detail: `message ${item.messageId} was ${message.status}, never sent`,
                }
              : { code: 'message_not_found', detail: `no message ${item.messageId} in this tenant` },
          });
          continue;
        }
        const at = new Date(item.occurredAt);
        const column = `${item.type}At` as 'deliveredAt';
        const rank = MESSAGE_RANK[item.type] ?? 10;
        // a failure only fails what was not yet delivered: a late bounce report of a message already
        // delivered, opened or clicked keeps it so (and in the treatment group the report compares)
        const status =
          item.type === 'failed'
            ? message.status === 'queued'
              ? 'failed'
              : message.status
            : rank >= (MESSAGE_RANK[message.status] ?? 10)
              ? (item.type as MessageRow['status'])
              : message.status;
        await repo.updateMessage(tx, message.id, { [column]: at, status });
        found.set(message.id, { ...message, status, [column]: at });
        if (item.type === 'unsubscribed') {
          const campaign =
            campaigns.get(message.campaignId) ?? (await repo.findById(tx, message.campaignId))!;
          campaigns.set(campaign.id, campaign);
          // the channel the message went out on, not the campaign's now (a row from before it was
          // kept: the campaign's)
          const consent = CONSENT_OF[message.channel ?? campaign.channel];
          if (consent)
            await this.#customers.withdrawConsentIn(
              tx,
              actor,
              message.customerId,
              consent,
              at,
              `unsubscribe:${campaign.id}`,
            );
        }
        results.push({ messageId: item.messageId, status: 'recorded' as const });
      }
      return { results };
    });
  }

  report(actor: TenantActor, id: string): Promise<Report> {
    return this.#read(actor, async (tx) => {
      const campaign = await this.#find(tx, id);
      const funnel = await repo.funnel(tx, id);
      const count = (statuses: string[]) =>
        funnel.filter((f) => statuses.includes(f.status)).reduce((s, f) => s + f.n, 0);
      const skipped: Record<string, number> = {};
      for (const f of funnel.filter((f) => f.status === 'skipped')) skipped[f.reason ?? 'unknown'] = f.n;
      const codes = campaign.variants.flatMap((v) => (v.offer?.code ? [v.offer.code] : []));
      const arms = await repo.arms(tx, campaign, codes);
      const sum = (rows: typeof arms) =>
        rows.reduce(
          (s, r) => ({
            customers: s.customers + r.customers,
            converted: s.converted + r.converted,
            revenue: s.revenue + Number(r.revenue),
          }),
          { customers: 0, converted: 0, revenue: 0 },
        );
      const treatment = sum(arms.filter((a) => !a.control));
      const control = sum(arms.filter((a) => a.control));
      const reactivation = campaign.kind === 'reactivation' ? await repo.reactivated(tx, id) : null;
      const kept = campaign.kind === 'recovery' ? await repo.kept(tx, id) : null;
      return {
        campaignId: id,
        enrolled: funnel.reduce((s, f) => s + f.n, 0),
        heldOut: count(['held_out']),
        skipped,
        failed: count(['failed']),
        sent: funnel
          .filter((f) => !['skipped', 'held_out', 'failed'].includes(f.status))
          .reduce((s, f) => s + f.n, 0),
        delivered: funnel.reduce((s, f) => s + f.delivered, 0),
        opened: funnel.reduce((s, f) => s + f.opened, 0),
        clicked: funnel.reduce((s, f) => s + f.clicked, 0),
        converted: treatment.converted,
        revenue: treatment.revenue,
        treatment: arm(treatment),
        control: arm(control),
        lift: lift(treatment, control),
        variants: arms
          .filter((a) => !a.control && a.variant)
          .map((a) => {
            const counts = { customers: a.customers, converted: a.converted, revenue: Number(a.revenue) };
            return { variant: a.variant!, treatment: arm(counts), lift: lift(counts, control) };
          }),
        reactivation: reactivation
          ? { treatment: share(reactivation, false), control: share(reactivation, true) }
          : null,
        recovery: kept ? { treatment: share(kept, false), control: share(kept, true) } : null,
        attribution: ATTRIBUTION,
      };
    });
  }

  // ---- background work ----

  /** The events the triggers queued: each running campaign they start takes its customers in. */
  async processInbox(tenantId: string): Promise<number> {
    return drain(INBOX_BATCH, () =>
      this.#db.withTenant(tenantId, async (tx) => {
        const ids = await repo.takeInbox(tx, INBOX_BATCH);
        if (!ids.length) return 0;
        const now = this.#clock.now();
        const events = await this.#events.byIds(tx, ids);
        // share-locked: a pause in flight is waited for, and the campaign it paused takes nobody
        const running = (await repo.withStatus(tx, ['running'], 'share')).filter(
          (c) => (!c.startsAt || c.startsAt <= now) && (!c.endsAt || c.endsAt > now),
        );
        for (const campaign of running) {
          const entries: Entry[] = events.flatMap((e) => {
            const customerId = customerEntering(campaign.trigger, e);
            // a first order happens once: a customer back to potential (every order refunded) who
            // buys again is not welcomed twice; other triggers are one occurrence per event
            const occurrence = campaign.trigger.type === 'first_order' ? 'first_order' : `event:${e.id}`;
            return customerId ? [{ customerId, occurrence }] : [];
          });
          if (!entries.length) continue;
          await this.#sender.enter(
            tx,
            tenantId,
            campaign,
            await this.#inAudience(tx, campaign, entries),
            now,
          );
        }
        return ids.length;
      }),
    );
  }

  async #inAudience(tx: Tx, campaign: CampaignRow, entries: Entry[]): Promise<Entry[]> {
    if (!campaign.segmentIds.length) return entries;
    const members = await this.#segments.membershipsIn(
      tx,
      campaign.segmentIds,
      entries.map((e) => e.customerId),
    );
    return entries.filter((e) => members.has(e.customerId));
  }

  /**
   * Scheduled runs that are due, each on its own (`#runOne`); a run that fails is named once the
   * others have committed.
   */
  async runDue(tenantId: string): Promise<void> {
    const now = this.#clock.now();
    const failed: { campaignId: string; error: unknown }[] = [];
    await this.#db.withTenant(tenantId, async (tx) => {
      const due = await repo.dueRuns(tx, now);
      if (!due.length) return;
      // the calendar the repeats are counted in
      const { timezone } = await this.#tenants.settingsIn(tx, tenantId);
      for (const campaign of due) {
        // each campaign's run in a savepoint of its own: one that fails is undone alone, and the
        // others' runs are kept
        await inSavepoint(tx, 'campaign_run', () =>
          this.#runOne(tx, tenantId, campaign, now, timezone),
        ).catch((error: unknown) => failed.push({ campaignId: campaign.id, error }));
      }
    });
    if (failed.length)
      throw new AggregateError(
        failed.map((f) => f.error),
        `the scheduled runs of campaigns ${failed.map((f) => f.campaignId).join(', ')} failed; the others ran`,
      );
  }

  /** One due scheduled run: the audience enters, then the next run is set (or none). */
  async #runOne(tx: Tx, tenantId: string, campaign: CampaignRow, now: Date, timezone: string): Promise<void> {
    const trigger = campaign.trigger;
    const occurrence = `run:${campaign.nextRunAt!.toISOString()}`;
    let after: string | undefined;
    for (;;) {
      const ids = await this.#segments.membersOfAnyIn(tx, campaign.segmentIds, after, AUDIENCE_PAGE);
      if (!ids.length) break;
      await this.#sender.enter(
        tx,
        tenantId,
        campaign,
        ids.map((customerId) => ({ customerId, occurrence })),
        now,
      );
      after = ids.at(-1);
    }
    // counted from where the schedule starts, not from this run (no drift across short months)
    const start = scheduleStart(trigger, campaign.startsAt, campaign.launchedAt ?? campaign.nextRunAt!);
    await repo.update(tx, campaign.id, { nextRunAt: runAfter(trigger, start, now, timezone) });
  }

  /** Birthday campaigns: customers whose birthday is in `daysBefore` days or fewer, once a year. */
  async runBirthdays(tenantId: string): Promise<void> {
    const now = this.#clock.now();
    await this.#db.withTenant(tenantId, async (tx) => {
      for (const campaign of await repo.withStatus(tx, ['running'], 'share')) {
        if (campaign.trigger.type !== 'birthday') continue;
        if (campaign.startsAt && campaign.startsAt > now) continue;
        // over, though the sweep has not yet marked it so (its lock was taken): it wishes nobody
        if (campaign.endsAt && campaign.endsAt <= now) continue;
        const audience = await this.#segments.audienceIn(tx, tenantId, {
          version: 1,
          all: [
            { field: 'birthday', op: 'within', value: `P${campaign.trigger.daysBefore}D` },
            ...(campaign.segmentIds.length
              ? [{ field: 'segment', op: 'in', value: campaign.segmentIds }]
              : []),
          ],
        });
        // the occurrence is the birthday itself: the year it falls in, in the tenant's calendar; only
        // the customers not yet wished for it come back, a page at a time
        const today = wallClock(now, (await this.#tenants.settingsIn(tx, tenantId)).timezone).day;
        for (let after: string | undefined; ; ) {
          const entries = await repo.birthdaysToEnter(tx, campaign.id, audience, today, after, AUDIENCE_PAGE);
          if (!entries.length) break;
          await this.#sender.enter(tx, tenantId, campaign, entries, now);
          after = entries.at(-1)!.customerId;
        }
      }
    });
  }

  /** Starts, ends, scheduled runs, birthdays and the inbox: the campaigns' clock (every minute). */
  async sweep(tenantIds: string[]): Promise<void> {
    const now = this.#clock.now();
    await forEachTenant('the campaigns sweep', tenantIds, async (tenantId) => {
      await this.#db.withTenant(tenantId, async (tx) => {
        // locked, skipping those another transaction holds (a run under way, a pause in flight):
        // they are looked at again next minute, never changed from a stale read
        for (const c of await repo.withStatus(tx, ['scheduled', 'running', 'paused'], 'skip')) {
          if (c.endsAt && c.endsAt <= now) await repo.update(tx, c.id, { status: 'completed' });
          else if (c.status === 'scheduled' && (!c.startsAt || c.startsAt <= now))
            await repo.update(tx, c.id, { status: 'running' });
        }
      });
      // a failed scheduled run keeps neither the birthdays nor the inbox waiting: named after them
      const runs = await this.runDue(tenantId).then(
        () => undefined,
        (error: unknown) => error,
      );
      await this.runBirthdays(tenantId);
      await this.processInbox(tenantId);
      if (runs) throw runs;
    });
  }

  async wake(tenantId: string): Promise<void> {
    await this.#jobs()
      ?.add(INBOX_TASK, { tenantId }, { jobKey: `${INBOX_TASK}:${tenantId}`, jobKeyMode: 'preserve_run_at' })
      .catch(() => undefined);
  }

  listen(onError: (error: Error) => void): Promise<() => Promise<void>> {
    return this.#db.listen(CAMPAIGNS_CHANNEL, (tenantId) => void this.wake(tenantId), onError);
  }

  /** Every campaign decision and message about one customer (the privacy export). */
  messagesOf(actor: TenantActor, customerId: string): Promise<Message[]> {
    return this.#read(actor, async (tx) =>
      (await repo.timeline(tx, customerId, undefined, 100_000)).map(toMessage),
    );
  }

  /** A campaign message in the customer's timeline. */
  timelinePage(tx: Tx, customerId: string, before: { at: Date; id: string } | undefined, limit: number) {
    return repo.timeline(tx, customerId, before, limit);
  }

  /** Erasure: campaign content quoting one of these values quotes "erased" instead. */
  forgetValues(tx: Tx, values: readonly string[]): Promise<void> {
    return repo.replaceValues(tx, values);
  }

  /** For the segments module: the campaigns not yet over that name this segment. */
  referring(tx: Tx, segmentId: string) {
    return repo.referring(tx, segmentId);
  }

  /** Erasure: the customer's rendered messages go (the decisions stay, for the reports). */
  forgetCustomer(tx: Tx, customerId: string): Promise<void> {
    return repo.forgetCustomer(tx, customerId);
  }
}
