import type { Clock } from '../platform/clock.ts';
import type { Database } from '../platform/db.ts';
import { forEachTenant, type Jobs, type TaskHandler } from '../platform/jobs.ts';
import type { Cursors } from '../platform/pagination.ts';
import { AttributesService } from './attributes/attributes.service.ts';
import { Sender } from './campaigns/campaigns.sending.ts';
import {
  INBOX_TASK as CAMPAIGNS_INBOX_TASK,
  RUN_TASK as CAMPAIGNS_RUN_TASK,
  CAMPAIGNS_SWEEP_TASK,
  CampaignsService,
  toMessage,
} from './campaigns/campaigns.service.ts';
import { CustomersService } from './customers/customers.service.ts';
import { TimelineService } from './customers/timeline.ts';
import { EventsService } from './events/events.service.ts';
import { DISPATCH_TASK, type WebhookOptions, WebhooksService } from './events/webhooks.service.ts';
import { FeedbackService, toFeedback } from './feedback/feedback.service.ts';
import { IMPORT_TASK, IMPORTS_SWEEP_TASK, ImportsService } from './imports/imports.service.ts';
import { InteractionsService, toInteraction } from './interactions/interactions.service.ts';
import { IntermediariesService } from './intermediaries/intermediaries.service.ts';
import { JobRunsService } from './jobs/jobs.service.ts';
import { OrdersService, toOrder } from './orders/orders.service.ts';
import { AuditService } from './privacy/audit.service.ts';
import { PrivacyService } from './privacy/privacy.service.ts';
import { InsightsService } from './scores/insights.service.ts';
import { NIGHTLY_TASK, RECOMPUTE_TASK, REFRESH_TASK, ScoresService } from './scores/scores.service.ts';
import {
  EVALUATE_TASK,
  Membership,
  REFRESH_TASK as SEGMENT_REFRESH_TASK,
  SWEEP_TASK,
} from './segments/segments.membership.ts';
import { SegmentsService } from './segments/segments.service.ts';
import { TenantsService } from './tenants/tenants.service.ts';

export type ServiceDeps = {
  db: Database;
  cursors: Cursors;
  clock: Clock;
  jobs?: () => Jobs | undefined;
  webhooks?: WebhookOptions;
  /** How long `GET /v1/events` waits, at most, for transactions in flight (EVENTS_SETTLE_MS). */
  eventsSettleMs?: number;
  /** How long an import upload may send nothing before it is dropped (UPLOAD_IDLE_MS). */
  uploadIdleMs?: number;
};

