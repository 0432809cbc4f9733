import type { Actor, TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError, isAppError, validationError } from '../../platform/errors.ts';
import { unstorableIn } from '../../platform/http.ts';
import { keyedWrite, type StoredResponse } from '../../platform/idempotency.ts';
import { newId } from '../../platform/ids.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { problemFrom, zodFieldErrors } from '../../platform/problem.ts';
import { ifMatchSatisfied } from '../../platform/schemas.ts';
import { AttributesService } from '../attributes/attributes.service.ts';
import type { EventsService } from '../events/events.service.ts';
import type { IntermediariesService } from '../intermediaries/intermediaries.service.ts';
import {
  canSeePii,
  columnsOf,
  type Defs,
  EVENT_VIEW,
  type Identity,
  type Input,
  identityKeys,
  normalEmail,
  path,
  phoneForms,
  phoneKey,
  type References,
  referenceProblem,
  toCustomer,
} from './customers.fields.ts';
import {
  type CustomerInsert,
  type CustomerRow,
  customersRepository as repo,
} from './customers.repository.ts';
import {
  type BatchResult,
  CreateCustomerBody,
  type CreateCustomerInput,
  type Customer,
  type ListCustomersFilter,
  type UpdateCustomerInput,
} from './customers.schemas.ts';
import type { ConsentMap } from './customers.table.ts';

const notFound = (id: string) => new AppError('customer_not_found', `no customer ${id} in this tenant`);

/** The conflicts of a new customer's unique identities (externalId, email). */
const TAKEN = new Set(['customer_external_id_taken', 'customer_email_taken']);

