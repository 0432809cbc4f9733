import { z } from 'zod';
import type { TenantActor } from '../../platform/auth.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { validationError } from '../../platform/errors.ts';
import { type Cursors, cursorParam, limitParam, type Page } from '../../platform/pagination.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';
import type { CustomersService } from './customers.service.ts';

export const TimelineEntrySchema = z
  .object({
    kind: z
      .string()
      .describe('What happened: order, interaction, feedback, status_change, … (modules add kinds)'),
    id: uuid().describe('The id of the thing (order, interaction, …)'),
    occurredAt: timestampOut('When'),
    summary: z.string().describe('One line for people'),
    data: z.record(z.string(), z.unknown()).describe('The thing itself, as its own endpoint returns it'),
  })
  .meta({ id: 'TimelineEntry' });
export type TimelineEntry = z.infer<typeof TimelineEntrySchema>;

export const TimelineQuery = z.strictObject({
  kinds: z
    .string()
    .regex(/^[a-z_]+(,[a-z_]+)*$/, 'must be a comma-separated list such as order,interaction')
    .optional()
    .describe('Only these kinds, comma-separated'),
  limit: limitParam,
  cursor: cursorParam,
});
export const TimelinePage = z
  .object({ data: z.array(TimelineEntrySchema), nextCursor: z.string().nullable() })
  .meta({ id: 'TimelinePage' });

type Position = { at: Date; id: string };

/** One kind of entry: a page of a customer's entries, newest first, strictly before a position. */
export type TimelineSource = {
  kind: string;
  page: (
    tx: Tx,
    customerId: string,
    before: Position | undefined,
    limit: number,
  ) => Promise<(Position & { entry: TimelineEntry })[]>;
};

/**
 * Everything that happened with a customer, newest first. Each module registers its own source and
 * reads its own tables; the timeline merges their pages (a module adds a kind without touching others).
 */
export class TimelineService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #customers: CustomersService;
  readonly #sources = new Map<string, TimelineSource>();

  constructor(deps: { db: Database; cursors: Cursors; customers: CustomersService }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#customers = deps.customers;
  }

  register(source: TimelineSource): void {
    this.#sources.set(source.kind, source);
  }

  get kinds(): string[] {
    return [...this.#sources.keys()];
  }

  timeline(
    actor: TenantActor,
    customerId: string,
    options: { kinds?: string[]; limit: number; cursor?: string },
  ): Promise<Page<TimelineEntry>> {
    // a kind named twice is read once (else its entries would come twice, and pages repeat)
    const kinds = [...new Set(options.kinds ?? this.kinds)];
    const unknown = kinds.filter((k) => !this.#sources.has(k));
    if (unknown.length) {
      throw validationError([
        { path: 'kinds', message: `unknown kind ${unknown.join(', ')}; known: ${this.kinds.join(', ')}` },
      ]);
    }
    const scope = {
      tenantId: actor.tenantId,
      list: `timeline:${customerId}`,
      filters: { kinds: [...kinds].sort() },
    };
    const before = options.cursor ? parsePosition(this.#cursors.decode(scope, options.cursor)) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        await this.#customers.assertExists(tx, customerId);
        // one connection runs one query at a time: the sources are read in turn
        const pages = [];
        for (const k of kinds)
          pages.push(await this.#sources.get(k)!.page(tx, customerId, before, options.limit + 1));
        const merged = pages
          .flat()
          .sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
        return this.#cursors.page(
          scope,
          merged,
          options.limit,
          (e) => `${e.at.toISOString()}|${e.id}`,
          (e) => e.entry,
        );
      },
      { readOnly: true },
    );
  }
}

function parsePosition(text: string): Position {
  const [at, id] = text.split('|');
  return { at: new Date(at!), id: id! };
}