/** Every module's service, wired once; modules reach each other only through these. */
export function createServices(deps: ServiceDeps) {
  const events = new EventsService(deps);
  const webhooks = new WebhooksService({ ...deps, events });
  const tenants = new TenantsService(deps);
  const intermediaries = new IntermediariesService(deps);
  const attributes = new AttributesService(deps);
  const customers = new CustomersService({ ...deps, events, attributes, intermediaries });
  const jobRuns = new JobRunsService(deps);
  const scores = new ScoresService({ ...deps, tenants, customers, events, jobRuns });
  const insights = new InsightsService({ ...deps, tenants });
  const orders = new OrdersService({
    ...deps,
    events,
    customers,
    intermediaries,
    tenants,
    onWritten: (tenantId) => scores.touched(tenantId),
  });
  tenants.onScoreSettingsChanged((tenantId) => scores.recomputeSoon(tenantId));
  const imports = new ImportsService({
    ...deps,
    events,
    jobs: deps.jobs ?? (() => undefined),
    customers,
    orders,
    attributes,
    tenants,
  });
  intermediaries.onManaged((tx, id) => customers.managedBy(tx, id));
  const interactions = new InteractionsService({ ...deps, events, tenants, customers });
  const feedback = new FeedbackService({
    ...deps,
    events,
    tenants,
    ownerOf: {
      interaction: (tx, id) => interactions.customerOf(tx, id),
      order: (tx, id) => orders.customerOf(tx, id),
    },
    requireCustomer: (tx, id) => customers.requireReference(tx, id),
  });
  const membership = new Membership({
    ...deps,
    tenants,
    attributes,
    events,
    jobRuns,
    recomputedAt: (tx) => scores.recomputedAtIn(tx),
  });
  const segments = new SegmentsService({ ...deps, customers, events, jobRuns, membership });
  // each score recompute moves relative scores: every dynamic segment is refreshed after it
  scores.onRecomputed(async (tenantId) => {
    const jobs = deps.jobs?.();
    if (jobs)
      await jobs.add(SEGMENT_REFRESH_TASK, { tenantId }, { jobKey: `${SEGMENT_REFRESH_TASK}:${tenantId}` });
    else await membership.refresh(tenantId);
  });
  // a refresh's rows (new orders' customers): evaluated again in the next incremental pass, which
  // may already have run on the scores before the refresh
  scores.onRefreshed((tx, customerIds) => segments.scoresChanged(tx, customerIds));
  const sender = new Sender({ customers, scores, segments, events, tenants });
  const campaigns = new CampaignsService({ ...deps, segments, customers, events, sender, tenants });
  attributes.onUsedBy((tx, tenantId, key, next) => segments.brokenBy(tx, tenantId, key, next));
  segments.onUsedBy(async (tx, segmentId) =>
    (await campaigns.referring(tx, segmentId)).map((c) => ({ ...c, kind: 'campaign' })),
  );
  const audit = new AuditService(deps);
  const privacy = new PrivacyService({
    ...deps,
    audit,
    events,
    imports,
    customers,
    orders,
    interactions,
    feedback,
    scores,
    segments,
    campaigns,
  });
  const timeline = new TimelineService({ ...deps, customers });
  const money = (m: { amount: number; currency: string }) => `${(m.amount / 100).toFixed(2)} ${m.currency}`;
  timeline.register({
    kind: 'order',
    page: async (tx, id, before, limit) =>
      (await orders.timelinePage(tx, id, before, limit)).map((row) => {
        const order = toOrder(row);
        return {
          at: row.placedAt,
          id: row.id,
          entry: {
            kind: 'order',
            id: row.id,
            occurredAt: order.placedAt,
            summary: `Order ${order.externalId} from ${order.source}, ${order.status}, ${money(order.total)}`,
            data: order,
          },
        };
      }),
  });
  timeline.register({
    kind: 'interaction',
    page: async (tx, id, before, limit) =>
      (await interactions.timelinePage(tx, id, before, limit)).map((row) => {
        const interaction = toInteraction(row);
        const what = row.replyTo ? 'reply' : row.type;
        return {
          at: row.occurredAt,
          id: row.id,
          entry: {
            kind: 'interaction',
            id: row.id,
            occurredAt: interaction.occurredAt,
            summary: `${row.direction === 'inbound' ? 'Inbound' : 'Outbound'} ${what} by ${row.channel}${row.subject ? `: ${row.subject}` : ''}`,
            data: interaction,
          },
        };
      }),
  });
  timeline.register({
    kind: 'feedback',
    page: async (tx, id, before, limit) =>
      (await feedback.timelinePage(tx, id, before, limit)).map((row) => {
        const given = toFeedback(row);
        return {
          at: row.occurredAt,
          id: row.id,
          entry: {
            kind: 'feedback',
            id: row.id,
            occurredAt: given.occurredAt,
            summary: `Feedback on ${given.dimension}: expected ${given.expectation}, perceived ${given.perception} (gap ${given.gap})`,
            data: given,
          },
        };
      }),
  });
  timeline.register({
    kind: 'campaign_message',
    page: async (tx, id, before, limit) =>
      (await campaigns.timelinePage(tx, id, before, limit)).map((row) => {
        // the rendered text can hold personal data: the timeline shows the decision, not the text
        const { subject: _subject, body: _body, ...message } = toMessage(row);
        return {
          at: row.enteredAt,
          id: row.id,
          entry: {
            kind: 'campaign_message',
            id: row.id,
            occurredAt: message.enteredAt,
            summary: `Campaign message ${message.status}${message.reason ? ` (${message.reason})` : ''}${message.variant ? `, variant ${message.variant}` : ''}`,
            data: message,
          },
        };
      }),
  });
  timeline.register({
    kind: 'status_change',
    page: async (tx, id, before, limit) =>
      (await customers.statusTimelinePage(tx, id, before, limit)).map((row) => ({
        at: row.changedAt,
        id: row.id,
        entry: {
          kind: 'status_change',
          id: row.id,
          occurredAt: row.changedAt.toISOString(),
          summary: `Status ${row.fromStatus ?? '—'} → ${row.toStatus}, phase ${row.fromPhase ?? '—'} → ${row.toPhase} (${row.reason})`,
          data: {
            fromStatus: row.fromStatus,
            toStatus: row.toStatus,
            fromPhase: row.fromPhase,
            toPhase: row.toPhase,
            reason: row.reason,
          },
        },
      })),
  });
  return {
    tenants,
    intermediaries,
    attributes,
    customers,
    orders,
    imports,
    interactions,
    feedback,
    timeline,
    events,
    webhooks,
    jobRuns,
    scores,
    insights,
    privacy,
    audit,
    segments,
    campaigns,
  };
}