export class CustomersService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #clock: Clock;
  readonly #attributes: AttributesService;
  readonly #intermediaries: IntermediariesService;
  readonly #events: EventsService;

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    clock: Clock;
    attributes: AttributesService;
    intermediaries: IntermediariesService;
    events: EventsService;
  }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#clock = deps.clock;
    this.#attributes = deps.attributes;
    this.#intermediaries = deps.intermediaries;
    this.#events = deps.events;
  }

  /**
   * Creates a customer; with an Idempotency-Key a retry replays the first response. The replay is
   * the customer as its first caller saw it, so a key is bound to the PII visibility too: a caller
   * without `customers:pii` can never be replayed a body with personal data in it.
   */
  create(
    actor: TenantActor,
    input: CreateCustomerInput,
    idempotencyKey?: string,
  ): Promise<StoredResponse<Customer>> {
    const operation = canSeePii(actor) ? 'customers.create+pii' : 'customers.create';
    return keyedWrite(
      this.#db,
      actor.tenantId,
      { key: idempotencyKey, operation, body: input },
      async (tx) => {
        const row = await this.#insert(tx, actor, input, await this.#attributes.definitionsForWrite(tx));
        return { status: 201, body: toCustomer(row, actor) };
      },
    );
  }

  get(actor: TenantActor, id: string): Promise<Customer> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const row = await repo.findById(tx, id);
        if (!row) throw notFound(id);
        return toCustomer(row, actor);
      },
      { readOnly: true },
    );
  }

  /** For loaders and other modules: customers by id, in the caller's order (missing → null). */
  getMany(actor: TenantActor, ids: readonly string[]): Promise<(Customer | null)[]> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const rows = new Map((await repo.findByIds(tx, ids)).map((r) => [r.id, r]));
        return ids.map((id) => {
          const row = rows.get(id);
          return row ? toCustomer(row, actor) : null;
        });
      },
      { readOnly: true },
    );
  }

  update(actor: TenantActor, id: string, input: UpdateCustomerInput, ifMatch?: string): Promise<Customer> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      const current = await repo.findById(tx, id, true);
      if (!current) throw notFound(id);
      if (!ifMatchSatisfied(ifMatch, current.version)) {
        throw new AppError(
          'precondition_failed',
          `the customer is at version ${current.version} (ETag "v${current.version}")`,
        );
      }
      const row = await this.#update(
        tx,
        actor,
        current,
        input,
        await this.#attributes.definitionsForWrite(tx),
      );
      return toCustomer(row, actor);
    });
  }

  list(
    actor: TenantActor,
    filter: ListCustomersFilter,
    limit: number,
    cursor?: string,
  ): Promise<Page<Customer>> {
    if (filter.email && !canSeePii(actor)) {
      throw new AppError('insufficient_scope', 'filtering by email requires the scope customers:pii');
    }
    const scope = { tenantId: actor.tenantId, list: 'customers', filters: filter };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const rows = await repo.list(tx, filter, after, limit, canSeePii(actor));
        return this.#cursors.page(
          scope,
          rows,
          limit,
          (r) => r.id,
          (r) => toCustomer(r, actor),
        );
      },
      { readOnly: true },
    );
  }

  /**
   * Creates or updates up to 1,000 customers, matched by externalId, else by email. Each item is
   * validated and written on its own (a savepoint each), so a bad item never rejects the others.
   */
  batchUpsert(
    actor: TenantActor,
    items: unknown[],
    options: { nulFree?: boolean } = {},
  ): Promise<BatchResult[]> {
    // two batches crossing each other's customers can deadlock: the loser runs again, as order writes do
    return this.#db.withTenant(actor.tenantId, (tx) => this.batchUpsertIn(tx, actor, items, options), {
      retryConflicts: true,
    });
  }

  /** The batch upsert in the caller's transaction (imports use it chunk by chunk). */
  async batchUpsertIn(
    tx: Tx,
    actor: TenantActor,
    items: unknown[],
    { nulFree = false }: { nulFree?: boolean } = {},
  ): Promise<BatchResult[]> {
    {
      const results: BatchResult[] = new Array(items.length);
      const valid: { index: number; input: CreateCustomerInput }[] = [];
      items.forEach((item, index) => {
        // text PostgreSQL cannot store is the item's problem (unless the caller knows there is none)
        const unstorable = nulFree ? undefined : unstorableIn(item, `items[${index}]`);
        if (unstorable) {
          results[index] = { index, status: 'error', error: problemFrom(unstorable) };
          return;
        }
        const parsed = CreateCustomerBody.safeParse(item);
        if (parsed.success) valid.push({ index, input: parsed.data });
        else {
          const error = validationError(zodFieldErrors(parsed.error.issues, `items[${index}]`));
          results[index] = { index, status: 'error', error: problemFrom(error) };
        }
      });
      const defs = await this.#attributes.definitionsForWrite(tx);
      const existing = await repo.findByIdentities(
        tx,
        {
          externalIds: valid.flatMap((v) => (v.input.externalId ? [v.input.externalId] : [])),
          emails: valid.flatMap((v) => (v.input.email ? [normalEmail(v.input.email)] : [])),
        },
        true,
      );
      const byExternalId = new Map(existing.filter((r) => r.externalId).map((r) => [r.externalId!, r]));
      const byEmail = new Map(existing.filter((r) => r.email).map((r) => [r.email!, r]));
      for (const { index, input } of valid) {
        const email = input.email?.trim().toLowerCase();
        const match =
          (input.externalId ? byExternalId.get(input.externalId) : undefined) ??
          (email && !(input.externalId && byExternalId.has(input.externalId))
            ? byEmail.get(email)
            : undefined);
        if (match && input.externalId && match.externalId && match.externalId !== input.externalId) {
          // matched by email, but the customer already has another externalId: never overwrite it
          const error = new AppError(
            'customer_email_taken',
            'another customer, with another externalId, has this email',
            {
              extra: { existingId: match.id },
            },
          );
          results[index] = { index, status: 'error', error: problemFrom(error) };
          continue;
        }
        const prefix = `items[${index}]`;
        try {
          let updated = match;
          let row: CustomerRow;
          try {
            row = match
              ? await this.#update(tx, actor, match, input, defs, prefix)
              : await this.#insert(tx, actor, input, defs, prefix);
          } catch (error) {
            // created meanwhile by a concurrent request (it committed while this insert waited on
            // it): the item updates that customer, as it would have had it come second
            const raced =
              !match && isAppError(error) && TAKEN.has(error.code)
                ? (
                    await repo.findByIdentities(
                      tx,
                      {
                        externalIds: input.externalId ? [input.externalId] : [],
                        emails: email ? [email] : [],
                      },
                      true,
                    )
                  )[0]
                : undefined;
            if (!raced || (input.externalId && raced.externalId && raced.externalId !== input.externalId))
              throw error;
            updated = raced;
            row = await this.#update(tx, actor, raced, input, defs, prefix);
          }
          // later items in the same batch see this one
          if (updated?.externalId) byExternalId.delete(updated.externalId);
          if (updated?.email) byEmail.delete(updated.email);
          if (row.externalId) byExternalId.set(row.externalId, row);
          if (row.email) byEmail.set(row.email, row);
          results[index] = { index, status: updated ? 'updated' : 'created', id: row.id };
        } catch (error) {
          if (!isAppError(error)) throw error;
          results[index] = { index, status: 'error', error: problemFrom(error) };
        }
      }
      return results;
    }
  }

  /**
   * For the orders module: the customer of each incoming order, by id (checked) or by identity —
   * matched by externalId, else email, else phone, else created (profile fields are used only on
   * creation). Orders of one new customer in one batch create one customer.
   */
  async resolveBuyers(
    tx: Tx,
    actor: TenantActor,
    buyers: ({ id: string } | { identity: CreateCustomerInput; path: string })[],
  ): Promise<(string | AppError)[]> {
    const identities = buyers.flatMap((b) => ('identity' in b ? [b.identity] : []));
    // a phone has no unique index (two customers may share one): two writers creating a customer for
    // the same new phone are serialized here, so the second finds the first's — whatever else the
    // identities carry, since one with an email or an externalId found by neither falls back to its
    // phone (first of this transaction's locks, so that no writer holds a customer while it waits)
    await repo.lockPhones(
      tx,
      actor.tenantId,
      identities.flatMap((i) => (i.phone ? [phoneKey(i.phone)] : [])),
    );
    // customers named by id are locked now, as lockCustomers would
    const known = await repo.lockExisting(
      tx,
      buyers.flatMap((b) => ('id' in b ? [b.id] : [])),
    );
    const byKey = new Map<string, string>();
    const remember = (row: CustomerRow) => {
      for (const key of identityKeys(row)) if (!byKey.has(key)) byKey.set(key, row.id);
    };
    const lookup = async (list: Identity[]) =>
      (
        await repo.findByIdentities(tx, {
          externalIds: list.flatMap((i) => (i.externalId ? [i.externalId] : [])),
          emails: list.flatMap((i) => (i.email ? [normalEmail(i.email)] : [])),
          phones: list.flatMap((i) => (i.phone ? [i.phone] : [])),
        })
      ).forEach(remember);
    // priority: externalId, then email, then phone
    const match = (i: Identity) =>
      identityKeys(i)
        .map((k) => byKey.get(k))
        .find(Boolean);
    await lookup(identities);

    const defs = identities.length ? await this.#attributes.definitionsForWrite(tx) : new Map();
    // new customers' references are checked like a create's, so a bad one fails its own item only
    const refs = await this.#loadReferences(tx, identities);
    const pending = new Map<string, CustomerInsert>();
    const results = buyers.map((b): string | AppError | CustomerInsert => {
      if ('id' in b) {
        const id = b.id.toLowerCase();
        return known.has(id)
          ? id
          : new AppError('invalid_reference', `customerId: no customer ${b.id} in this tenant`, {
              errors: [{ path: 'customerId', message: 'no such customer in this tenant' }],
            });
      }
      const found = match(b.identity);
      if (found) return found;
      const twin = identityKeys(b.identity)
        .map((k) => pending.get(k))
        .find(Boolean);
      if (twin) return twin;
      try {
        const problem = referenceProblem(b.identity, b.path, refs);
        if (problem) return problem;
        const cols = columnsOf(b.identity, undefined, this.#clock.now());
        if (cols.attributes) AttributesService.check(defs, cols.attributes, `${b.path}.attributes`);
        const row = { ...cols, tenantId: actor.tenantId, id: newId() } as CustomerInsert;
        for (const key of identityKeys(b.identity)) pending.set(key, row);
        return row;
      } catch (error) {
        if (isAppError(error)) return error;
        throw error;
      }
    });
    const toCreate = [...new Set(pending.values())];
    const inserted = await repo.insertMany(tx, toCreate);
    const created = new Set(inserted.map((r) => r.id));
    // the consent a new customer was created with: the first identity that made its row
    const consentOf = new Map<string, Input['consent']>();
    results.forEach((r, i) => {
      const b = buyers[i]!;
      if (typeof r === 'object' && !isAppError(r) && 'identity' in b && !consentOf.has(r.id!)) {
        consentOf.set(r.id!, b.identity.consent);
      }
    });
    await this.#recordConsent(
      tx,
      actor,
      inserted.map((r) => ({ customerId: r.id, input: consentOf.get(r.id), stored: r.consent })),
    );
    // a buyer created by an order is a created customer like any other
    await this.#events.emit(
      tx,
      actor.tenantId,
      inserted.map((row) => ({ type: 'customer.created' as const, data: toCustomer(row, EVENT_VIEW) })),
    );
    const lost = toCreate.filter((r) => !created.has(r.id!));
    // created meanwhile by a concurrent request: use theirs
    if (lost.length) await lookup(lost);
    return results.map((r) => {
      if (typeof r === 'string' || isAppError(r)) return r;
      if (created.has(r.id!)) return r.id!;
      return match(r) ?? new AppError('invalid_reference', 'the customer could not be matched nor created');
    });
  }

  /** For the intermediaries module: how many customers have this employee as account manager. */
  managedBy(tx: Tx, intermediaryId: string): Promise<number> {
    return repo.managedBy(tx, intermediaryId);
  }

  /** For other modules: customers by id in the caller's transaction, in their public shape for `actor`. */
  async viewsIn(tx: Tx, actor: Actor, ids: readonly string[]): Promise<Map<string, Customer>> {
    if (!ids.length) return new Map();
    return new Map((await repo.findByIds(tx, ids)).map((r) => [r.id, toCustomer(r, actor)]));
  }

  /**
   * For other modules writing about a customer: 422 invalid_reference unless it exists. An erased
   * customer does not (its row is hidden from every read, but a foreign key still finds it). The
   * row is share-locked: an erasure in flight is waited for (then the customer is gone), and one
   * that starts later waits for this write, whose rows it then erases.
   */
  async requireReference(tx: Tx, id: string, path = 'customerId'): Promise<void> {
    if (!(await this.isReferable(tx, id)))
      throw new AppError('invalid_reference', `${path}: no customer ${id} in this tenant`, {
        errors: [{ path, message: 'no such customer in this tenant' }],
      });
  }

  /** Whether the customer can still be written about (not erased), share-locked until the transaction ends. */
  isReferable(tx: Tx, id: string): Promise<boolean> {
    return repo.lockForReference(tx, id);
  }

  async assertExists(tx: Tx, id: string): Promise<void> {
    if (!(await repo.findById(tx, id))) throw notFound(id);
  }

  /** For the orders module: serializes writers of the same customers until the transaction ends. */
  async lockCustomers(tx: Tx, ids: string[]): Promise<void> {
    await repo.lockExisting(tx, ids);
  }

  /**
   * For erasure: the customer locked against every other writer, those that only write about them
   * (`holdAgainstErasure`) included, until the erasure commits.
   */
  async lockForErasure(tx: Tx, id: string): Promise<void> {
    await repo.lockExisting(tx, [id], 'UPDATE');
  }

  /**
   * For writers of rows about customers that hold personal data (a campaign's rendered messages):
   * the customers not being erased, held so until the transaction ends, so an erasure waits for the
   * write and then scrubs it, or the write waits for the erasure and finds them gone. Orders and
   * profile updates are not held up (a key-share lock).
   */
  holdAgainstErasure(tx: Tx, ids: readonly string[]): Promise<Set<string>> {
    return repo.lockExisting(tx, ids, 'KEY SHARE');
  }

  /** For the orders module: a first order moves a customer from `potential` to `active`, recorded. */
  async recordFirstOrders(tx: Tx, tenantId: string, buyers: { customerId: string; firstOrderAt: Date }[]) {
    const moved = await repo.promoteFirstBuyers(tx, buyers);
    await this.#events.emit(
      tx,
      tenantId,
      moved.map((m) => ({
        type: 'customer.status_changed' as const,
        occurredAt: m.changedAt,
        data: { ...m, changedAt: m.changedAt.toISOString() },
      })),
    );
  }

  /** For the timeline: a page of status and phase changes, newest first. */
  statusTimelinePage(
    tx: Tx,
    customerId: string,
    before: { at: Date; id: string } | undefined,
    limit: number,
  ) {
    return repo.statusTimeline(tx, customerId, before, limit);
  }

  /** Every change of status or phase, oldest first (`GET /v1/customers/:id/status-history`). */
  statusHistory(actor: TenantActor, id: string) {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        if (!(await repo.findById(tx, id))) throw notFound(id);
        return (await repo.statusHistory(tx, id)).map((h) => ({
          fromStatus: h.fromStatus,
          toStatus: h.toStatus,
          fromPhase: h.fromPhase,
          toPhase: h.toPhase,
          reason: h.reason,
          changedAt: h.changedAt.toISOString(),
        }));
      },
      { readOnly: true },
    );
  }

  async #insert(
    tx: Tx,
    actor: TenantActor,
    input: CreateCustomerInput,
    defs: Defs,
    prefix = '',
  ): Promise<CustomerRow> {
    const now = this.#clock.now();
    const cols = columnsOf(input, undefined, now);
    if (cols.attributes) AttributesService.check(defs, cols.attributes, path(prefix, 'attributes'));
    await this.#checkReferences(tx, input, prefix);
    const row = await repo.insert(tx, { ...cols, tenantId: actor.tenantId, id: newId() } as CustomerInsert);
    await this.#recordConsent(tx, actor, [{ customerId: row.id, input: input.consent, stored: row.consent }]);
    await this.#events.emit(tx, actor.tenantId, [
      { type: 'customer.created', data: toCustomer(row, EVENT_VIEW) },
    ]);
    return row;
  }

  async #update(
    tx: Tx,
    actor: TenantActor,
    current: CustomerRow,
    input: UpdateCustomerInput,
    defs: Defs,
    prefix = '',
  ): Promise<CustomerRow> {
    const at = this.#clock.now();
    const cols = columnsOf(input, current, at);
    if (input.attributes) AttributesService.check(defs, input.attributes, path(prefix, 'attributes'));
    if (input.referredBy?.kind === 'customer' && input.referredBy.id === current.id) {
      const where = path(prefix, 'referredBy.id');
      throw new AppError('invalid_reference', `${where}: a customer cannot refer themselves`, {
        errors: [{ path: where, message: 'is the customer itself' }],
      });
    }
    await this.#checkReferences(tx, input, prefix);
    const row = await repo.update(tx, current.id, cols);
    await this.#recordConsent(tx, actor, [
      { customerId: row.id, input: input.consent, stored: row.consent, before: current.consent, at },
    ]);
    await this.#events.emit(tx, row.tenantId, [
      { type: 'customer.updated', data: toCustomer(row, EVENT_VIEW) },
    ]);
    return row;
  }

  /**
   * Each consent sent in a write becomes a history entry: channel, value, time, how, and by whom —
   * except one that repeats, time and all, what the customer already had (a retried write).
   */
  async #recordConsent(
    tx: Tx,
    actor: TenantActor,
    writes: {
      customerId: string;
      input: Input['consent'] | undefined;
      stored: ConsentMap;
      /** For an update: the consents before it, and the request's time (a consent without its own). */
      before?: ConsentMap;
      at?: Date;
    }[],
  ): Promise<void> {
    await repo.insertConsentChanges(
      tx,
      writes.flatMap(({ customerId, input, stored, before, at }) =>
        Object.entries(input ?? {}).flatMap(([channel, given]) => {
          const now = stored[channel as keyof ConsentMap];
          const had = before?.[channel as keyof ConsentMap];
          const repeated =
            given?.at !== undefined &&
            had !== undefined &&
            had.granted === given.granted &&
            Date.parse(had.at) === Date.parse(given.at);
          return given && now && !repeated
            ? [
                {
                  tenantId: actor.tenantId,
                  id: newId(),
                  customerId,
                  channel: channel as keyof ConsentMap,
                  // what was given (a late one stays in the history without becoming current);
                  // without its own time it was dated by this request, as the stored state is
                  granted: given.granted,
                  at: new Date(given.at ?? at ?? now.at),
                  source: given.source ?? null,
                  recordedBy: actor.sub,
                },
              ]
            : [];
        }),
      ),
    );
  }

  /** The history of the customer's consents, oldest first (`GET /v1/customers/:id/consent-history`). */
  consentHistory(actor: TenantActor, id: string) {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        if (!(await repo.findById(tx, id))) throw notFound(id);
        return (await repo.consentHistory(tx, id)).map((h) => ({
          channel: h.channel,
          granted: h.granted,
          at: h.at.toISOString(),
          source: h.source,
          recordedBy: h.recordedBy,
          recordedAt: h.recordedAt.toISOString(),
        }));
      },
      { readOnly: true },
    );
  }

  /** accountManagerId must be an employee of this tenant; referredBy a customer or intermediary of it. */
  async #checkReferences(tx: Tx, input: Input, prefix: string): Promise<void> {
    const refs = await this.#loadReferences(tx, [input]);
    const problem = referenceProblem(input, prefix, refs);
    if (problem) throw problem;
  }

  /** The intermediaries and customers the inputs point at, loaded in two queries. */
  async #loadReferences(tx: Tx, inputs: Input[]): Promise<References> {
    const intermediaryIds = inputs.flatMap((i) => [
      ...(i.accountManagerId ? [i.accountManagerId] : []),
      ...(i.referredBy?.kind === 'intermediary' ? [i.referredBy.id] : []),
    ]);
    const customerIds = inputs.flatMap((i) => (i.referredBy?.kind === 'customer' ? [i.referredBy.id] : []));
    return {
      intermediaries: new Map(
        // shared until commit: an account manager cannot stop being an employee meanwhile
        (await this.#intermediaries.findByIds(tx, [...new Set(intermediaryIds)], 'share')).map((i) => [
          i.id,
          i.kind,
        ]),
      ),
      customers: new Set((await repo.findByIds(tx, [...new Set(customerIds)])).map((c) => c.id)),
    };
  }

  /** For other modules: withdraws one consent (an unsubscribe), recorded in the consent history. */
  async withdrawConsentIn(
    tx: Tx,
    actor: TenantActor,
    id: string,
    channel: keyof ConsentMap,
    at: Date,
    source: string,
  ): Promise<void> {
    const current = await repo.findById(tx, id, true);
    if (!current) return;
    if (current.consent[channel]?.granted === false) return;
    const input = {
      consent: { [channel]: { granted: false, at: at.toISOString(), source } },
    } as UpdateCustomerInput;
    await this.#update(tx, actor, current, input, await this.#attributes.definitionsForWrite(tx));
  }

  /** Erasure, in the caller's transaction: false when there is no such (visible) customer. */
  erase(tx: Tx, id: string, at: Date): Promise<boolean> {
    return repo.erase(tx, id, at);
  }

  /**
   * The personal values an erasure must hunt for in free text elsewhere (other events, stored
   * responses, import errors): the email and the phone in each of the forms it may be written in,
   * distinctive enough to match as text — never short values such as an external id (or a national
   * number under six digits), which would match unrelated rows.
   */
  async contactValuesOf(tx: Tx, id: string): Promise<string[] | undefined> {
    const [row] = await repo.findByIds(tx, [id]);
    if (!row) return undefined;
    // an email is distinctive at any length (it is matched as a whole value); the floor is for the
    // phone's national forms
    const phones = (row.phone ? phoneForms(row.phone) : []).filter(
      (v) => v.replace(/[^0-9]/g, '').length >= 6,
    );
    return [...(row.email ? [row.email] : []), ...phones];
  }
}
