import type { TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import { MAX_LIMIT, type Page } from '../../platform/pagination.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { FeedbackService } from '../feedback/feedback.service.ts';
import type { InteractionsService } from '../interactions/interactions.service.ts';
import type { OrdersService } from '../orders/orders.service.ts';
import type { ScoresService } from '../scores/scores.service.ts';
import type { SegmentsService } from '../segments/segments.service.ts';
import type { CustomerExport } from './privacy.schemas.ts';

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
  readonly #clock: Clock;
  readonly #customers: CustomersService;
  readonly #orders: OrdersService;
  readonly #interactions: InteractionsService;
  readonly #feedback: FeedbackService;
  readonly #scores: ScoresService;
  readonly #segments: SegmentsService;

  constructor(deps: {
    clock: Clock;
    customers: CustomersService;
    orders: OrdersService;
    interactions: InteractionsService;
    feedback: FeedbackService;
    scores: ScoresService;
    segments: SegmentsService;
  }) {
    this.#clock = deps.clock;
    this.#customers = deps.customers;
    this.#orders = deps.orders;
    this.#interactions = deps.interactions;
    this.#feedback = deps.feedback;
    this.#scores = deps.scores;
    this.#segments = deps.segments;
  }

  /** `GET /v1/customers/:id/export` (scope privacy:manage): everything, personal data included. */
  async export(actor: TenantActor, customerId: string): Promise<CustomerExport> {
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
    };
  }
}
