import { EventEmitter } from 'node:events';
import {
  Logger,
  makeWorkerUtils,
  type Runner,
  run,
  type TaskList,
  type WorkerEvents,
  type WorkerUtils,
} from 'graphile-worker';
import { storableError } from './db.ts';

/**
 * Empties a work queue a batch at a time: runs `pass` (one transaction taking up to `batch` items)
 * until a pass takes fewer, and returns how many were taken in all.
 */
export async function drain(batch: number, pass: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const taken = await pass();
    total += taken;
    if (taken < batch) return total;
  }
}

/**
 * Runs `each` for every tenant in turn. One tenant's failure never costs the others their turn: the
 * failures are thrown together at the end (the task fails naming them, and is retried).
 */
export async function forEachTenant(
  what: string,
  tenantIds: readonly string[],
  each: (tenantId: string) => Promise<unknown>,
): Promise<void> {
  const failed: { tenantId: string; error: unknown }[] = [];
  for (const tenantId of tenantIds) {
    try {
      await each(tenantId);
    } catch (error) {
      failed.push({ tenantId, error });
    }
  }
  if (failed.length) {
    throw new AggregateError(
      failed.map((f) => f.error),
      `${what} failed for ${failed.map((f) => f.tenantId).join(', ')}; it ran for the ${tenantIds.length - failed.length} other tenant(s)`,
    );
  }
}

/** Which attempt of its job a task runs as (graphile-worker counts from 1 up to the job's maximum). */
export type Attempt = { number: number; last: boolean };

/** A background task: its payload is JSON; a throw makes graphile-worker retry it with back-off. */
export type TaskHandler = (payload: unknown, attempt?: Attempt) => Promise<void>;

export type JobsOptions = {
  /** The owner's connection: graphile-worker keeps its queue in its own schema. */
  connectionString: string;
  tasks: Record<string, TaskHandler>;
  /** Run workers in this process (the default) or only enqueue (`npm run worker` elsewhere). */
  runWorkers: boolean;
  concurrency: number;
  /** Recurring tasks, in graphile-worker's crontab format. */
  crontab?: string;
  log?: (level: string, message: string) => void;
  /** A task's failure, whole, for the log (graphile-worker is given one without a query's values). */
  onTaskError?: (task: string, error: unknown) => void;
};

/**
 * Background work on graphile-worker, a PostgreSQL-backed job queue: enqueued by the API, run by
 * workers in the API process or in separate `npm run worker` processes.
 */
export class Jobs {
  readonly #utils: WorkerUtils;
  readonly #runner: Runner | undefined;
  /** This process's worker pools, by graphile-worker's id: the jobs they lock are theirs to give back. */
  readonly #workerIds: Set<string>;

  private constructor(utils: WorkerUtils, runner: Runner | undefined, workerIds: Set<string>) {
    this.#utils = utils;
    this.#runner = runner;
    this.#workerIds = workerIds;
  }

  static async start(options: JobsOptions): Promise<Jobs> {
    const logger = new Logger(() => (level, message) => {
      if (level === 'error' || level === 'warning') options.log?.(level, message);
    });
    const utils = await makeWorkerUtils({ connectionString: options.connectionString, logger });
    await utils.migrate();
    const taskList: TaskList = Object.fromEntries(
      Object.entries(options.tasks).map(([name, handler]) => [
        name,
        async (payload: unknown, helpers) => {
          try {
            await handler(payload, {
              number: helpers.job.attempts,
              last: helpers.job.attempts >= helpers.job.max_attempts,
            });
          } catch (error) {
            options.onTaskError?.(name, error);
            throw storableError(error);
          }
        },
      ]),
    );
    const workerIds = new Set<string>();
    const events = new EventEmitter() as WorkerEvents;
    // jobs are locked in the worker pool's name
    events.on('pool:create', ({ workerPool }) => workerIds.add(workerPool.id));
    const runner = options.runWorkers
      ? await run({
          events,
          connectionString: options.connectionString,
          concurrency: options.concurrency,
          taskList,
          logger,
          noHandleSignals: true,
          ...(options.crontab ? { crontab: options.crontab } : {}),
          pollInterval: 1000,
        })
      : undefined;
    return new Jobs(utils, runner, workerIds);
  }

  /** Enqueues a job; with a key, a job still waiting under that key is replaced instead of duplicated. */
  async add(
    task: string,
    payload: object,
    options: {
      jobKey?: string;
      /** With a key: `replace` (default) moves a waiting job's run time, `preserve_run_at` keeps it. */
      jobKeyMode?: 'replace' | 'preserve_run_at';
      runAt?: Date;
      maxAttempts?: number;
    } = {},
  ): Promise<string> {
    const job = await this.#utils.addJob(task, payload, options);
    return job.id;
  }

  /**
   * Lets the running jobs finish for `graceMs`, then gives back the jobs still running (unlocked,
   * their attempt counted: another worker takes them up at once), so that a job cut off by the
   * shutdown is not left locked for the four hours graphile-worker waits before freeing it.
   */
  async stop(graceMs = 7_000): Promise<void> {
    if (this.#runner) {
      const stopped = this.#runner.stop().then(
        () => 'stopped' as const,
        () => 'stopped' as const,
      );
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), graceMs);
      });
      const outcome = await Promise.race([stopped, late]);
      clearTimeout(timer);
      // (the runner's own shutdown goes on waiting for the tasks; the process exits meanwhile)
      if (outcome === 'late')
        await this.#utils.forceUnlockWorkers([...this.#workerIds]).catch(() => undefined);
    }
    await this.#utils.release();
  }
}
