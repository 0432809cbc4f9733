import type { TenantActor } from '../../platform/auth.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError, isAppError } from '../../platform/errors.ts';
import { unstorableIn } from '../../platform/http.ts';
import { keyedWrite, type StoredResponse } from '../../platform/idempotency.ts';
import { money } from '../../platform/money.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { problemFrom, zodFieldErrors } from '../../platform/problem.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { EventsService } from '../events/events.service.ts';
import type { IntermediariesService } from '../intermediaries/intermediaries.service.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import {
  type AggregateChange,
  type OrderRow,
  type OrderWrite,
  ordersRepository as repo,
} from './orders.repository.ts';
import { checkRules, toWrite } from './orders.rules.ts';
import {
  type ListOrdersFilter,
  type Order,
  type OrderBatchResult,
  type Purchases,
  RecordOrderBody,
  type RecordOrderInput,
  type RecordOrderResult,
} from './orders.schemas.ts';

export function toOrder(row: OrderRow): Order {
  const counted = row.status !== 'cancelled' && row.status !== 'refunded';
  return {
    id: row.id,
    source: row.source,
    externalId: row.externalId,
    customerId: row.customerId,
    placedAt: row.placedAt.toISOString(),
    status: row.status,
    currency: row.currency,
    total: money(row.total, row.currency),
    discount: money(row.discount, row.currency),
    shipping: money(row.shipping, row.currency),
    refunded: money(row.refunded, row.currency),
    baseTotal: money(row.baseTotal, row.baseCurrency),
    netTotal: money(counted ? row.baseTotal - row.baseRefunded : 0, row.baseCurrency),
    items: row.items.map((i) => ({ ...i, unitPrice: money(i.unitPrice, row.currency) })),
    channel: row.channel,
    intermediaryId: row.intermediaryId,
    payment: {
      method: row.paymentMethod,
      dueAt: row.paymentDueAt?.toISOString() ?? null,
      paidAt: row.paymentPaidAt?.toISOString() ?? null,
    },
    couponCode: row.couponCode,
    sourceUpdatedAt: row.sourceUpdatedAt.toISOString(),
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toPurchases(
  customerId: string,
  row: Awaited<ReturnType<typeof repo.aggregatesOf>>[number] | undefined,
  currency: string,
): Purchases {
  return {
    customerId,
    orders: row?.orders ?? 0,
    firstOrderAt: row?.firstOrderAt?.toISOString() ?? null,
    lastOrderAt: row?.lastOrderAt?.toISOString() ?? null,
    netRevenue: money(row?.netRevenue ?? 0, currency),
    items: row?.items ?? 0,
    ordersWithDueDate: row?.ordersWithDueDate ?? 0,
    ordersPaidOnTime: row?.ordersPaidOnTime ?? 0,
  };
}

const notFound = (id: string) => new AppError('order_not_found', `no order ${id} in this tenant`);

// two writers locking the same customers in a different order (an item naming a customer by id in
// one batch, by email in the other) deadlock; PostgreSQL aborts one and it runs again
const RETRY = { retryConflicts: true };

/** An order's identity in its tenant: (source, externalId). */
const orderKey = (source: string, externalId: string) => `${source}\u0000${externalId}`;

/** Rounds of look-up and write before a batch gives up to concurrent writers of the same orders. */
const WRITE_ROUNDS = 5;

/** Other writers kept changing these orders: the transaction runs again (as after a deadlock). */
const conflict = () =>
  Object.assign(new Error('orders kept changing under concurrent writers'), { code: '40001' });

const UNCHANGED = 'an equal or newer version of this order (by sourceUpdatedAt) is already recorded';

/** An order's version: the platform's own update time, else when it was placed. */
const versionAt = (o: { sourceUpdatedAt?: unknown; placedAt?: unknown }) => {
  const at = typeof o.sourceUpdatedAt === 'string' ? o.sourceUpdatedAt : o.placedAt;
  return typeof at === 'string' ? Date.parse(at) : Number.NaN;
};

/** The order and version an item names, read without its schema (for an item the schema refused). */
type Version = { source: string; externalId: string; version: number };
function versionIn(item: unknown): Version | undefined {
  if (!item || typeof item !== 'object') return undefined;
  const { source, externalId } = item as Record<string, unknown>;
  const version = versionAt(item as Record<string, unknown>);
  return typeof source === 'string' && typeof externalId === 'string' && Number.isFinite(version)
    ? { source, externalId, version }
    : undefined;
}

export class OrdersService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #customers: CustomersService;
  readonly #intermediaries: IntermediariesService;
  readonly #tenants: TenantsService;
  readonly #events: EventsService;
  readonly #onWritten: (tenantId: string) => Promise<void>;

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    customers: CustomersService;
    intermediaries: IntermediariesService;
    tenants: TenantsService;
    events: EventsService;
    /** Called after orders were written and committed (the scores refresh follows). */
    onWritten?: (tenantId: string) => Promise<void>;
  }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#customers = deps.customers;
    this.#intermediaries = deps.intermediaries;
    this.#tenants = deps.tenants;
    this.#events = deps.events;
    this.#onWritten = deps.onWritten ?? (async () => {});
  }

  /** Tells the listeners that orders of this tenant were written and committed. */
  written(tenantId: string): Promise<void> {
    return this.#onWritten(tenantId);
  }

  /** Records one order (`POST /v1/orders`); with a key, a retry replays the first response. */
  async record(actor: TenantActor, input: RecordOrderInput, idempotencyKey?: string) {
    const stored = await this.#stored(actor, 'orders.record', input, idempotencyKey, async (tx) => {
      const [result] = await this.#write(tx, actor, [input]);
      if (result!.status === 'error') throw result!.appError;
      const [row] = await repo.findByIds(tx, [result!.id!]);
      const body: RecordOrderResult = {
        result: result!.status as RecordOrderResult['result'],
        ...(result!.reason ? { reason: result!.reason } : {}),
        order: toOrder(row!),
      };
      return { status: result!.status === 'created' ? 201 : 200, body };
    });
    if (!stored.replayed && (stored.body as RecordOrderResult).result !== 'unchanged') {
      await this.written(actor.tenantId);
    }
    return stored;
  }

  /** Records up to 1,000 orders (`POST /v1/orders/batch`), one result per item. */
  async recordMany(
    actor: TenantActor,
    items: unknown[],
    idempotencyKey?: string,
    options: { nulFree?: boolean } = {},
  ) {
    const stored = await this.#stored(actor, 'orders.batch', items, idempotencyKey, async (tx) => {
      const results = await this.recordIn(tx, actor, items, options);
      const count = (s: string) => results.filter((r) => r.status === s).length;
      return {
        status: 200,
        body: {
          results,
          summary: {
            created: count('created'),
            updated: count('updated'),
            unchanged: count('unchanged'),
            errors: count('error'),
          },
        },
      };
    });
    const { summary } = stored.body as { summary: { created: number; updated: number } };
    if (!stored.replayed && summary.created + summary.updated > 0) await this.written(actor.tenantId);
    return stored;
  }

  /**
   * A write in its transaction, run again if it loses a deadlock; with an Idempotency-Key, a retry of
   * the request replays the first response.
   */
  #stored<T>(
    actor: TenantActor,
    operation: string,
    body: unknown,
    idempotencyKey: string | undefined,
    work: (tx: Tx) => Promise<{ status: number; body: T }>,
  ): Promise<StoredResponse<T>> {
    return keyedWrite(this.#db, actor.tenantId, { key: idempotencyKey, operation, body }, work, RETRY);
  }

  /** The batch, in the caller's transaction (imports use it chunk by chunk). */
  async recordIn(
    tx: Tx,
    actor: TenantActor,
    items: unknown[],
    { nulFree = false }: { nulFree?: boolean } = {},
  ): Promise<OrderBatchResult[]> {
    const parsed = items.map((item, index) => {
      // text PostgreSQL cannot store is the item's problem (unless the caller knows there is none)
      const unstorable = nulFree ? undefined : unstorableIn(item, `items[${index}]`);
      if (unstorable) return unstorable;
      const r = RecordOrderBody.safeParse(item);
      return r.success
        ? r.data
        : new AppError('validation_failed', undefined, {
            errors: zodFieldErrors(r.error.issues, `items[${index}]`),
          });
    });
    const valid = parsed.filter((p): p is RecordOrderInput => !isAppError(p));
    // an item refused by its schema still names its order and version when those parts are readable:
    // when it is the newest, an older version in the batch is not written in its place
    const refused = parsed.flatMap((p, index) => (isAppError(p) ? (versionIn(items[index]) ?? []) : []));
    const written = await this.#write(tx, actor, valid, refused);
    let next = 0;
    return parsed.map((p, index) => {
      const r = isAppError(p) ? { status: 'error' as const, appError: p } : written[next++]!;
      if (r.status === 'error') {
        const e = r.appError!;
        // schema errors already carry items[i]; rule errors are relative to the item
        const error = isAppError(p)
          ? e
          : new AppError(e.code, e.message, {
              errors: e.errors?.map((f) => ({ ...f, path: `items[${index}].${f.path}` })),
              extra: e.extra,
            });
        return { index, status: 'error', error: problemFrom(error) };
      }
      return {
        index,
        status: r.status,
        id: r.id,
        customerId: r.customerId,
        ...(r.reason ? { reason: r.reason } : {}),
      };
    });
  }

  /**
   * The set-based write: checks, customers resolved in bulk and locked (so concurrent writers never
   * lose an update), one statement for the orders, their events and the added orders' aggregates,
   * then the customers whose orders changed otherwise recomputed from their orders.
   */
  async #write(tx: Tx, actor: TenantActor, inputs: RecordOrderInput[], refused: Version[] = []) {
    type Outcome = {
      status: 'created' | 'updated' | 'unchanged' | 'error';
      id?: string;
      customerId?: string;
      reason?: string;
      appError?: AppError;
    };
    const outcomes: Outcome[] = inputs.map(() => ({ status: 'error' }));
    const currency = await this.#tenants.orderCurrencyIn(tx, actor.tenantId);
    const intermediaryIds = [...new Set(inputs.flatMap((o) => (o.intermediaryId ? [o.intermediaryId] : [])))];
    const knownIntermediaries = new Set(
      (await this.#intermediaries.findByIds(tx, intermediaryIds)).map((i) => i.id),
    );

    const pending: number[] = [];
    inputs.forEach((o, i) => {
      const broken =
        checkRules(o, currency) ??
        (o.intermediaryId && !knownIntermediaries.has(o.intermediaryId)
          ? new AppError(
              'invalid_reference',
              `intermediaryId: no intermediary ${o.intermediaryId} in this tenant`,
              { errors: [{ path: 'intermediaryId', message: 'no such intermediary in this tenant' }] },
            )
          : undefined);
      if (broken) outcomes[i] = { status: 'error', appError: broken };
      else pending.push(i);
    });

    // The newest version of each (source, externalId) in the batch is the one considered (as across
    // requests, of equal versions the first stays); the others are superseded, also when the newest
    // breaks a rule (an older version is then not written in its place). Then the versions not newer
    // than the recorded order change nothing. Both are settled before any buyer is resolved, so an
    // order that changes nothing never creates its customer.
    const versionOf = (i: number) => versionAt(inputs[i]!);
    const keyOf = (i: number) => orderKey(inputs[i]!.source, inputs[i]!.externalId);
    const writable = new Set(pending);
    const newest = new Map<string, number>();
    const superseded: number[] = [];
    for (const i of inputs.keys()) {
      const previous = newest.get(keyOf(i));
      if (previous !== undefined && versionOf(previous) >= versionOf(i)) {
        superseded.push(i);
        continue;
      }
      if (previous !== undefined) superseded.push(previous);
      newest.set(keyOf(i), i);
    }
    // a newer version refused by its schema: every valid one of its order is superseded, and refused
    const refusedNewer = new Set<string>();
    for (const v of refused) {
      const key = orderKey(v.source, v.externalId);
      const i = newest.get(key);
      if (i === undefined || versionOf(i) >= v.version) continue;
      newest.delete(key);
      superseded.push(i);
      refusedNewer.add(key);
    }
    const recorded = await repo.findByKeys(
      tx,
      [...newest.values()].map((i) => inputs[i]!),
    );
    const recordedByKey = new Map(recorded.map((e) => [orderKey(e.source, e.external_id), e]));
    const fresh = [...newest.values()].filter((i) => {
      if (!writable.has(i)) return false;
      const before = recordedByKey.get(keyOf(i));
      if (!before || new Date(before.source_updated_at).getTime() < versionOf(i)) return true;
      outcomes[i] = { status: 'unchanged', id: before.id, customerId: before.customer_id, reason: UNCHANGED };
      return false;
    });

    const buyers = await this.#customers.resolveBuyers(
      tx,
      actor,
      fresh.map((i) => {
        const o = inputs[i]!;
        return o.customerId ? { id: o.customerId } : { identity: o.customer!, path: 'customer' };
      }),
    );
    const latest: { index: number; write: OrderWrite }[] = [];
    fresh.forEach((i, k) => {
      const buyer = buyers[k]!;
      if (isAppError(buyer)) outcomes[i] = { status: 'error', appError: buyer };
      else latest.push({ index: i, write: toWrite(inputs[i]!, buyer, currency) });
    });

    // customers given by id were locked while resolving them; lock the others every write touches
    const locked = new Set(
      fresh.flatMap((i) => (inputs[i]!.customerId ? [inputs[i]!.customerId!.toLowerCase()] : [])),
    );
    // customers whose orders are only added get their aggregates incremented in the write itself; any
    // other change (an update, an order moving between customers) recomputes the customer from its orders
    const recompute = new Set<string>();
    const changes: AggregateChange[] = [];
    // An update applies only to the version of the row looked up (whose customers are locked and will
    // be recomputed). A row another writer recorded or changed since the look-up is not touched: it is
    // looked up again and written in another round, so its previous customer is never left counting it.
    let todo = latest;
    for (let round = 1; todo.length; round++) {
      if (round > WRITE_ROUNDS) throw conflict();
      // the first round's look-up is the one made above
      const existing =
        round === 1
          ? todo.flatMap((w) => recordedByKey.get(keyOf(w.index)) ?? [])
          : await repo.findByKeys(
              tx,
              todo.map((w) => w.write),
            );
      const existingByKey = new Map(existing.map((e) => [orderKey(e.source, e.external_id), e]));
      const touched = new Set([
        ...todo.map((w) => w.write.customerId),
        ...existing.map((e) => e.customer_id),
      ]);
      const toLock = [...touched].filter((id) => !locked.has(id));
      await this.#customers.lockCustomers(tx, toLock);
      for (const id of toLock) locked.add(id);
      // each write with the row it found, and whether it is newer than that row (or there is none)
      const looked = todo.map((item) => {
        const before = existingByKey.get(orderKey(item.write.source, item.write.externalId));
        const newer = !before || new Date(before.source_updated_at) < item.write.sourceUpdatedAt;
        if (before && newer) recompute.add(before.customer_id).add(item.write.customerId);
        return { ...item, before, newer };
      });
      const written = await repo.write(
        tx,
        looked.map(({ write, before }) => ({ write, knownVersion: before?.version ?? null })),
        {
          recompute: [...recompute],
          emit: (type, source, options) => this.#events.insertFrom(type, source, options),
        },
      );
      changes.push(...written.added);
      const upserted = new Map(written.orders.map((u) => [orderKey(u.source, u.externalId), u]));
      const again: typeof todo = [];
      for (const { index, write, before, newer } of looked) {
        const done = upserted.get(orderKey(write.source, write.externalId));
        if (done) {
          outcomes[index] = {
            status: done.inserted ? 'created' : 'updated',
            id: done.id,
            customerId: done.customerId,
          };
          if (!done.inserted) recompute.add(done.customerId);
          if (before) recompute.add(before.customer_id);
        } else if (before && !newer) {
          outcomes[index] = {
            status: 'unchanged',
            id: before.id,
            customerId: before.customer_id,
            reason: UNCHANGED,
          };
        } else {
          again.push({ index, write });
        }
      }
      todo = again;
    }
    // a superseded version names the order and the customer it went to (or stays with); when the
    // newest version was refused, the order as recorded, if it is
    for (const i of superseded) {
      const winner: Outcome = refusedNewer.has(keyOf(i))
        ? { status: 'error' }
        : outcomes[newest.get(keyOf(i))!]!;
      const before = recordedByKey.get(keyOf(i));
      outcomes[i] =
        winner.status === 'error'
          ? {
              status: 'unchanged',
              reason: 'the newest version of this order in the same batch was refused',
              id: before?.id,
              customerId: before?.customer_id,
            }
          : {
              status: 'unchanged',
              reason: 'a newer version of this order is in the same batch',
              id: winner.id,
              customerId: winner.customerId,
            };
    }
    changes.push(...(await repo.recomputeAggregates(tx, [...recompute])));
    // per customer: the count before the first change, the state after the last
    const merged = new Map<string, AggregateChange>();
    for (const c of changes) {
      const first = merged.get(c.customerId);
      merged.set(c.customerId, first ? { ...c, ordersBefore: first.ordersBefore } : c);
    }
    await this.#customers.recordFirstOrders(
      tx,
      actor.tenantId,
      [...merged.values()]
        .filter((c) => c.ordersBefore === 0 && c.orders > 0)
        .map((c) => ({ customerId: c.customerId, firstOrderAt: c.firstOrderAt! })),
    );
    return outcomes;
  }

  get(actor: TenantActor, id: string): Promise<Order> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const [row] = await repo.findByIds(tx, [id]);
        if (!row) throw notFound(id);
        return toOrder(row);
      },
      { readOnly: true },
    );
  }

  list(actor: TenantActor, filter: ListOrdersFilter, limit: number, cursor?: string): Promise<Page<Order>> {
    const scope = { tenantId: actor.tenantId, list: 'orders', filters: filter };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        if (filter.customerId) await this.#customers.assertExists(tx, filter.customerId);
        return this.#cursors.page(
          scope,
          await repo.list(tx, filter, after, limit),
          limit,
          (r) => r.id,
          toOrder,
        );
      },
      { readOnly: true },
    );
  }

  /** The purchase aggregates of these customers (REST and the GraphQL loader). */
  purchases(actor: TenantActor, customerIds: readonly string[], check = false): Promise<Purchases[]> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        if (check) for (const id of customerIds) await this.#customers.assertExists(tx, id);
        const { currency } = await this.#tenants.settingsIn(tx, actor.tenantId);
        const rows = new Map((await repo.aggregatesOf(tx, customerIds)).map((r) => [r.customerId, r]));
        return customerIds.map((id) => toPurchases(id, rows.get(id), currency));
      },
      { readOnly: true },
    );
  }

  /** For other modules: the customer an order belongs to (undefined when it does not exist). */
  /**
   * The order's customer, for a write that depends on it (feedback about the order): the order is
   * share-locked, so an update moving it to another customer waits for that write to commit.
   */
  customerOf(tx: Tx, id: string): Promise<string | undefined> {
    return repo.customerOfLocked(tx, id);
  }

  /** For the customer timeline: a page of orders, newest first. */
  timelinePage(tx: Tx, customerId: string, before: { at: Date; id: string } | undefined, limit: number) {
    return repo.timeline(tx, customerId, before, limit);
  }

  /** The latest `first` orders of each customer, newest first (GraphQL loader). */
  latestOrders(actor: TenantActor, customerIds: readonly string[], first: number, before?: string) {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const rows = await repo.latestPerCustomer(tx, customerIds, first, before);
        const byCustomer = new Map<string, OrderRow[]>();
        for (const row of rows.sort((a, b) => (a.id < b.id ? 1 : -1))) {
          byCustomer.set(row.customerId, [...(byCustomer.get(row.customerId) ?? []), row]);
        }
        return customerIds.map((id) => {
          const list = byCustomer.get(id) ?? [];
          return { orders: list.slice(0, first).map(toOrder), hasMore: list.length > first };
        });
      },
      { readOnly: true },
    );
  }
}
