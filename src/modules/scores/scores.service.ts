import type { TenantActor } from '../../platform/auth.ts';
import { canonicalJson } from '../../platform/canonical-json.ts';
import { type Clock, wallClock } from '../../platform/clock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { forEachTenant, type Jobs } from '../../platform/jobs.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { EventsService } from '../events/events.service.ts';
import type { JobRunsService } from '../jobs/jobs.service.ts';
import type { ScoreSettings } from '../tenants/tenants.schemas.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import { fitFor, placeRow, tupleOutputs } from './scores.compute.ts';
import { type AsOf, recomputeWork, scoresRepository as repo, TEMP_WORK } from './scores.repository.ts';
import type { CustomerScores, ScoreModel } from './scores.schemas.ts';
import type { Cutpoints, ModelFit } from './scores.table.ts';
import { scoringSettings, toCustomerScores, toModel } from './scores.view.ts';

export const RECOMPUTE_TASK = 'scores_recompute';
export const REFRESH_TASK = 'scores_refresh';
export const NIGHTLY_TASK = 'scores_nightly';

/** Customers refreshed per transaction by the incremental path. */
const REFRESH_CHUNK = 2_000;
/** Values kept per distribution for placing customers between full recomputes (exact up to this + 1 buyers). */
const CUTPOINT_SAMPLE = 1_000;

export type RecomputeSummary = {
  customers: number;
  written: number;
  statusChanges: number;
  tierChanges: number;
  /** Customers whose purchase-day features were read from their orders (the others' were kept). */
  featuresFromOrders: number;
  modelVersion: number;
  fitted: boolean;
  reason: string | null;
  ms: number;
  /** Milliseconds per step. */
  timings: Record<string, number>;
};

