import type { TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { forgetResponses } from '../../platform/idempotency.ts';
import { MAX_LIMIT, type Page } from '../../platform/pagination.ts';
import type { CampaignsService } from '../campaigns/campaigns.service.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { EventsService } from '../events/events.service.ts';
import type { FeedbackService } from '../feedback/feedback.service.ts';
import type { ImportsService } from '../imports/imports.service.ts';
import type { InteractionsService } from '../interactions/interactions.service.ts';
import type { OrdersService } from '../orders/orders.service.ts';
import type { ScoresService } from '../scores/scores.service.ts';
import type { SegmentsService } from '../segments/segments.service.ts';
import type { AuditedRequest, AuditService } from './audit.service.ts';
import { type ErasureRow, privacyRepository as repo } from './privacy.repository.ts';
import type { CustomerExport, Erasure } from './privacy.schemas.ts';

const toErasure = (row: ErasureRow): Erasure => ({
  customerId: row.customerId,
  erasedAt: row.erasedAt.toISOString(),
  requestedBy: row.requestedBy,
});

/** Every page of a cursor-paginated list. */
async function all<T>(page: (cursor?: string) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const next = await page(cursor);
    items.push(...next.data);
    cursor = next.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

/** Privacy requests: each module contributes what it holds through its own service. */
export class PrivacyService {
  readonly #db: Database;
  readonly #events: EventsService;
  readonly #imports: ImportsService;
  readonly #clock: Clock;
  readonly #customers: CustomersService;
  readonly #orders: OrdersService;
  readonly #interactions: InteractionsService;
  readonly #feedback: FeedbackService;
  readonly #scores: ScoresService;
  readonly #segments: SegmentsService;
  readonly #campaigns: CampaignsService;
  readonly #audit: AuditService;

  constructor(deps: {
    db: Database;
    events: EventsService;
    imports: ImportsService;
    clock: Clock;
    customers: CustomersService;
    orders: OrdersService;
    interactions: InteractionsService;
    feedback: FeedbackService;
    scores: ScoresService;
    segments: SegmentsService;
    campaigns: CampaignsService;
    audit: AuditService;
  }) {
    this.#db = deps.db;
    this.#events = deps.events;
    this.#imports = deps.imports;
    this.#clock = deps.clock;
    this.#customers = deps.customers;
    this.#orders = deps.orders;
    this.#interactions = deps.interactions;
    this.#feedback = deps.feedback;
    this.#scores = deps.scores;
    this.#segments = deps.segments;
    this.#campaigns = deps.campaigns;
    this.#audit = deps.audit;
  }

  /**
   * `GET /v1/customers/:id/export` (scope privacy:manage): everything, personal data included, as
   * of one moment (every read below sees one snapshot). With `audit`, the export's audit entry is
   * written before the document is handed back: an export that could not be logged is not served.
   */
  async export(actor: TenantActor, customerId: string, audit?: AuditedRequest): Promise<CustomerExport> {
    const document = await this.#db.readSnapshot(actor.tenantId, () => this.#export(actor, customerId));
    if (audit) await this.#audit.record(audit);
    return document;
  }

  async #export(actor: TenantActor, customerId: string): Promise<CustomerExport> {
    // privacy:manage is the right to see all of it: the reads below run with every reading scope
    const reader: TenantActor = {
      ...actor,
      scopes: new Set([
        ...actor.scopes,
        'customers:read',
        'customers:pii',
        'interactions:read',
        'scores:read',
        'segments:read',
        'campaigns:read',
      ]),
    };
    const customer = await this.#customers.get(reader, customerId);
    const filter = { customerId };
    return {
      exportedAt: this.#clock.now().toISOString(),
      format: 'vinculo.customer-export/1',
      customer,
      consentHistory: await this.#customers.consentHistory(reader, customerId),
      orders: await all((c) => this.#orders.list(reader, filter, MAX_LIMIT, c)),
      interactions: await all((c) => this.#interactions.list(reader, filter, MAX_LIMIT, c)),
      feedback: await all((c) => this.#feedback.list(reader, filter, MAX_LIMIT, c)),
      scores: await this.#scores.customerScores(reader, customerId),
      statusHistory: await this.#customers.statusHistory(reader, customerId),
      tierHistory: await this.#scores.tierHistory(reader, customerId),
      segments: await this.#segments.segmentsOf(reader, customerId),
      segmentHistory: await all((c) => this.#segments.customerHistory(reader, customerId, MAX_LIMIT, c)),
      campaignMessages: await this.#campaigns.messagesOf(reader, customerId),
    };
  }

  /**
   * `DELETE /v1/customers/:id` (scope privacy:manage): erasure (GDPR article 17), in one transaction.
   * Every module forgets what it holds; orders stay, attached to a row without personal data, so
   * the tenant's totals do not change. A second request answers the same. With `audit`, the audit
   * entry is written in the erasure's transaction.
   */
  erase(actor: TenantActor, customerId: string, audit?: AuditedRequest): Promise<Erasure> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        // the customer locked against every writer, those writing about them included (a campaign's
        // messages); the segments' lock first, as the membership passes take it
        await this.#segments.lockMembershipIn(tx);
        await this.#customers.lockForErasure(tx, customerId);
        if (audit) await this.#audit.recordIn(tx, audit);
        const values = await this.#customers.contactValuesOf(tx, customerId);
        if (!values) {
          const done = await repo.erasure(tx, customerId);
          if (done) return toErasure(done);
          throw new AppError('customer_not_found', `no customer ${customerId} in this tenant`);
        }
        const at = this.#clock.now();
        await this.#segments.forgetCustomer(tx, customerId);
        await this.#scores.forgetCustomer(tx, customerId);
        await this.#interactions.forgetCustomer(tx, customerId);
        await this.#feedback.forgetCustomer(tx, customerId);
        await this.#campaigns.forgetCustomer(tx, customerId);
        await this.#events.scrub(tx, customerId, values);
        // a stored response about the customer names its id (a UUID: safe to match as text)
        await forgetResponses(tx, [customerId, ...values]);
        if (values.length) {
          await this.#imports.forgetValues(tx, values);
          await this.#interactions.forgetValues(tx, values);
          await this.#feedback.forgetValues(tx, values);
          await this.#segments.forgetValues(tx, values);
          await this.#campaigns.forgetValues(tx, values);
        }
        await this.#customers.erase(tx, customerId, at);
        const row = await repo.recordErasure(tx, {
          tenantId: actor.tenantId,
          customerId,
          erasedAt: at,
          requestedBy: actor.sub,
        });
        await this.#events.emit(tx, actor.tenantId, [
          { type: 'customer.erased', data: { customerId }, occurredAt: at },
        ]);
        return toErasure(row);
      },
      { retryConflicts: true },
    );
  }
}
