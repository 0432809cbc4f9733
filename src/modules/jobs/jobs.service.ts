import { eq, sql } from 'drizzle-orm';
import type { TenantActor } from '../../platform/auth.ts';
import type { Database } from '../../platform/db.ts';
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
    await jobs.add(task, { tenantId: actor.tenantId, runId: row.id, ...payload });
    return toJobRun(row);
  }

  get(actor: TenantActor, id: string): Promise<JobRun> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const [row] = await tx.select().from(jobRuns).where(eq(jobRuns.id, id));
        const scope = row && READ_SCOPE[row.kind];
        if (!row || (scope && !actor.scopes.has(scope))) {
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

  async finish(
    tenantId: string,
    runId: string | undefined,
    outcome: { result: Record<string, unknown> } | { error: string },
  ): Promise<void> {
    if (!runId) return;
    await this.#db.withTenant(tenantId, (tx) =>
      tx
        .update(jobRuns)
        .set(
          'result' in outcome
            ? { status: 'succeeded', result: outcome.result, finishedAt: sql`now()` }
            : { status: 'failed', error: outcome.error, finishedAt: sql`now()` },
        )
        .where(eq(jobRuns.id, runId)),
    );
  }
}