/** The local day whose nightly run is the latest one due at `clock`: today once `nightlyAt` has passed, else yesterday. */
function nightlySlot(clock: { day: string; time: string }, nightlyAt: string): string {
  if (clock.time >= nightlyAt) return clock.day;
  return new Date(Date.parse(`${clock.day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}

/**
 * Relationship scores: RFM, the value score and tier, status and phase, BG/NBD + Gamma-Gamma CLV
 * and the 6R inputs. A full recompute is set-based in SQL; the refresh after order writes recomputes
 * the touched customers with the current fit.
 */
export class ScoresService {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #tenants: TenantsService;
  readonly #customers: CustomersService;
  readonly #events: EventsService;
  readonly #jobRuns: JobRunsService;
  readonly #jobs: () => Jobs | undefined;
  readonly #recomputedListeners: ((tenantId: string) => Promise<void>)[] = [];
  readonly #refreshedListeners: ((tx: Tx, customerIds: string[]) => Promise<void>)[] = [];

  constructor(deps: {
    db: Database;
    clock: Clock;
    tenants: TenantsService;
    customers: CustomersService;
    events: EventsService;
    jobRuns: JobRunsService;
    jobs?: () => Jobs | undefined;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#tenants = deps.tenants;
    this.#customers = deps.customers;
    this.#events = deps.events;
    this.#jobRuns = deps.jobRuns;
    this.#jobs = deps.jobs ?? (() => undefined);
  }

  /** Called after each full recompute has committed (segments refresh then). */
  onRecomputed(listener: (tenantId: string) => Promise<void>): void {
    this.#recomputedListeners.push(listener);
  }

  /**
   * Called in the refresh's transaction with the customers whose scores rows it wrote (segments on
   * scores re-evaluate them). A full recompute calls the `onRecomputed` listeners instead, once, after
   * it commits: a mark per rewritten row (a million on a nightly run) would only repeat that work.
   */
  onRefreshed(listener: (tx: Tx, customerIds: string[]) => Promise<void>): void {
    this.#refreshedListeners.push(listener);
  }

  #asOf(settings: { timezone: string }): AsOf {
    const now = this.#clock.now();
    return { now, day: wallClock(now, settings.timezone).day, timezone: settings.timezone };
  }

  /**
   * The full recompute of one tenant, in one transaction: features from the orders, the refit (unless
   * `refit` is false and a fit exists), every row, quintiles and percentiles, status and tier changes.
   */
  async recompute(
    tenantId: string,
    /** `last`: this is the job's last attempt (a failure fails the run instead of requeueing it) */
    options: { refit?: boolean; rebuild?: boolean; runId?: string; last?: boolean } = {},
  ): Promise<RecomputeSummary> {
    const started = performance.now();
    const timings: Record<string, number> = {};
    let mark = started;
    const lap = (name: string) => {
      const t = performance.now();
      timings[name] = Math.round(t - mark);
      mark = t;
    };
    const steps = ['features', 'fit', 'scores', 'changes', 'done'];
    const progress = (i: number) =>
      this.#jobRuns.progress(tenantId, options.runId, { step: steps[i]!, done: i, total: steps.length - 1 });
    let summary: RecomputeSummary;
    try {
      // progress is written beside the recompute's transaction (followers see it move), never inside it
      await this.#jobRuns.running(tenantId, options.runId);
      summary = await this.#db.withTenant(tenantId, async (tx) => {
        // the settings and the day once the lock is held, as the refresh reads them: a refresh that
        // ran while this one waited (past midnight, say) has not written rows of a later day
        const state = await repo.lockState(tx);
        const settings = await this.#tenants.settingsIn(tx, tenantId);
        const at = this.#asOf(settings);
        await progress(0);
        await repo.useRecomputeMemory(tx);
        const work = recomputeWork(tenantId);
        const rebuilt = await repo.createAllFeatures(
          tx,
          work,
          at,
          options.rebuild === true || state.timezone !== at.timezone,
        );
        const tuples = await repo.purchaseTuples(tx, work, at);
        lap('features');
        await progress(1);
        let fit = state.fit;
        let version = state.modelVersion;
        if (options.refit !== false || !fit) {
          const spend = await repo.spendRows(tx, work);
          fit = fitFor(tuples, spend, { from: await repo.window(tx, work), to: at.day }, state.fit);
        }
        lap('fit');
        await progress(2);
        const computed = tupleOutputs(fit, tuples, settings.scores);
        fit = computed.fit;
        // a new version only for a fit whose parameters differ from the current one's
        if (fit.bgnbd && canonicalJson(modelPart(fit)) !== canonicalJson(modelPart(state.fit))) version += 1;
        lap('modelOutputs');
        await repo.createTupleOutputs(tx, work, computed.outputs);
        const cutpoints = await repo.stageAll(tx, work, at, {
          settings: settings.scores,
          gg: fit.bgnbd ? fit.gammaGamma : null,
          modelVersion: fit.bgnbd ? version : null,
          sampleSize: CUTPOINT_SAMPLE,
        });
        lap('stage');
        await progress(3);
        const applied = await repo.apply(tx, work, at, {
          settings: settings.scores,
          modelVersion: fit.bgnbd ? version : null,
          rewriteAll: false,
          emit: (type, source) => this.#events.insertFrom(type, source),
          zoneChanged: state.timezone !== at.timezone,
          listWritten: false,
        });
        await repo.saveState(tx, {
          modelVersion: version,
          fit,
          ...(version !== state.modelVersion || !state.fittedAt ? { fittedAt: at.now } : {}),
          cutpoints,
          asOf: at.day,
          timezone: at.timezone,
          recomputedAt: at.now,
          settings: settings.scores,
        });
        // every change committed before this transaction began is in the rows just written
        await repo.watermarkAtTransactionStart(tx);
        await repo.dropWork(tx, work);
        lap('apply');
        return {
          customers: cutpoints.buyers,
          written: applied.written,
          statusChanges: applied.statusChanges,
          tierChanges: applied.tierChanges,
          featuresFromOrders: rebuilt,
          modelVersion: version,
          fitted: fit.bgnbd !== null,
          reason: fit.reason,
          ms: Math.round(performance.now() - started),
          timings,
        };
      });
      await progress(4);
      await this.#jobRuns.finish(tenantId, options.runId, { result: summary });
    } catch (error) {
      await this.#jobRuns.finish(tenantId, options.runId, { error, last: options.last ?? true });
      throw error;
    }
    // after the run is recorded as done: a listener's failure (queuing the segments' refresh) does
    // not make the committed recompute read as failed (the job's retry queues it again)
    for (const listener of this.#recomputedListeners) await listener(tenantId);
    return summary;
  }

  /**
   * The refresh after order writes: the customers whose purchase aggregates changed since their
   * scores were computed, with the current fit, placed against the last full recompute's
   * distributions. A tenant never fully recomputed gets its first full recompute instead, and so
   * does one whose last recompute saw no buyer (there is no distribution to place a buyer against:
   * every one would rank first).
   */
  async refresh(tenantId: string): Promise<{ customers: number }> {
    let total = 0;
    for (;;) {
      const done = await this.#db.withTenant(tenantId, async (tx) => {
        await repo.withoutJit(tx);
        const state = await repo.lockState(tx);
        if (!state.cutpoints || !state.fit || state.cutpoints.buyers === 0) return -1;
        const settings = await this.#tenants.settingsIn(tx, tenantId);
        const at = this.#asOf(settings);
        const changed = await repo.changedSince(tx, state.watermark, REFRESH_CHUNK);
        if (!changed.length) return 0;
        // rows written in another time zone than the last recompute's: the next one reads every
        // customer's purchase days from the orders
        const zoneChanged = state.timezone !== at.timezone;
        if (state.timezone && zoneChanged) await repo.saveState(tx, { timezone: null });
        await this.#refreshIn(
          tx,
          at,
          zoneChanged,
          scoringSettings(state, settings.scores),
          state.fit,
          state.modelVersion,
          state.cutpoints,
          changed.map((c) => c.customerId),
        );
        const watermark = changed.at(-1)!.updatedAt;
        if (!state.watermark || watermark > state.watermark) await repo.saveState(tx, { watermark });
        return changed.length;
      });
      if (done === -1) {
        const summary = await this.recompute(tenantId, { refit: true });
        return { customers: summary.customers };
      }
      total += done;
      if (done < REFRESH_CHUNK) return { customers: total };
    }
  }

  async #refreshIn(
    tx: Tx,
    at: AsOf,
    zoneChanged: boolean,
    settings: ScoreSettings,
    fit: ModelFit,
    modelVersion: number,
    cutpoints: Cutpoints,
    ids: string[],
  ) {
    await repo.createFeatures(tx, at, ids);
    const bases = await repo.bases(tx, at, ids);
    await repo.stage(
      tx,
      bases.map((b) => placeRow(b, { fit, cutpoints, settings })),
    );
    const applied = await repo.apply(tx, TEMP_WORK, at, {
      settings,
      modelVersion: fit.bgnbd ? modelVersion : null,
      rewriteAll: true,
      emit: (type, source) => this.#events.insertFrom(type, source),
      zoneChanged,
      listWritten: true,
    });
    for (const listener of this.#refreshedListeners) await listener(tx, applied.writtenIds);
  }

  /** Asks for a refresh soon: one job per tenant, however many writes ask meanwhile. */
  async touched(tenantId: string): Promise<void> {
    const jobs = this.#jobs();
    if (!jobs) return;
    // the orders are committed already: a failed enqueue must not turn their response into an error.
    // Nothing is lost: the next refresh (or the nightly recompute) finds these customers by their
    // changed aggregates.
    await jobs
      .add(
        REFRESH_TASK,
        { tenantId },
        {
          jobKey: `${REFRESH_TASK}:${tenantId}`,
          jobKeyMode: 'preserve_run_at',
          runAt: new Date(Date.now() + 1000),
        },
      )
      .catch(() => undefined);
  }

  /** After a change of the score settings: a full recompute (one waiting job per tenant). */
  async recomputeSoon(tenantId: string): Promise<void> {
    // the settings are committed: a failed enqueue leaves the change to the nightly recompute
    await this.#jobs()
      ?.add(
        RECOMPUTE_TASK,
        // a refit keeps the fit when its inputs are the same, and makes a new one after a change of
        // time zone, which moves every purchase day
        { tenantId, refit: true },
        { jobKey: `${RECOMPUTE_TASK}:${tenantId}`, runAt: new Date(Date.now() + 1000) },
      )
      .catch(() => undefined);
  }

  /** `POST /v1/scores/recompute`: a job that clients follow at `GET /v1/jobs/:id`. */
  requestRecompute(actor: TenantActor, refit: boolean, rebuild = false) {
    return this.#jobRuns.start(actor, 'scores.recompute', RECOMPUTE_TASK, { refit, rebuild });
  }

  /**
   * The nightly run (every quarter of an hour): each tenant whose latest scheduled run — today's
   * `nightlyAt` in its time zone once that has passed, else yesterday's — has not been made. Only a
   * nightly run counts: an on-demand or settings-triggered recompute earlier that day does not stand
   * in for it (it may not have refitted), a `nightlyAt` after the day's last tick runs at the first
   * tick of the next day, and a tenant that never had a nightly run has it at the next tick.
   */
  async nightly(tenantIds?: string[]): Promise<string[]> {
    const now = this.#clock.now();
    const ran: string[] = [];
    // a tenant that failed is tried again at the next tick
    await forEachTenant(
      'the nightly recompute',
      tenantIds ?? (await this.#tenants.allIds()),
      async (tenantId) => {
        if (await this.#nightlyOne(tenantId, now)) ran.push(tenantId);
      },
    );
    return ran;
  }

  async #nightlyOne(tenantId: string, now: Date): Promise<boolean> {
    const { settings, state } = await this.#db.withTenant(
      tenantId,
      async (tx) => ({
        settings: await this.#tenants.settingsIn(tx, tenantId),
        state: await repo.state(tx),
      }),
      { readOnly: true },
    );
    const { nightlyAt } = settings.scores;
    const local = wallClock(now, settings.timezone);
    // a tenant that has never had one runs at once
    const due =
      !state?.nightlyAt ||
      nightlySlot(wallClock(state.nightlyAt, settings.timezone), nightlyAt) < nightlySlot(local, nightlyAt);
    if (!due) return false;
    await this.recompute(tenantId, { refit: true });
    await this.#db.withTenant(tenantId, (tx) => repo.saveState(tx, { nightlyAt: now }));
    return true;
  }

  /** `GET /v1/customers/:id/scores`, optionally with expected purchases over another horizon. */
  async customerScores(
    actor: TenantActor,
    customerId: string,
    horizonDays?: number,
  ): Promise<CustomerScores> {
    const [scores] = await this.scoresOfMany(actor, [customerId], horizonDays);
    if (!scores) throw new AppError('customer_not_found', `no customer ${customerId} in this tenant`);
    return scores;
  }

  /** Scores of several customers (the GraphQL loader); null for an unknown id. */
  scoresOfMany(
    actor: TenantActor,
    ids: readonly string[],
    horizonDays?: number,
  ): Promise<(CustomerScores | null)[]> {
    // one snapshot: the rows and the fit and settings that explain them, as one recompute wrote them
    return this.#db.withTenant(actor.tenantId, (tx) => this.viewsIn(tx, actor.tenantId, ids, horizonDays), {
      readOnly: true,
      snapshot: true,
    });
  }

  /** For other modules: scores of several customers in the caller's transaction (null: unknown id). */
  async viewsIn(
    tx: Tx,
    tenantId: string,
    ids: readonly string[],
    horizonDays?: number,
  ): Promise<(CustomerScores | null)[]> {
    // status and scores in one statement: a refresh commits both together, and a read sees both or neither
    const found = new Map((await repo.scoresWithStatus(tx, ids)).map((r) => [r.customerId, r]));
    const settings = await this.#tenants.settingsIn(tx, tenantId);
    const state = await repo.state(tx);
    return ids.map((id) => {
      const f = found.get(id);
      return f
        ? toCustomerScores({ customerId: id, customer: f.customer, row: f.row, state, settings, horizonDays })
        : null;
    });
  }

  tierHistory(actor: TenantActor, customerId: string) {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        await this.#customers.assertExists(tx, customerId);
        return (await repo.tierHistory(tx, customerId)).map((h) => ({
          fromTier: h.fromTier,
          toTier: h.toTier,
          changedAt: h.changedAt.toISOString(),
        }));
      },
      { readOnly: true },
    );
  }

  /** For other modules: when the tenant's scores were last fully recomputed (its start), if ever. */
  async recomputedAtIn(tx: Tx): Promise<Date | null> {
    return (await repo.state(tx))?.recomputedAt ?? null;
  }

  /** `GET /v1/scores/model`. */
  model(actor: TenantActor): Promise<ScoreModel> {
    return this.#db.withTenant(actor.tenantId, async (tx) => toModel(await repo.state(tx)), {
      readOnly: true,
    });
  }

  /** Erasure: the customer's scores and tier history go. */
  forgetCustomer(tx: Tx, customerId: string): Promise<void> {
    return repo.forgetCustomer(tx, customerId);
  }
}

/** The parts of a fit that make a model version (not its timing). */
const modelPart = (fit: ModelFit | null | undefined) =>
  fit ? { bgnbd: fit.bgnbd, gammaGamma: fit.gammaGamma, reason: fit.reason } : null;
