import { eq, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { TenantActor } from '../../platform/auth.ts';
import { type Database, publicFailure } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Jobs } from '../../platform/jobs.ts';
import type { JobRun } from './jobs.schemas.ts';
import { type JobProgress, jobRuns } from './jobs.table.ts';

type JobRunRow = typeof jobRuns.$inferSelect;

const toJobRun = (row: JobRunRow): JobRun => ({
  id: row.id,
  kind: row.kind,
  status: row.status,
  progress: row.progress
    ? {
        ...row.progress,
        percent: row.progress.total ? Math.floor((100 * row.progress.done) / row.progress.total) : 0,
      }
    : null,
  result: row.result,
  error: row.error,
  createdAt: row.createdAt.toISOString(),
  startedAt: row.startedAt?.toISOString() ?? null,
  finishedAt: row.finishedAt?.toISOString() ?? null,
});

/** The scope a client needs to follow a job of each kind. */
const READ_SCOPE: Record<string, string> = {
  'scores.recompute': 'scores:read',
  'segments.refresh': 'segments:read',
};

/** Attempts of a job a client follows before it is failed. */
export const MAX_ATTEMPTS = 4;

/**
 * Jobs that clients asked for and follow (`GET /v1/jobs/:id`): a row tracks each one while
 * graphile-worker runs it.
 */
export class JobRunsService {
  readonly #db: Database;
  readonly #jobs: () => Jobs | undefined;

  constructor(deps: { db: Database; jobs?: () => Jobs | undefined }) {
    this.#db = deps.db;
    this.#jobs = deps.jobs ?? (() => undefined);
  }

  /** Records the job, then enqueues `task` with `{ tenantId, runId, ...payload }`. */
  async start(actor: TenantActor, kind: string, task: string, payload: object = {}): Promise<JobRun> {
    const jobs = this.#jobs();
    if (!jobs) throw new AppError('service_unavailable', 'background jobs are not running in this process');
    const row = await this.#db.withTenant(actor.tenantId, async (tx) => {
      const [inserted] = await tx
        .insert(jobRuns)
        .values({ tenantId: actor.tenantId, id: newId(), kind, status: 'queued', requestedBy: actor.sub })
        .returning();
      return inserted!;
    });
    // a few attempts with graphile-worker's back-off (seconds to minutes), not its default 25 (days)
    await jobs.add(
      task,
      { tenantId: actor.tenantId, runId: row.id, ...payload },
      { maxAttempts: MAX_ATTEMPTS },
    );
    return toJobRun(row);
  }

  get(actor: TenantActor, id: string): Promise<JobRun> {
    // a partner starts no job, and a segment refresh's counts cover members it may not see
    if (actor.segments !== null)
      throw new AppError(
        'insufficient_scope',
        'a partner token (one with a segments claim) does not follow jobs',
      );
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const [row] = await tx.select().from(jobRuns).where(eq(jobRuns.id, id));
        // the client that started a job follows it, whatever its scopes (an admin token recomputes
        // scores without reading them); others need the scope of what the job computes
        const scope = row && READ_SCOPE[row.kind];
        if (!row || (scope && !actor.scopes.has(scope) && row.requestedBy !== actor.sub)) {
          throw new AppError('not_found', `no job ${id} in this tenant`);
        }
        return toJobRun(row);
      },
      { readOnly: true },
    );
  }

  /** For the task: marks the run started (no-op without a run id). */
  async running(tenantId: string, runId: string | undefined): Promise<void> {
    if (!runId) return;
    await this.#db.withTenant(tenantId, (tx) =>
      tx
        .update(jobRuns)
        .set({ status: 'running', startedAt: sql`coalesce(${jobRuns.startedAt}, now())` })
        .where(eq(jobRuns.id, runId)),
    );
  }

  /** Progress, written outside the job's transaction so that followers see it move. */
  async progress(tenantId: string, runId: string | undefined, progress: JobProgress): Promise<void> {
    if (!runId) return;
    await this.#db.withTenant(tenantId, (tx) =>
      tx.update(jobRuns).set({ status: 'running', progress }).where(eq(jobRuns.id, runId)),
    );
  }

  /**
   * The outcome. A failure of an attempt that graphile-worker will retry puts the run back in the
   * queue with the error; only the last attempt's marks it failed. Readers see a problem's own
   * message, never an unexpected error's (see publicFailure).
   */
  async finish(
    tenantId: string,
    runId: string | undefined,
    outcome: { result: Record<string, unknown> } | { error: unknown; last: boolean },
  ): Promise<void> {
    if (!runId) return;
    let set: PgUpdateSetSource<typeof jobRuns>;
    if ('result' in outcome) {
      set = { status: 'succeeded', result: outcome.result, error: null, finishedAt: sql`now()` };
    } else {
      const message = publicFailure(outcome.error, 'job');
      set = outcome.last
        ? { status: 'failed', error: message, finishedAt: sql`now()` }
        : { status: 'queued', error: `${message} (this attempt failed; the job will be retried)` };
    }
    await this.#db.withTenant(tenantId, (tx) => tx.update(jobRuns).set(set).where(eq(jobRuns.id, runId)));
  }
}
