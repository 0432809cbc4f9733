import { type Clock, wallClock } from '../../platform/clock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { drain, forEachTenant, type Jobs } from '../../platform/jobs.ts';
import type { AttributesService } from '../attributes/attributes.service.ts';
import type { EventsService } from '../events/events.service.ts';
import type { JobRunsService } from '../jobs/jobs.service.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import { type CompileContext, compile, selectIds } from './segments.compiler.ts';
import type { AttributeTypes } from './segments.fields.ts';
import { type Ast, validate } from './segments.language.ts';
import { type Reason, segmentsRepository as repo, type SegmentRow } from './segments.repository.ts';

export const EVALUATE_TASK = 'segments_evaluate';
export const REFRESH_TASK = 'segments_refresh';
/**
 * How long after a full recompute began the sweep takes a segment still refreshed before it as a
 * lost refresh (the recompute's own runs once it commits; a million customers take under a minute).
 */
const CATCH_UP_AFTER_MS = 15 * 60_000;
export const SWEEP_TASK = 'segments_sweep';
export const NOTIFY_CHANNEL = 'vinculo_segments';
const PENDING_BATCH = 5000;

/** What a definition is evaluated against: the instant, the tenant's day, its custom attributes. */
export type Evaluation = { ctx: CompileContext; attributes: AttributeTypes };

/** Orders segments so that each comes after the segments its definition names. */
export function dependencyOrder(rows: SegmentRow[]): SegmentRow[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const done = new Set<string>();
  const out: SegmentRow[] = [];
  const visit = (row: SegmentRow, path: Set<string>) => {
    if (done.has(row.id) || path.has(row.id)) return;
    path.add(row.id);
    for (const dep of row.dependsOn) {
      const next = byId.get(dep);
      if (next) visit(next, path);
    }
    done.add(row.id);
    out.push(row);
  };
  for (const row of rows) visit(row, new Set());
  return out;
}

/**
 * Keeps materialized membership current: full refreshes (one segment, or all in dependency order)
 * and the incremental pass over the customers the triggers marked pending. Every pass takes the
 * tenant's membership lock, so passes never interleave.
 */
export class Membership {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #tenants: TenantsService;
  readonly #attributes: AttributesService;
  readonly #events: EventsService;
  readonly #jobRuns: JobRunsService;
  readonly #jobs: () => Jobs | undefined;
  readonly #recomputedAt: (tx: Tx) => Promise<Date | null>;

