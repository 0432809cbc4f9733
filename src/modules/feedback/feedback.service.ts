import { sql } from 'drizzle-orm';
import type { TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { keyedWrite, type StoredResponse } from '../../platform/idempotency.ts';
import { newId } from '../../platform/ids.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import type { EventsService } from '../events/events.service.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import { type FeedbackRow, feedbackRepository as repo } from './feedback.repository.ts';
import type { CreateFeedbackInput, Feedback, ListFeedbackFilter, Satisfaction } from './feedback.schemas.ts';

export function toFeedback(row: FeedbackRow): Feedback {
  return {
    id: row.id,
    customerId: row.customerId,
    interactionId: row.interactionId,
    orderId: row.orderId,
    dimension: row.dimension,
    expectation: row.expectation,
    perception: row.perception,
    gap: row.gap ?? row.perception - row.expectation,
    nps: row.nps,
    csat: row.csat,
    comment: row.comment,
    channel: row.channel,
    occurredAt: row.occurredAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
  };
}

const round = (n: number | null, digits = 2) =>
  n === null ? null : Math.round(n * 10 ** digits) / 10 ** digits;

export class FeedbackService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #clock: Clock;
  readonly #tenants: TenantsService;
  readonly #events: EventsService;

  readonly #requireCustomer: (tx: Tx, id: string) => Promise<void>;
  readonly #ownerOf: {
    interaction: (tx: Tx, id: string) => Promise<string | undefined>;
    order: (tx: Tx, id: string) => Promise<string | undefined>;
  };

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    clock: Clock;
    tenants: TenantsService;
    events: EventsService;
    /** The customer an interaction or an order belongs to (through those modules' services). */
    ownerOf: FeedbackService['ownerOf'];
    /** 422 unless the customer exists (an erased one does not): the customers module's check. */
    requireCustomer: (tx: Tx, id: string) => Promise<void>;
  }) {
    this.#requireCustomer = deps.requireCustomer;
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#clock = deps.clock;
    this.#tenants = deps.tenants;
    this.#events = deps.events;
    this.#ownerOf = deps.ownerOf;
  }

  get ownerOf() {
    return this.#ownerOf;
  }

  /** Feedback about an interaction or an order is the feedback of that interaction's or order's customer. */
  async #checkTargets(tx: Tx, input: CreateFeedbackInput): Promise<void> {
    for (const [field, id, owner] of [
      ['interactionId', input.interactionId, this.#ownerOf.interaction],
      ['orderId', input.orderId, this.#ownerOf.order],
    ] as const) {
      if (!id) continue;
      const customerId = await owner(tx, id);
      const message = customerId ? 'belongs to another customer' : 'does not exist in this tenant';
      if (customerId !== input.customerId) {
        throw new AppError('invalid_reference', `${field} ${message}`, {
          errors: [{ path: field, message }],
        });
      }
    }
  }

  /** Records feedback; with an Idempotency-Key a retry replays the first response. */
  create(
    actor: TenantActor,
    input: CreateFeedbackInput,
    idempotencyKey?: string,
  ): Promise<StoredResponse<Feedback>> {
    const request = { key: idempotencyKey, operation: 'feedback.create', body: input };
    return keyedWrite(this.#db, actor.tenantId, request, async (tx) => {
      await this.#requireCustomer(tx, input.customerId);
      await this.#checkTargets(tx, input);
      const given = toFeedback(
        await repo.insert(tx, {
          tenantId: actor.tenantId,
          id: newId(),
          customerId: input.customerId,
          interactionId: input.interactionId ?? null,
          orderId: input.orderId ?? null,
          dimension: input.dimension,
          expectation: input.expectation,
          perception: input.perception,
          nps: input.nps ?? null,
          csat: input.csat ?? null,
          comment: input.comment ?? null,
          channel: input.channel ?? null,
          occurredAt: input.occurredAt ? new Date(input.occurredAt) : this.#clock.now(),
        }),
      );
      await this.#events.emit(tx, actor.tenantId, [
        { type: 'feedback.received', occurredAt: new Date(given.occurredAt), data: given },
      ]);
      return { status: 201, body: given };
    });
  }

  get(actor: TenantActor, id: string): Promise<Feedback> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const row = await repo.findById(tx, id);
        if (!row) throw new AppError('feedback_not_found', `no feedback ${id} in this tenant`);
        return toFeedback(row);
      },
      { readOnly: true },
    );
  }

  list(
    actor: TenantActor,
    filter: ListFeedbackFilter,
    limit: number,
    cursor?: string,
  ): Promise<Page<Feedback>> {
    const scope = { tenantId: actor.tenantId, list: 'feedback', filters: filter };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) =>
        this.#cursors.page(scope, await repo.list(tx, filter, after, limit), limit, (r) => r.id, toFeedback),
      { readOnly: true },
    );
  }

  /** Per group: mean expectation, perception and gap; NPS (% promoters − % detractors); CSAT (% 4–5). */
  satisfaction(
    actor: TenantActor,
    groupBy: 'dimension' | 'month' | 'channel' | 'intermediary',
    from?: string,
    to?: string,
  ): Promise<Satisfaction> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const { timezone } = await this.#tenants.settingsIn(tx, actor.tenantId);
        const key = {
          dimension: sql`f.dimension`,
          month: sql`to_char(f.occurred_at AT TIME ZONE ${timezone}, 'YYYY-MM')`,
          channel: sql`f.channel`,
          // the interaction's intermediary, else the order's (the employee or distributor it came through)
          intermediary: sql`coalesce(i.intermediary_id, o.intermediary_id)::text`,
        }[groupBy];
        const rows = await repo.satisfaction(
          tx,
          key,
          groupBy === 'intermediary',
          from ? new Date(from) : undefined,
          to ? new Date(to) : undefined,
        );
        return {
          groupBy,
          groups: rows.map((r) => ({
            key: r.key,
            responses: r.responses,
            meanExpectation: round(r.mean_expectation)!,
            meanPerception: round(r.mean_perception)!,
            meanGap: round(r.mean_gap)!,
            npsResponses: r.nps_responses,
            nps: r.nps_responses ? round(((r.promoters - r.detractors) / r.nps_responses) * 100, 1) : null,
            csatResponses: r.csat_responses,
            csat: r.csat_responses ? round((r.satisfied / r.csat_responses) * 100, 1) : null,
            meanCsat: round(r.mean_csat),
          })),
        };
      },
      { readOnly: true },
    );
  }

  /** For the customer timeline: a page of feedback, newest first. */
  timelinePage(tx: Tx, customerId: string, before: { at: Date; id: string } | undefined, limit: number) {
    return repo.timeline(tx, customerId, before, limit);
  }

  /** Erasure: other customers' answers that quote the erased customer's email or phone lose those values. */
  forgetValues(tx: Tx, values: readonly string[]): Promise<void> {
    return repo.replaceValues(tx, values);
  }

  /** Erasure: the customer's answers lose their comments. */
  forgetCustomer(tx: Tx, customerId: string): Promise<void> {
    return repo.scrubCustomer(tx, customerId);
  }
}
