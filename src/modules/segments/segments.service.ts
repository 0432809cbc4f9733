import { eq, type SQL } from 'drizzle-orm';
import type { Actor, TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError, validationError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { ifMatchSatisfied } from '../../platform/schemas.ts';
import type { AttributeShape } from '../attributes/attributes.schemas.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { EventsService } from '../events/events.service.ts';
import type { JobRunsService } from '../jobs/jobs.service.ts';
import { compile, selectIds } from './segments.compiler.ts';
import { personalFieldsIn, withoutPersonalValues } from './segments.fields.ts';
import { segmentJsonSchema } from './segments.jsonschema.ts';
import { validate } from './segments.language.ts';
import { type Evaluation, type Membership, REFRESH_TASK } from './segments.membership.ts';
import { type Emit, segmentsRepository as repo, type SegmentRow } from './segments.repository.ts';
import type {
  CreateSegmentInput,
  CustomerSegment,
  HistoryEntry,
  Member,
  Preview,
  Segment,
  UpdateSegmentInput,
} from './segments.schemas.ts';
import { segmentHistory } from './segments.table.ts';

export function toSegment(row: SegmentRow): Segment {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    kind: row.kind,
    definition: row.definition,
    dependsOn: row.dependsOn,
    refreshEveryMinutes: row.refreshEveryMinutes,
    memberCount: row.memberCount,
    refreshedAt: row.refreshedAt?.toISOString() ?? null,
    lastError: row.lastError,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const toEntry = (row: typeof segmentHistory.$inferSelect): HistoryEntry => ({
  id: row.id,
  segmentId: row.segmentId,
  customerId: row.customerId,
  change: row.change,
  reason: row.reason,
  at: row.at.toISOString(),
});

const notFound = (id: string) => new AppError('segment_not_found', `no segment ${id} in this tenant`);

/** A partner token (one with a `segments` claim) sees only its segments, and only consenting members. */
const isPartner = (actor: Actor) => actor.segments !== null;
const mayRead = (actor: Actor, id: string) => !isPartner(actor) || actor.segments!.includes(id);
/**
 * Partners read their segments, whatever their scopes: definitions run over the whole customer base
 * (`define`), and they change no segment (`write`: names, members, refreshes, deletion).
 */
function refusePartner(actor: Actor, what: 'define' | 'write' = 'define'): void {
  if (isPartner(actor))
    throw new AppError(
      'insufficient_scope',
      what === 'define'
        ? 'a partner token (one with a segments claim) cannot define or preview segments'
        : 'a partner token (one with a segments claim) can only read its segments',
    );
}

/** Who else refers to a segment (campaigns register theirs): it cannot be deleted while they do. */
export type SegmentUsers = (
  tx: Tx,
  segmentId: string,
) => Promise<{ id: string; name: string; kind: string }[]>;

export type ExportFormat = 'csv' | 'ndjson';
const EXPORT_PAGE = 2000;

export class SegmentsService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #clock: Clock;
  readonly #customers: CustomersService;
  readonly #events: EventsService;
  readonly #jobRuns: JobRunsService;
  readonly membership: Membership;
  readonly #users: SegmentUsers[] = [];

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    clock: Clock;
    customers: CustomersService;
    events: EventsService;
    jobRuns: JobRunsService;
    membership: Membership;
  }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#clock = deps.clock;
    this.#customers = deps.customers;
    this.#events = deps.events;
    this.#jobRuns = deps.jobRuns;
    this.membership = deps.membership;
  }

  /** Validates a definition against the tenant (fields, attributes, referenced segments, cycles). */
  async #checkDefinition(
    tx: Tx,
    actor: TenantActor,
    evaluation: Evaluation,
    definition: unknown,
    self?: string,
  ) {
    const result = validate(definition, evaluation.attributes);
    if ('errors' in result) throw validationError(result.errors);
    const personal = personalFieldsIn(definition);
    if (personal.length && !actor.scopes.has('customers:pii'))
      throw new AppError(
        'insufficient_scope',
        `conditions on ${personal.join(', ')} need the scope customers:pii (the values are personal data)`,
        { extra: { requiredScopes: ['customers:pii'] } },
      );
    // share-locked: a segment it refers to cannot be deleted until this definition is saved (and
    // then the delete sees it refers to it)
    const referenced = await repo.findByIds(tx, result.segmentIds, 'share');
    const missing = result.segmentIds.filter((id) => !referenced.some((r) => r.id === id));
    if (missing.length)
      throw validationError(
        missing.map((id) => ({ path: 'definition', message: `no segment ${id} in this tenant` })),
      );
    if (self) {
      // a cycle: some segment this one refers to depends, directly or not, on this one
      const seen = new Set<string>();
      let frontier = referenced;
      while (frontier.length) {
        if (frontier.some((r) => r.id === self))
          throw validationError([
            { path: 'definition', message: 'the segments it refers to depend on it (a cycle)' },
          ]);
        const next = frontier.flatMap((r) => r.dependsOn).filter((id) => !seen.has(id));
        for (const id of next) seen.add(id);
        frontier = next.length ? await repo.findByIds(tx, next) : [];
      }
    }
    return result;
  }

  async create(actor: TenantActor, input: CreateSegmentInput): Promise<Segment> {
    refusePartner(actor);
    if (input.kind === 'dynamic' && input.definition === undefined)
      throw validationError([{ path: 'definition', message: 'a dynamic segment needs a definition' }]);
    if (input.kind === 'static' && input.definition !== undefined)
      throw validationError([{ path: 'definition', message: 'a static segment has no definition' }]);
    let first = false;
    const created = await this.#db.withTenant(actor.tenantId, async (tx) => {
      // the membership lock first (its first build needs it): before the segments it refers to
      if (input.definition !== undefined) await repo.lockMembership(tx);
      first = input.kind === 'dynamic' && !(await repo.anyDynamic(tx));
      const evaluation = await this.membership.evaluation(tx, actor.tenantId, {
        forWrite: input.definition !== undefined,
      });
      const checked = input.definition
        ? await this.#checkDefinition(tx, actor, evaluation, input.definition)
        : null;
      let row = await repo.insert(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        name: input.name,
        description: input.description ?? null,
        kind: input.kind,
        definition: input.definition ?? null,
        dependsOn: checked?.segmentIds ?? [],
        refreshEveryMinutes: input.refreshEveryMinutes ?? null,
      });
      // the first build happens here: the response carries the member count
      if (row.kind === 'dynamic') {
        await this.membership.refreshIn(tx, actor.tenantId, row);
        row = (await repo.findById(tx, row.id))!;
      }
      return (await this.#views(tx, actor, [row]))[0]!;
    });
    // until the tenant's first dynamic segment commits, the triggers mark no changed customer (there
    // was nothing to keep up to date): a write committed while it was built is caught by a refresh
    if (first) await this.membership.refreshSoon(actor.tenantId, created.id);
    return created;
  }

  /**
   * For the attributes module: the segments whose definitions a change of the attribute `key` would
   * break (`next`: its definition after the change, null when removed), as "name (id)".
   */
  async brokenBy(tx: Tx, tenantId: string, key: string, next: AttributeShape | null): Promise<string[]> {
    const rows = await repo.referencing(tx, `attributes.${key}`);
    if (!rows.length) return [];
    const attributes = new Map((await this.membership.evaluation(tx, tenantId)).attributes);
    if (next) attributes.set(key, next);
    else attributes.delete(key);
    return rows
      .filter((r) => 'errors' in validate(r.definition, attributes))
      .map((r) => `${r.name} (${r.id})`);
  }

  /** For other modules: reports who refers to a segment, so that it is not deleted under them. */
  onUsedBy(users: SegmentUsers): void {
    this.#users.push(users);
  }

  update(actor: TenantActor, id: string, input: UpdateSegmentInput, ifMatch?: string): Promise<Segment> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      // definitions change one at a time per tenant (two concurrent edits cannot close a cycle); the
      // membership lock comes before the segment's row, in the order a membership pass takes them
      if (input.definition !== undefined) await repo.lockMembership(tx);
      const current = await repo.findById(tx, id, true);
      if (!current || !mayRead(actor, id)) throw notFound(id);
      refusePartner(actor, 'write');
      if (!ifMatchSatisfied(ifMatch, current.version))
        throw new AppError('precondition_failed', `the segment is at version ${current.version}`);
      if (input.definition !== undefined) refusePartner(actor);
      if (input.definition !== undefined && current.kind === 'static')
        throw validationError([{ path: 'definition', message: 'a static segment has no definition' }]);
      const evaluation = await this.membership.evaluation(tx, actor.tenantId, {
        forWrite: input.definition !== undefined,
      });
      const checked =
        input.definition !== undefined
          ? await this.#checkDefinition(tx, actor, evaluation, input.definition, id)
          : null;
      let row = await repo.update(tx, id, {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.refreshEveryMinutes !== undefined
          ? { refreshEveryMinutes: input.refreshEveryMinutes }
          : {}),
        ...(checked ? { definition: input.definition, dependsOn: checked.segmentIds } : {}),
      });
      if (checked) {
        await this.membership.refreshIn(tx, actor.tenantId, row);
        row = (await repo.findById(tx, id))!;
      }
      return (await this.#views(tx, actor, [row]))[0]!;
    });
  }

  remove(actor: TenantActor, id: string): Promise<void> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      // after the definition writes in flight (they hold the membership lock): one that refers to
      // this segment is then seen by the dependents check
      await repo.lockMembership(tx);
      const current = await repo.findById(tx, id, true);
      if (!current || !mayRead(actor, id)) throw notFound(id);
      refusePartner(actor, 'write');
      const dependents = await repo.dependents(tx, id);
      if (dependents.length)
        throw new AppError(
          'segment_in_use',
          `segments ${dependents.map((d) => `"${d.name}"`).join(', ')} refer to this segment`,
          { extra: { segmentIds: dependents.map((d) => d.id) } },
        );
      // a campaign's audience or exclusion that vanished would send to the wrong people
      const users = (await Promise.all(this.#users.map((u) => u(tx, id)))).flat();
      if (users.length)
        throw new AppError(
          'segment_in_use',
          `${users.map((u) => `${u.kind} "${u.name}"`).join(', ')} refer to this segment`,
          { extra: { users } },
        );
      await repo.remove(tx, id);
    });
  }

  #read<T>(actor: TenantActor, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#db.withTenant(actor.tenantId, fn, { readOnly: true });
  }

  async #segment(tx: Tx, actor: Actor, id: string): Promise<SegmentRow> {
    const row = await repo.findById(tx, id);
    if (!row || !mayRead(actor, id)) throw notFound(id);
    return row;
  }

  /**
   * Segments as the actor may see them: a partner sees no definition (it can name personal data)
   * and counts only the members who consent to partner sharing.
   */
  async #views(tx: Tx, actor: Actor, rows: SegmentRow[]): Promise<Segment[]> {
    if (!isPartner(actor))
      return rows.map((r) =>
        actor.scopes.has('customers:pii')
          ? toSegment(r)
          : { ...toSegment(r), definition: withoutPersonalValues(r.definition) as Segment['definition'] },
      );
    const counts = await repo.sharingCounts(
      tx,
      rows.map((r) => r.id),
    );
    return rows.map((r) => ({ ...toSegment(r), definition: null, memberCount: counts.get(r.id) ?? 0 }));
  }

  get(actor: TenantActor, id: string): Promise<Segment> {
    return this.#read(
      actor,
      async (tx) => (await this.#views(tx, actor, [await this.#segment(tx, actor, id)]))[0]!,
    );
  }

  getMany(actor: TenantActor, ids: readonly string[]): Promise<Segment[]> {
    return this.#read(actor, async (tx) =>
      this.#views(
        tx,
        actor,
        (await repo.findByIds(tx, ids)).filter((r) => mayRead(actor, r.id)),
      ),
    );
  }

  list(actor: TenantActor, limit: number, cursor?: string): Promise<Page<Segment>> {
    const scope = { tenantId: actor.tenantId, list: 'segments', filters: {} };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#read(actor, async (tx) => {
      const rows = await repo.list(tx, after, limit, actor.segments);
      const views = new Map((await this.#views(tx, actor, rows)).map((v) => [v.id, v]));
      return this.#cursors.page(
        scope,
        rows,
        limit,
        (r) => r.id,
        (r) => views.get(r.id)!,
      );
    });
  }

  /** The JSON Schema of the language, with this tenant's custom attributes. */
  schema(actor: TenantActor): Promise<Record<string, unknown>> {
    return this.#read(actor, async (tx) =>
      segmentJsonSchema((await this.membership.evaluation(tx, actor.tenantId)).attributes),
    );
  }

  preview(actor: TenantActor, definition: unknown, sampleSize: number): Promise<Preview> {
    refusePartner(actor);
    return this.#read(actor, async (tx) => {
      const evaluation = await this.membership.evaluation(tx, actor.tenantId);
      const { ast } = await this.#checkDefinition(tx, actor, evaluation, definition);
      const target = selectIds(compile(ast, evaluation.ctx));
      const count = await repo.count(tx, target);
      const ids = sampleSize ? await repo.sample(tx, target, sampleSize) : [];
      const views = await this.#customers.viewsIn(tx, actor, ids);
      const preview: Preview = { count, sample: ids.flatMap((id) => views.get(id) ?? []) };
      if (actor.scopes.has('admin')) Object.assign(preview, await repo.explain(tx, target));
      return preview;
    });
  }

  /** A page of members; partners see consenting members only, and each of their reads is recorded. */
  /** Up to `limit + 1` members after a customer id, as the actor may see them (the last shows there is more). */
  async #memberRows(tx: Tx, actor: TenantActor, id: string, after: string | undefined, limit: number) {
    const rows = await repo.members(tx, id, after, limit, isPartner(actor));
    const views = await this.#customers.viewsIn(
      tx,
      actor,
      rows.map((r) => r.customerId),
    );
    return rows.map(
      (r): Member => ({ customer: views.get(r.customerId)!, enteredAt: r.enteredAt.toISOString() }),
    );
  }

  async members(actor: TenantActor, id: string, limit: number, cursor?: string): Promise<Page<Member>> {
    const scope = { tenantId: actor.tenantId, list: `segment-members:${id}`, filters: {} };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    const page = await this.#read(actor, async (tx) => {
      await this.#segment(tx, actor, id);
      const rows = await this.#memberRows(tx, actor, id, after, limit);
      return this.#cursors.page(
        scope,
        rows,
        limit,
        (m) => m.customer.id,
        (m) => m,
      );
    });
    await this.#recordRead(actor, id, 'json', page.data.length);
    return page;
  }

  /** The whole membership, page by page (bounded memory), for CSV and NDJSON exports. */
  async *export(actor: TenantActor, id: string, format: ExportFormat): AsyncGenerator<Member> {
    await this.#read(actor, (tx) => this.#segment(tx, actor, id));
    let after: string | undefined;
    let rows = 0;
    try {
      for (;;) {
        const batch = await this.#read(actor, (tx) => this.#memberRows(tx, actor, id, after, EXPORT_PAGE));
        // the repository fetched one more than the page: keep it for the next round
        const kept = batch.slice(0, EXPORT_PAGE);
        for (const member of kept) {
          rows += 1;
          yield member;
        }
        if (batch.length <= EXPORT_PAGE) return;
        after = kept.at(-1)!.customer.id;
      }
    } finally {
      await this.#recordRead(actor, id, format, rows);
    }
  }

  async #recordRead(actor: TenantActor, segmentId: string, format: string, rows: number): Promise<void> {
    if (!isPartner(actor)) return;
    await this.#db.withTenant(actor.tenantId, (tx) =>
      repo.recordRead(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        segmentId,
        actor: actor.sub,
        format,
        rows,
      }),
    );
  }

  reads(actor: TenantActor, id: string, limit: number, cursor?: string) {
    const scope = { tenantId: actor.tenantId, list: `segment-reads:${id}`, filters: {} };
    const before = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#read(actor, async (tx) => {
      await this.#segment(tx, actor, id);
      return this.#cursors.page(
        scope,
        await repo.reads(tx, id, before, limit),
        limit,
        (r) => r.id,
        (r) => ({ id: r.id, actor: r.actor, format: r.format, rows: r.rows, at: r.at.toISOString() }),
      );
    });
  }

  history(actor: TenantActor, id: string, limit: number, cursor?: string): Promise<Page<HistoryEntry>> {
    const scope = { tenantId: actor.tenantId, list: `segment-history:${id}`, filters: {} };
    const before = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#read(actor, async (tx) => {
      await this.#segment(tx, actor, id);
      const rows = await repo.history(tx, eq(segmentHistory.segmentId, id), before, limit, isPartner(actor));
      return this.#cursors.page(scope, rows, limit, (r) => r.id, toEntry);
    });
  }

  /** One customer's entries and exits across segments, newest first (partners: their segments only). */
  customerHistory(
    actor: TenantActor,
    customerId: string,
    limit: number,
    cursor?: string,
  ): Promise<Page<HistoryEntry>> {
    const scope = { tenantId: actor.tenantId, list: `customer-segment-history:${customerId}`, filters: {} };
    const before = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#read(actor, async (tx) => {
      const rows = await repo.history(tx, eq(segmentHistory.customerId, customerId), before, limit);
      const page = this.#cursors.page(scope, rows, limit, (r) => r.id, toEntry);
      return { ...page, data: page.data.filter((e) => mayRead(actor, e.segmentId)) };
    });
  }

  /** The segments each customer is in (loaders); partners see only theirs. */
  segmentsOfMany(
    actor: TenantActor,
    customerIds: readonly string[],
  ): Promise<Map<string, CustomerSegment[]>> {
    return this.#read(actor, async (tx) => {
      const sharing = isPartner(actor) ? await repo.sharingCustomers(tx, customerIds) : undefined;
      const rows = (await repo.segmentsOf(tx, customerIds)).filter(
        (r) => mayRead(actor, r.segmentId) && (!sharing || sharing.has(r.customerId)),
      );
      const segments = new Map(
        (await repo.findByIds(tx, [...new Set(rows.map((r) => r.segmentId))])).map((s) => [s.id, s]),
      );
      const out = new Map<string, CustomerSegment[]>(customerIds.map((id) => [id, []]));
      for (const r of rows) {
        const s = segments.get(r.segmentId)!;
        out.get(r.customerId)!.push({
          segment: { id: s.id, name: s.name, kind: s.kind },
          enteredAt: r.enteredAt.toISOString(),
        });
      }
      return out;
    });
  }

  async segmentsOf(actor: TenantActor, customerId: string): Promise<CustomerSegment[]> {
    await this.#read(actor, async (tx) => {
      await this.#customers.assertExists(tx, customerId);
      // to a partner, a customer who does not share is as unknown as one who does not exist
      if (isPartner(actor) && !(await repo.sharingCustomers(tx, [customerId])).has(customerId))
        throw new AppError('customer_not_found', `no customer ${customerId} in this tenant`);
    });
    return (await this.segmentsOfMany(actor, [customerId])).get(customerId)!;
  }

  /** Adds customers to a static segment, or removes them; unknown customers refuse the whole change. */
  changeMembers(actor: TenantActor, id: string, customerIds: string[], add: boolean) {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      // the membership lock before the segment's row, in the order a membership pass takes them
      await repo.lockMembership(tx);
      const row = await repo.findById(tx, id, true);
      if (!row || !mayRead(actor, id)) throw notFound(id);
      refusePartner(actor, 'write');
      if (row.kind !== 'static')
        throw new AppError('segment_not_static', 'members of a dynamic segment follow its definition');
      const ids = [...new Set(customerIds)];
      const existing = await repo.existingCustomers(tx, ids);
      const unknown = ids.filter((c) => !existing.has(c));
      if (unknown.length)
        throw new AppError('invalid_reference', `no customers ${unknown.join(', ')} in this tenant`, {
          errors: unknown.map((c) => ({
            path: `customerIds[${customerIds.indexOf(c)}]`,
            message: 'no such customer',
          })),
        });
      const emit: Emit = (type, source) => this.#events.insertFrom(type, source);
      const at = this.#clock.now();
      const changes = add
        ? await repo.addMembers(tx, id, ids, at, emit)
        : await repo.removeMembers(tx, id, ids, at, emit);
      if ((await repo.dependents(tx, id)).length) await repo.markPending(tx, ids);
      const after = (await repo.findById(tx, id))!;
      return {
        added: changes.entered.length,
        removed: changes.exited.length,
        memberCount: after.memberCount,
      };
    });
  }

  /** Starts a full refresh of one segment as a job (`GET /v1/jobs/:id`). */
  async requestRefresh(actor: TenantActor, id: string) {
    await this.#read(actor, (tx) => this.#segment(tx, actor, id));
    refusePartner(actor, 'write');
    return this.#jobRuns.start(actor, 'segments.refresh', REFRESH_TASK, { segmentId: id });
  }

  /** For other modules: which of these customers are in which of these segments. */
  async membershipsIn(tx: Tx, segmentIds: readonly string[], customerIds: readonly string[]) {
    const out = new Map<string, Set<string>>();
    for (const r of await repo.membershipsAmong(tx, segmentIds, customerIds)) {
      if (!out.has(r.customer_id)) out.set(r.customer_id, new Set());
      out.get(r.customer_id)!.add(r.segment_id);
    }
    return out;
  }

  /** For other modules: a page of the customers in any of these segments, by id. */
  membersOfAnyIn(tx: Tx, segmentIds: readonly string[], after: string | undefined, limit: number) {
    return repo.membersOfAny(tx, segmentIds, after, limit);
  }

  /**
   * For other modules: the customers a definition selects now, as a query (`SELECT c.id FROM
   * customers c …`) to page through or join in SQL, so an audience of any size never travels whole.
   */
  async audienceIn(tx: Tx, tenantId: string, definition: unknown): Promise<SQL> {
    const evaluation = await this.membership.evaluation(tx, tenantId);
    const result = validate(definition, evaluation.attributes);
    if ('errors' in result) throw validationError(result.errors);
    return selectIds(compile(result.ast, evaluation.ctx));
  }

  /**
   * For a writer that will refer to these segments: the ones that do not exist in the tenant. The
   * others stay locked (shared) until the writer commits, so a concurrent delete waits and then sees
   * the reference (and refuses) instead of removing a segment the writer is about to name.
   */
  async missingIn(tx: Tx, ids: readonly string[]): Promise<string[]> {
    const found = new Set((await repo.findByIds(tx, ids, 'share')).map((r) => r.id));
    return ids.filter((id) => !found.has(id.toLowerCase()));
  }

  /** Customers whose scores changed outside a full recompute: pending, when the tenant has dynamic segments. */
  scoresChanged(tx: Tx, customerIds: readonly string[]): Promise<void> {
    return repo.markPending(tx, customerIds, { onlyWithDynamicSegments: true });
  }

  /** Erasure: definitions that name one of these values (an email in a list) name "erased" instead. */
  forgetValues(tx: Tx, values: readonly string[]): Promise<void> {
    return repo.replaceValues(tx, values);
  }

  /**
   * Erasure takes the tenant's membership lock before it locks the customer, in the order the
   * membership passes take them (the lock, then their rows' key-share locks on the customers).
   */
  lockMembershipIn(tx: Tx): Promise<void> {
    return repo.lockMembership(tx);
  }

  /** Erasure: the customer leaves every segment, with no trace in the histories. */
  async forgetCustomer(tx: Tx, customerId: string): Promise<void> {
    await repo.lockMembership(tx);
    await repo.forgetCustomer(tx, customerId);
  }
}
