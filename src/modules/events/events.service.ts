import { and, asc, eq, gt, like, type SQL, sql } from 'drizzle-orm';
import type { TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import { type Database, likePrefix, type Tx } from '../../platform/db.ts';
import { idFloor, newId } from '../../platform/ids.ts';
import type { CursorScope, Cursors, Page } from '../../platform/pagination.ts';
import { anyOf } from '../../platform/redaction.ts';
import { EVENT_RETENTION_DAYS, type Event, type EventType, type ListEventsFilter } from './events.schemas.ts';
import { events } from './events.table.ts';

/** Events pruned per statement (and per transaction). */
const PRUNE_BATCH = 10_000;

type Emitted = { type: EventType; data: object; occurredAt?: Date };
type EventRow = typeof events.$inferSelect;

/** How long a feed request waits, at most, for the transactions in flight to end (EVENTS_SETTLE_MS). */
export const EVENTS_SETTLE_MS = 3000;
/** The pauses between looks while waiting: doubling from the first, up to the last. */
const SETTLE_PAUSE_MS = { first: 10, max: 500 };

/**
 * Where a page starts: after the feed position (transaction, id), or, when the event named by
 * `after` is gone (pruned, or never of this tenant), after its id alone.
 */
type From = { tx: string; id: string } | { id: string };

const CURSOR = /^(\d+):([0-9a-f-]{36})$/;

/** The feed position of the event `id` (what a poller saw last); by id alone when it is gone. */
async function positionOf(tx: Tx, id: string): Promise<From> {
  const [row] = await tx.select({ tx: events.tx, id: events.id }).from(events).where(eq(events.id, id));
  return row ?? { id };
}

/**
 * Builds the statement (for a CTE) that emits one event of `type` per row of `source`, which selects
 * `occurred_at` (NULL: now, by the service's clock) and `data`, and with `ids: 'source'` the events'
 * `id`s too (EventsService.insertFrom).
 */
export type EmitFrom = (type: EventType, source: SQL, options?: { ids?: 'source' }) => SQL;

const toEvent = (row: EventRow): Event => ({
  id: row.id,
  type: row.type,
  version: row.version,
  occurredAt: row.occurredAt.toISOString(),
  data: row.data,
});

/** The outbox: modules emit in their own transaction; consumers poll `GET /v1/events`. */
export class EventsService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #clock: Clock;
  readonly #settleMs: number;

  constructor(deps: { db: Database; cursors: Cursors; clock: Clock; eventsSettleMs?: number }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#clock = deps.clock;
    this.#settleMs = deps.eventsSettleMs ?? EVENTS_SETTLE_MS;
  }

  /** Writes events in the caller's transaction, in one statement; ids are UUIDv7, monotonic in this process. */
  async emit(tx: Tx, tenantId: string, emitted: Emitted[]): Promise<void> {
    if (!emitted.length) return;
    const now = this.#clock.now().toISOString();
    // one JSON document for the whole batch: PostgreSQL parses it once
    const rows = emitted.map((e) => ({
      id: newId(),
      type: e.type,
      occurred_at: e.occurredAt?.toISOString() ?? now,
      data: e.data,
    }));
    await tx.execute(sql`
      INSERT INTO events (tenant_id, id, type, version, occurred_at, data)
      SELECT ${tenantId}::uuid, e.id, e.type, 1, e.occurred_at, e.data
      FROM json_to_recordset(${JSON.stringify(rows)}::json) AS e(id uuid, type text, occurred_at timestamptz, data jsonb)`);
  }

  /** For other modules: events by id, in the caller's transaction, oldest first. */
  async byIds(tx: Tx, ids: readonly string[]): Promise<Event[]> {
    if (!ids.length) return [];
    const rows = await tx
      .select()
      .from(events)
      .where(sql`${events.id} = ANY(${sql.param(ids)}::uuid[])`)
      .orderBy(asc(events.id));
    return rows.map(toEvent);
  }

  /** Writes one event in the caller's transaction and returns its id. */
  async emitOne(tx: Tx, tenantId: string, emitted: Emitted): Promise<string> {
    const id = newId();
    await tx.insert(events).values({
      tenantId,
      id,
      type: emitted.type,
      version: 1,
      occurredAt: emitted.occurredAt ?? this.#clock.now(),
      data: emitted.data as Record<string, unknown>,
    });
    return id;
  }

  /**
   * Set-based emission inside a larger statement (a CTE): one event of `type` per row of `source`,
   * which selects `occurred_at` (NULL: now) and `data`. Ids come from SQL's UUIDv7, or with
   * `ids: 'source'` from the source's `id` (this process's monotonic ids, in the caller's order).
   */
  insertFrom(type: EventType, source: SQL, options: { ids?: 'source' } = {}): SQL {
    return sql`INSERT INTO events (tenant_id, id, type, version, occurred_at, data)
      SELECT vinculo_current_tenant(), ${options.ids ? sql`e.id` : sql`vinculo_uuidv7()`}, ${type}, 1,
        coalesce(e.occurred_at, ${this.#clock.now().toISOString()}::timestamptz), e.data FROM (${source}) e
      RETURNING 1`;
  }

  /**
   * The feed, in (transaction, id) order, after a position: the cursor's, or the event `after`. Only
   * events of settled transactions are served — those older than every transaction still running —
   * since a running one may yet commit events that would sort before them. A page that reaches an
   * unsettled event ends before it (the rest comes in a later poll, never skipped); when the very
   * first one is unsettled, the request looks again after a pause (doubling, without holding a
   * connection) until the transactions in flight have ended or `settleMs` is spent.
   */
  async list(
    actor: TenantActor,
    filter: ListEventsFilter,
    limit: number,
    cursor?: string,
  ): Promise<Page<Event>> {
    const scope = { tenantId: actor.tenantId, list: 'events', filters: filter };
    const decoded = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    const at = decoded ? CURSOR.exec(decoded) : null;
    // a cursor from before the feed was ordered by transaction holds a bare event id
    const named = decoded && !at ? decoded : filter.after;
    const from: From | null = at
      ? { tx: at[1]!, id: at[2]! }
      : named
        ? await this.#db.withTenant(actor.tenantId, (tx) => positionOf(tx, named), { readOnly: true })
        : null;
    const type = filter.type?.endsWith('.*')
      ? like(events.type, likePrefix(filter.type.slice(0, -1)))
      : filter.type
        ? eq(events.type, filter.type)
        : undefined;
    const after = !from
      ? undefined
      : 'tx' in from
        ? sql`(${events.tx}, ${events.id}) > (${from.tx}::xid8, ${from.id}::uuid)`
        : gt(events.id, from.id);
    const started = Date.now();
    for (let pause = SETTLE_PAUSE_MS.first; ; pause = Math.min(pause * 2, SETTLE_PAUSE_MS.max)) {
      // settled rows sort before unsettled ones (a running transaction's id is at least the horizon)
      const rows = await this.#db.withTenant(
        actor.tenantId,
        (tx) =>
          tx
            .select({
              event: events,
              settled: sql<boolean>`${events.tx} < pg_snapshot_xmin(pg_current_snapshot())`,
            })
            .from(events)
            .where(and(type, after))
            .orderBy(asc(events.tx), asc(events.id))
            .limit(limit + 1),
        { readOnly: true },
      );
      const open = rows.findIndex((r) => !r.settled);
      if (open === -1 || open >= limit) return this.#page(scope, rows, limit);
      // settled events are served at once (the open ones come in the next poll): under steady
      // writes there is nearly always one in flight, and waiting for it would stall every poll
      if (open > 0 || Date.now() - started + pause > this.#settleMs)
        return this.#page(scope, rows.slice(0, open), open);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  #page(scope: CursorScope, rows: { event: EventRow }[], limit: number): Page<Event> {
    return this.#cursors.page(
      scope,
      rows.map((r) => r.event),
      limit,
      (r) => `${r.tx}:${r.id}`,
      toEvent,
    );
  }

  /**
   * Drops events written more than the retention period ago (a scheduled job, per tenant). By when
   * they were written (their UUIDv7 id), not by `occurredAt`: an import of old orders writes events
   * about the past that consumers still have to see.
   */
  async prune(tenantId: string): Promise<number> {
    const before = idFloor(new Date(this.#clock.now().getTime() - EVENT_RETENTION_DAYS * 86_400_000));
    // a batch at a time, each its own transaction (short locks, nothing held in memory); an event a
    // webhook delivery still waits on stays until it is delivered or failed (a disabled webhook's
    // deliveries wait for it to be enabled again, however long)
    let pruned = 0;
    for (;;) {
      const gone = await this.#db.withTenant(tenantId, (tx) =>
        tx.execute(sql`
          DELETE FROM events WHERE tenant_id = vinculo_current_tenant() AND id IN (
            SELECT e.id FROM events e
            WHERE e.tenant_id = vinculo_current_tenant() AND e.id < ${before}::uuid
              AND NOT EXISTS (
                SELECT 1 FROM webhook_deliveries d
                WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id AND d.status = 'pending')
            ORDER BY e.id LIMIT ${PRUNE_BATCH})`),
      );
      pruned += gone.rowCount ?? 0;
      if ((gone.rowCount ?? 0) < PRUNE_BATCH) return pruned;
    }
  }

  /**
   * Erasure: the customer's own events keep only its id; any other event that quotes one of the
   * customer's values (email, phone…: as whole values, in any case, a phone however spaced) loses
   * its payload.
   */
  async scrub(tx: Tx, customerId: string, values: readonly string[]): Promise<number> {
    const own = sql`(data ->> 'customerId' = ${customerId}::text OR (type LIKE 'customer.%' AND data ->> 'id' = ${customerId}::text))`;
    const quotes = values.length ? sql`data::text ~* ${anyOf(values)}` : sql`false`;
    const result = await tx.execute(sql`
      UPDATE events SET data = CASE WHEN ${own}
          THEN jsonb_build_object('customerId', ${customerId}::text, 'erased', true)
          ELSE jsonb_build_object('erased', true) END
      WHERE ${own} OR ${quotes}`);
    return result.rowCount ?? 0;
  }
}