export const SLA_SWEEP_TASK = 'interactions_sla_sweep';
export const EVENTS_PRUNE_TASK = 'events_prune';
export const WEBHOOKS_SWEEP_TASK = 'webhooks_sweep';
/**
 * Recurring tasks (graphile-worker crontab): the SLA sweep every five minutes, event pruning nightly,
 * every quarter hour a look for tenants whose nightly score recompute is due (their local time), and
 * every minute the segments sweep (pending customers no listener saw, scheduled segment refreshes)
 * and the webhooks sweep (due deliveries, e.g. after a restart).
 */
export const CRONTAB = [
  `*/5 * * * * ${SLA_SWEEP_TASK}`,
  `17 3 * * * ${EVENTS_PRUNE_TASK}`,
  `*/15 * * * * ${NIGHTLY_TASK}`,
  `* * * * * ${SWEEP_TASK}`,
  `* * * * * ${WEBHOOKS_SWEEP_TASK}`,
  `* * * * * ${CAMPAIGNS_SWEEP_TASK}`,
  `*/5 * * * * ${IMPORTS_SWEEP_TASK}`,
].join('\n');

/** The background tasks, by name, and the services that run them. */
export function tasksOf(services: Services): Record<string, TaskHandler> {
  return {
    [SLA_SWEEP_TASK]: async () => {
      await forEachTenant('the SLA sweep', await services.tenants.allIds(), (tenantId) =>
        services.interactions.markBreaches(tenantId),
      );
    },
    [EVENTS_PRUNE_TASK]: async () => {
      await forEachTenant('the events pruning', await services.tenants.allIds(), (tenantId) =>
        services.events.prune(tenantId),
      );
    },
    [RECOMPUTE_TASK]: async (payload, attempt) => {
      const { tenantId, runId, refit, rebuild } = payload as {
        tenantId: string;
        runId?: string;
        refit?: boolean;
        rebuild?: boolean;
      };
      await services.scores.recompute(tenantId, { runId, refit, rebuild, last: attempt?.last });
    },
    [REFRESH_TASK]: async (payload) => {
      await services.scores.refresh((payload as { tenantId: string }).tenantId);
    },
    [NIGHTLY_TASK]: async () => {
      await services.scores.nightly();
    },
    [EVALUATE_TASK]: async (payload) => {
      await services.segments.membership.evaluatePending((payload as { tenantId: string }).tenantId);
    },
    [SEGMENT_REFRESH_TASK]: async (payload, attempt) => {
      const { tenantId, segmentId, runId } = payload as {
        tenantId: string;
        segmentId?: string;
        runId?: string;
      };
      await services.segments.membership.refresh(tenantId, { segmentId, runId, last: attempt?.last });
    },
    [SWEEP_TASK]: async () => {
      await services.segments.membership.sweep(await services.tenants.allIds());
    },
    [DISPATCH_TASK]: async (payload) => {
      await services.webhooks.dispatch((payload as { tenantId: string }).tenantId);
    },
    [WEBHOOKS_SWEEP_TASK]: async () => {
      await services.webhooks.sweep(await services.tenants.allIds());
    },
    [CAMPAIGNS_INBOX_TASK]: async (payload) => {
      await services.campaigns.processInbox((payload as { tenantId: string }).tenantId);
    },
    [CAMPAIGNS_RUN_TASK]: async (payload) => {
      await services.campaigns.runDue((payload as { tenantId: string }).tenantId);
    },
    [CAMPAIGNS_SWEEP_TASK]: async () => {
      await services.campaigns.sweep(await services.tenants.allIds());
    },
    [IMPORTS_SWEEP_TASK]: async () => {
      await services.imports.sweep(await services.tenants.allIds());
    },
    [IMPORT_TASK]: async (payload, attempt) => {
      const { tenantId, importId } = payload as { tenantId: string; importId: string };
      await services.imports.process(tenantId, importId, { last: attempt?.last ?? true });
    },
  };
}

export type Services = ReturnType<typeof createServices>;

/**
 * The channels the database triggers notify on (segments' pending customers, webhook deliveries,
 * campaign inbox): each notification enqueues its background pass at once. Returns the stopper.
 */
export async function listenAll(
  services: Services,
  onError: (channel: string, error: Error) => void,
): Promise<() => Promise<void>> {
  const stops = [
    await services.segments.membership.listen((error) => onError('segments', error)),
    await services.webhooks.listen((error) => onError('webhooks', error)),
    await services.campaigns.listen((error) => onError('campaigns', error)),
  ];
  return async () => {
    for (const stop of stops) await stop();
  };
}