  constructor(deps: {
    db: Database;
    clock: Clock;
    tenants: TenantsService;
    attributes: AttributesService;
    events: EventsService;
    jobRuns: JobRunsService;
    jobs?: () => Jobs | undefined;
    /** When the tenant's scores were last fully recomputed (every dynamic segment is refreshed after). */
    recomputedAt?: (tx: Tx) => Promise<Date | null>;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#tenants = deps.tenants;
    this.#attributes = deps.attributes;
    this.#events = deps.events;
    this.#jobRuns = deps.jobRuns;
    this.#jobs = deps.jobs ?? (() => undefined);
    this.#recomputedAt = deps.recomputedAt ?? (async () => null);
  }

  /**
   * What evaluating definitions needs. `forWrite`: the attribute definitions are held until the
   * transaction ends, so that one a definition being written refers to is not removed or narrowed
   * before it commits (the attribute's change then sees the segment, and is refused).
   */
  async evaluation(tx: Tx, tenantId: string, options: { forWrite?: boolean } = {}): Promise<Evaluation> {
    const settings = await this.#tenants.settingsIn(tx, tenantId);
    const now = this.#clock.now();
    const definitions = options.forWrite
      ? await this.#attributes.definitionsForWrite(tx)
      : await this.#attributes.definitions(tx);
    const attributes: AttributeTypes = new Map(
      [...definitions.values()].map((d) => [d.key, { type: d.type, values: d.enumValues }]),
    );
    return {
      ctx: { now, today: wallClock(now, settings.timezone).day, timezone: settings.timezone },
      attributes,
    };
  }

  /** The stored definition as a tree; null (with the reason) when it no longer validates. */
  treeOf(row: SegmentRow, evaluation: Evaluation): { ast: Ast } | { error: string } {
    const result = validate(row.definition, evaluation.attributes);
    if ('errors' in result) return { error: result.errors.map((e) => `${e.path}: ${e.message}`).join('; ') };
    return { ast: result.ast };
  }

  /** Makes one segment's membership match its definition (within `only` when given). */
  async apply(
    tx: Tx,
    row: SegmentRow,
    evaluation: Evaluation,
    options: { only?: readonly string[]; reason: Reason },
  ): Promise<{ entered: string[]; exited: string[] } | { error: string }> {
    const tree = this.treeOf(row, evaluation);
    if ('error' in tree) {
      await repo.setError(tx, row.id, tree.error);
      return tree;
    }
    const compiled = compile(tree.ast, { ...evaluation.ctx, only: options.only });
    const changes = await repo.applyMembership(tx, row.id, selectIds(compiled, options.only), {
      only: options.only,
      reason: options.reason,
      at: evaluation.ctx.now,
      emit: (type, source) => this.#events.insertFrom(type, source),
    });
    // segments built on this one see its changes in the next incremental pass
    if (changes.entered.length + changes.exited.length && (await repo.dependents(tx, row.id)).length) {
      await repo.markPending(tx, [...changes.entered, ...changes.exited]);
    }
    return changes;
  }

  /** A full refresh of one segment in the caller's transaction. */
  async refreshIn(tx: Tx, tenantId: string, row: SegmentRow) {
    await repo.lockMembership(tx);
    return this.apply(tx, row, await this.evaluation(tx, tenantId), { reason: 'refresh' });
  }

  /** A full refresh of one segment, or of every dynamic segment (dependencies first). */
  async refresh(
    tenantId: string,
    /** `last`: this is the job's last attempt (a failure fails the run instead of requeueing it) */
    options: { segmentId?: string; runId?: string; last?: boolean } = {},
  ): Promise<{ segments: number; entered: number; exited: number; errors: number }> {
    await this.#jobRuns.running(tenantId, options.runId);
    try {
      const summary = await this.#db.withTenant(tenantId, async (tx) => {
        await repo.lockMembership(tx);
        const evaluation = await this.evaluation(tx, tenantId);
        let rows: SegmentRow[];
        if (options.segmentId) {
          const row = await repo.findById(tx, options.segmentId);
          rows = row?.kind === 'dynamic' ? [row] : [];
        } else {
          rows = dependencyOrder(await repo.dynamic(tx));
          // every pending customer is covered by this pass
          await repo.clearPending(tx);
        }
        const total = { segments: rows.length, entered: 0, exited: 0, errors: 0 };
        for (const row of rows) {
          const changes = await this.apply(tx, row, evaluation, { reason: 'refresh' });
          if ('error' in changes) total.errors += 1;
          else {
            total.entered += changes.entered.length;
            total.exited += changes.exited.length;
          }
        }
        return total;
      });
      await this.#jobRuns.finish(tenantId, options.runId, { result: summary });
      return summary;
    } catch (error) {
      await this.#jobRuns.finish(tenantId, options.runId, { error, last: options.last ?? true });
      throw error;
    }
  }

  /** The incremental pass: every dynamic segment re-evaluated for the customers marked pending. */
  async evaluatePending(tenantId: string): Promise<{ customers: number }> {
    const customers = await drain(PENDING_BATCH, () =>
      this.#db.withTenant(tenantId, async (tx) => {
        await repo.lockMembership(tx);
        const ids = await repo.takePending(tx, PENDING_BATCH);
        if (!ids.length) return 0;
        const evaluation = await this.evaluation(tx, tenantId);
        for (const row of dependencyOrder(await repo.dynamic(tx))) {
          await this.apply(tx, row, evaluation, { only: ids, reason: 'change' });
        }
        return ids.length;
      }),
    );
    return { customers };
  }

  /** Asks for a full refresh of one segment in a few seconds (a job; nothing without workers). */
  async refreshSoon(tenantId: string, segmentId: string): Promise<void> {
    await this.#jobs()
      ?.add(REFRESH_TASK, { tenantId, segmentId }, { runAt: new Date(Date.now() + 2_000) })
      .catch(() => undefined);
  }

  /** Asks for an incremental pass soon: one waiting job per tenant, however many writes ask. */
  async touched(tenantId: string): Promise<void> {
    await this.#jobs()
      ?.add(
        EVALUATE_TASK,
        { tenantId },
        {
          jobKey: `${EVALUATE_TASK}:${tenantId}`,
          jobKeyMode: 'preserve_run_at',
          runAt: new Date(Date.now() + 250),
        },
      )
      .catch(() => undefined);
  }

  /** Listens for the triggers' notifications and enqueues the passes they ask for. */
  listen(onError: (error: Error) => void): Promise<() => Promise<void>> {
    return this.#db.listen(NOTIFY_CHANNEL, (tenantId) => void this.touched(tenantId), onError);
  }

  /** The sweep: pending customers left behind (no listener was up) and segments due a scheduled refresh. */
  async sweep(tenantIds: string[]): Promise<void> {
    await forEachTenant('the segments sweep', tenantIds, async (tenantId) => {
      await this.evaluatePending(tenantId);
      const { due, behindScores } = await this.#db.withTenant(
        tenantId,
        async (tx) => {
          const rows = await repo.dynamic(tx);
          const recomputedAt = await this.#recomputedAt(tx);
          const now = this.#clock.now().getTime();
          return {
            due: rows.filter(
              (row) =>
                row.refreshEveryMinutes !== null &&
                (!row.refreshedAt || now - row.refreshedAt.getTime() >= row.refreshEveryMinutes * 60_000),
            ),
            // the refresh a full recompute asks for once it has committed was lost (the process
            // stopped in between): a segment last refreshed before that recompute began is behind,
            // once the recompute is old enough for its own refresh to have run (one whose definition
            // fails to evaluate is not: it would be retried every minute)
            behindScores:
              recomputedAt !== null &&
              now - recomputedAt.getTime() >= CATCH_UP_AFTER_MS &&
              rows.some((row) => !row.lastError && (!row.refreshedAt || row.refreshedAt < recomputedAt)),
          };
        },
        { readOnly: true },
      );
      if (behindScores) await this.refresh(tenantId);
      else for (const row of due) await this.refresh(tenantId, { segmentId: row.id });
    });
  }
}
