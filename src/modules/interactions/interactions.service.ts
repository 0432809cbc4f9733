import type { TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { keyedWrite, type StoredResponse } from '../../platform/idempotency.ts';
import { newId } from '../../platform/ids.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { ifMatchSatisfied } from '../../platform/schemas.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { EventsService } from '../events/events.service.ts';
import { CASE_TYPES, type CaseType } from '../tenants/tenants.schemas.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import { type InteractionRow, interactionsRepository as repo } from './interactions.repository.ts';
import type {
  CreateInteractionInput,
  Interaction,
  ListInteractionsFilter,
  ReplyInput,
  TransitionInput,
  UpdateInteractionInput,
  VoiceInsights,
} from './interactions.schemas.ts';

const HOUR = 3_600_000;
const iso = (d: Date | null) => d?.toISOString() ?? null;

export function toInteraction(row: InteractionRow): Interaction {
  return {
    id: row.id,
    customerId: row.customerId,
    channel: row.channel,
    direction: row.direction,
    type: row.type,
    subject: row.subject,
    body: row.body,
    occurredAt: row.occurredAt.toISOString(),
    intermediaryId: row.intermediaryId,
    tags: row.tags,
    sentiment: row.sentiment,
    metadata: row.metadata,
    replyTo: row.replyTo,
    case: row.caseStatus
      ? {
          status: row.caseStatus,
          firstResponseDueAt: row.firstResponseDueAt!.toISOString(),
          dueAt: row.dueAt!.toISOString(),
          firstResponseAt: iso(row.firstResponseAt),
          resolvedAt: iso(row.resolvedAt),
          closedAt: iso(row.closedAt),
          resolution: row.resolutionOutcome
            ? { outcome: row.resolutionOutcome, note: row.resolutionNote }
            : null,
          slaBreached: row.slaBreached,
        }
      : null,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** The case state machine: where each status may go. */
const TRANSITIONS: Record<string, readonly string[]> = {
  open: ['in_progress', 'resolved'],
  in_progress: ['resolved'],
  resolved: ['closed', 'reopened'],
  closed: ['reopened'],
  reopened: ['in_progress', 'resolved'],
};

/** A case is late once its first reply or its resolution came, or is still missing, after the due time. */
export function breached(
  row: Pick<InteractionRow, 'firstResponseAt' | 'firstResponseDueAt' | 'resolvedAt' | 'dueAt'>,
  now: Date,
) {
  if (!row.firstResponseDueAt || !row.dueAt) return false;
  // a resolution without a reply before it is recorded as the first response (see transition)
  const firstReply = row.firstResponseAt ?? now;
  const resolution = row.resolvedAt ?? now;
  return firstReply > row.firstResponseDueAt || resolution > row.dueAt;
}

const notFound = (id: string) => new AppError('interaction_not_found', `no interaction ${id} in this tenant`);

/** `case.sla_breached`: a case found past its first-response or resolution due time, when it was found. */
const breachEvent = (
  c: Pick<InteractionRow, 'id' | 'customerId' | 'type' | 'firstResponseDueAt' | 'dueAt'>,
  at: Date,
) => ({
  type: 'case.sla_breached' as const,
  occurredAt: at,
  data: {
    interactionId: c.id,
    customerId: c.customerId,
    type: c.type,
    firstResponseDueAt: c.firstResponseDueAt?.toISOString() ?? null,
    dueAt: c.dueAt?.toISOString() ?? null,
  },
});

export class InteractionsService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #clock: Clock;
  readonly #tenants: TenantsService;
  readonly #customers: CustomersService;
  readonly #events: EventsService;

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    clock: Clock;
    tenants: TenantsService;
    customers: CustomersService;
    events: EventsService;
  }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#clock = deps.clock;
    this.#tenants = deps.tenants;
    this.#customers = deps.customers;
    this.#events = deps.events;
  }

  /** Records an interaction; an inbound complaint, claim, suggestion or inquiry opens a case with its SLA. */
  /** Records an interaction; with an Idempotency-Key a retry replays the first response. */
  create(
    actor: TenantActor,
    input: CreateInteractionInput,
    idempotencyKey?: string,
  ): Promise<StoredResponse<Interaction>> {
    const request = { key: idempotencyKey, operation: 'interactions.create', body: input };
    return keyedWrite(this.#db, actor.tenantId, request, async (tx) => {
      await this.#customers.requireReference(tx, input.customerId);
      const now = this.#clock.now();
      const occurredAt = input.occurredAt ? new Date(input.occurredAt) : now;
      const opensCase =
        input.direction === 'inbound' && (CASE_TYPES as readonly string[]).includes(input.type);
      let caseColumns = {};
      if (opensCase) {
        const sla = (await this.#tenants.settingsIn(tx, actor.tenantId)).sla[input.type as CaseType];
        const due = {
          firstResponseDueAt: new Date(occurredAt.getTime() + sla.firstResponseHours * HOUR),
          dueAt: new Date(occurredAt.getTime() + sla.resolutionHours * HOUR),
        };
        caseColumns = {
          caseStatus: 'open' as const,
          ...due,
          slaBreached: breached({ ...due, firstResponseAt: null, resolvedAt: null }, now),
        };
      }
      const row = await repo.insert(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        customerId: input.customerId,
        channel: input.channel,
        direction: input.direction,
        type: input.type,
        subject: input.subject ?? null,
        body: input.body ?? null,
        occurredAt,
        intermediaryId: input.intermediaryId ?? null,
        tags: input.tags ? [...new Set(input.tags)] : [],
        sentiment: input.sentiment ?? null,
        metadata: input.metadata ?? {},
        ...caseColumns,
      });
      const interaction = toInteraction(row);
      await this.#events.emit(tx, actor.tenantId, [
        { type: 'interaction.created', occurredAt: row.occurredAt, data: interaction },
        ...(interaction.case
          ? [{ type: 'case.opened' as const, occurredAt: row.occurredAt, data: interaction }]
          : []),
        // recorded late, already past its due times: breached from the start
        ...(row.slaBreached ? [breachEvent(row, now)] : []),
      ]);
      return { status: 201, body: interaction };
    });
  }

  get(actor: TenantActor, id: string): Promise<Interaction> {
    return this.#db.withTenant(actor.tenantId, async (tx) => toInteraction(await this.#find(tx, id)), {
      readOnly: true,
    });
  }

  update(
    actor: TenantActor,
    id: string,
    input: UpdateInteractionInput,
    ifMatch?: string,
  ): Promise<Interaction> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      const current = await this.#findForWords(tx, id);
      if (!ifMatchSatisfied(ifMatch, current.version)) {
        throw new AppError('precondition_failed', `the interaction is at version ${current.version}`);
      }
      return toInteraction(
        await repo.update(tx, id, { ...input, tags: input.tags ? [...new Set(input.tags)] : undefined }),
      );
    });
  }

  list(
    actor: TenantActor,
    filter: ListInteractionsFilter,
    limit: number,
    cursor?: string,
  ): Promise<Page<Interaction>> {
    const scope = { tenantId: actor.tenantId, list: 'interactions', filters: filter };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) =>
        this.#cursors.page(
          scope,
          await repo.list(tx, filter, after, limit),
          limit,
          (r) => r.id,
          toInteraction,
        ),
      { readOnly: true },
    );
  }

  /** Answers an interaction; the first reply to a case sets its first-response time and starts work on it. */
  reply(
    actor: TenantActor,
    id: string,
    input: ReplyInput,
    idempotencyKey?: string,
  ): Promise<StoredResponse<Interaction>> {
    const request = { key: idempotencyKey, operation: 'interactions.reply', body: { id, input } };
    return keyedWrite(this.#db, actor.tenantId, request, async (tx) => {
      const original = await this.#findForWords(tx, id);
      const now = this.#clock.now();
      // without a time, now, or the original's own time when that is (within the skew allowed) ahead
      const sentAt = input.occurredAt
        ? new Date(input.occurredAt)
        : new Date(Math.max(now.getTime(), original.occurredAt.getTime()));
      if (sentAt < original.occurredAt) {
        throw new AppError('validation_failed', 'a reply cannot be sent before what it answers', {
          errors: [
            { path: 'occurredAt', message: `must be at or after ${original.occurredAt.toISOString()}` },
          ],
        });
      }
      const reply = await repo.insert(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        customerId: original.customerId,
        channel: input.channel ?? original.channel,
        direction: 'outbound',
        type: 'message',
        subject: input.subject ?? (original.subject ? `Re: ${original.subject}` : null),
        body: input.body,
        occurredAt: sentAt,
        intermediaryId: input.intermediaryId ?? original.intermediaryId,
        replyTo: original.id,
      });
      await this.#events.emit(tx, actor.tenantId, [
        { type: 'interaction.created', occurredAt: reply.occurredAt, data: toInteraction(reply) },
      ]);
      // the first response is the earliest reply, whatever the order the replies are recorded in
      if (original.caseStatus && (!original.firstResponseAt || sentAt < original.firstResponseAt)) {
        const next = { ...original, firstResponseAt: sentAt };
        const updated = await repo.update(tx, original.id, {
          firstResponseAt: sentAt,
          caseStatus: original.caseStatus === 'open' ? 'in_progress' : original.caseStatus,
          slaBreached: original.slaBreached || breached(next, now),
        });
        // a first reply after its due time, before the sweep saw the case: the breach is this write's
        if (updated.slaBreached && !original.slaBreached)
          await this.#events.emit(tx, actor.tenantId, [breachEvent(updated, now)]);
      }
      return { status: 201, body: toInteraction(reply) };
    });
  }

  /** Moves a case; an illegal move is a 409 naming the current status. */
  transition(actor: TenantActor, id: string, input: TransitionInput): Promise<Interaction> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      // a resolution's note is words about the customer; a bare move is not
      const current = input.resolution?.note
        ? await this.#findForWords(tx, id)
        : await this.#find(tx, id, true);
      if (!current.caseStatus) {
        throw new AppError(
          'not_a_case',
          'only inbound complaints, claims, suggestions and inquiries are cases',
        );
      }
      const allowed = TRANSITIONS[current.caseStatus] ?? [];
      if (!allowed.includes(input.to)) {
        throw new AppError(
          'case_transition_invalid',
          `the case is ${current.caseStatus}; from there it can go to ${allowed.join(' or ')}, not ${input.to}`,
          { extra: { currentStatus: current.caseStatus, allowed } },
        );
      }
      const now = this.#clock.now();
      const patch: Parameters<typeof repo.update>[2] = { caseStatus: input.to };
      if (input.to === 'resolved') {
        Object.assign(patch, {
          // a resolution answers the customer: without a reply before it, it is the first response
          // (kept when the case is reopened, so a reopened case is not late for a reply it had)
          ...(current.firstResponseAt ? {} : { firstResponseAt: now }),
          resolvedAt: now,
          resolutionOutcome: input.resolution!.outcome,
          resolutionNote: input.resolution!.note ?? null,
        });
      }
      if (input.to === 'closed') patch.closedAt = now;
      if (input.to === 'reopened')
        Object.assign(patch, {
          resolvedAt: null,
          closedAt: null,
          resolutionOutcome: null,
          resolutionNote: null,
        });
      patch.slaBreached = current.slaBreached || breached({ ...current, ...patch } as InteractionRow, now);
      const updated = await repo.update(tx, id, patch);
      const moved = toInteraction(updated);
      await this.#events.emit(tx, actor.tenantId, [
        ...(updated.slaBreached && !current.slaBreached ? [breachEvent(updated, now)] : []),
        ...(input.to === 'resolved'
          ? [{ type: 'case.resolved' as const, occurredAt: now, data: moved }]
          : []),
      ]);
      return moved;
    });
  }

  /** The scheduled sweep: marks overdue cases of one tenant as breached. */
  markBreaches(tenantId: string): Promise<number> {
    return this.#db.withTenant(tenantId, async (tx) => {
      const now = this.#clock.now();
      const marked = await repo.markBreaches(tx, now);
      await this.#events.emit(
        tx,
        tenantId,
        marked.map((c) => breachEvent(c, now)),
      );
      return marked.length;
    });
  }

  /** A customer's open cases and last interaction time (REST and the GraphQL loader). */
  voiceOf(actor: TenantActor, customerIds: readonly string[], check = false) {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        if (check) for (const id of customerIds) await this.#customers.assertExists(tx, id);
        const summaries = new Map((await repo.voice(tx, customerIds)).map((v) => [v.customer_id, v]));
        const cases = await repo.openCases(tx, customerIds, 50);
        return customerIds.map((id) => ({
          openCases: cases.filter((c) => c.customerId === id).map(toInteraction),
          openCaseCount: summaries.get(id)?.open_cases ?? 0,
          lastInteractionAt: iso(summaries.get(id)?.last_at ? new Date(summaries.get(id)!.last_at!) : null),
        }));
      },
      { readOnly: true, snapshot: true },
    );
  }

  insights(actor: TenantActor, from?: string, to?: string): Promise<VoiceInsights> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const { timezone } = await this.#tenants.settingsIn(tx, actor.tenantId);
        const r = await repo.voiceInsights(
          tx,
          from ? new Date(from) : undefined,
          to ? new Date(to) : undefined,
          timezone,
          this.#clock.now(),
        );
        const order = ['<1d', '1-3d', '3-7d', '>7d'] as const;
        const backlog = new Map(r.backlog.map((b) => [b.age, b.cases]));
        const round = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);
        return {
          cases: r.summary.cases,
          byType: r.byType,
          byChannel: r.byChannel,
          byMonth: r.byMonth,
          answeredWithinSla: r.summary.answerable
            ? round(r.summary.answered_on_time / r.summary.answerable)
            : null,
          medianFirstResponseHours: round(
            r.summary.median_first === null ? null : Number(r.summary.median_first),
          ),
          medianResolutionHours: round(
            r.summary.median_resolution === null ? null : Number(r.summary.median_resolution),
          ),
          openBacklog: order.map((age) => ({ age, cases: backlog.get(age) ?? 0 })),
        };
      },
      { readOnly: true, snapshot: true },
    );
  }

  /** For other modules: the customer an interaction belongs to (undefined when it does not exist). */
  async customerOf(tx: Tx, id: string): Promise<string | undefined> {
    return (await repo.findById(tx, id))?.customerId;
  }

  /** For the customer timeline: a page of interactions, newest first. */
  timelinePage(tx: Tx, customerId: string, before: { at: Date; id: string } | undefined, limit: number) {
    return repo.timeline(tx, customerId, before, limit);
  }

  /**
   * The interaction, locked, for a write that adds words to it: its customer is share-locked first
   * (an erasure locks the customer before it scrubs their interactions, so the two never deadlock
   * and the erasure scrubs what this write adds), and an erased customer's interactions take none.
   */
  async #findForWords(tx: Tx, id: string): Promise<InteractionRow> {
    const row = await this.#find(tx, id);
    if (!(await this.#customers.isReferable(tx, row.customerId)))
      throw new AppError(
        'invalid_reference',
        `interaction ${id} is an erased customer's: it takes no more replies, text or notes`,
      );
    return this.#find(tx, id, true);
  }

  async #find(tx: Tx, id: string, forUpdate = false): Promise<InteractionRow> {
    const row = await repo.findById(tx, id, forUpdate);
    if (!row) throw notFound(id);
    return row;
  }

  /** Erasure: other customers' interactions that quote the erased customer's email or phone lose those values. */
  forgetValues(tx: Tx, values: readonly string[]): Promise<void> {
    return repo.replaceValues(tx, values);
  }

  /** Erasure: the customer's interactions lose their words (subject, body, notes, metadata). */
  forgetCustomer(tx: Tx, customerId: string): Promise<void> {
    return repo.scrubCustomer(tx, customerId);
  }
}
