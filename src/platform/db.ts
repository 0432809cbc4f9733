import { AsyncLocalStorage } from 'node:async_hooks';
import { type SQL, sql } from 'drizzle-orm';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { AppError } from './errors.ts';
import { UUID } from './ids.ts';

/** A Drizzle handle bound to one connection inside an open transaction. */
export type Tx = NodePgDatabase<Record<string, never>> & { $client: pg.PoolClient };

// timestamps and dates come back as strings for dates (no time-zone shifting of birthdays)
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type TxOptions = {
  readOnly?: boolean;
  /**
   * Runs the work again (up to 3 times) when PostgreSQL aborts it as a deadlock victim or for a
   * serialization failure: for work that is safe to repeat from the start (it only touches the
   * database, in this transaction).
   */
  retryConflicts?: boolean;
  /**
   * With `readOnly`: every statement reads one snapshot (a read-only REPEATABLE READ transaction), for
   * reads that combine rows another transaction writes together (a score row and the fit and settings
   * that explain it).
   */
  snapshot?: boolean;
};

/** deadlock_detected, serialization_failure: the transaction did nothing and may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const RETRIES = 3;

/**
 * The application's view of PostgreSQL. Row-level security scopes every statement by the setting
 * `app.tenant_id`:
 * - work that writes runs in a transaction that sets it with SET LOCAL (it ends with the transaction);
 * - read-only work runs its statements on a connection whose *session* setting names the tenant: it
 *   is set whenever the connection last served another tenant (tracked per connection), so a
 *   single-statement read costs one round trip instead of four. A connection is only ever used
 *   through this class, so no statement runs with another tenant's setting.
 */
export class Database {
  readonly pool: pg.Pool;
  readonly #sessionTenant = new WeakMap<pg.PoolClient, string>();
  readonly #handles = new WeakMap<pg.PoolClient, Tx>();
  /** The snapshot of `readSnapshot` that read-only work of its tenant joins. */
  readonly #snapshot = new AsyncLocalStorage<{ tenantId: string; tx: Tx }>();

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Runs `fn` scoped to one tenant: in a transaction, or as plain reads with `readOnly`. */
  async withTenant<T>(tenantId: string, fn: (tx: Tx) => Promise<T>, options: TxOptions = {}): Promise<T> {
    // The id is inlined (after a strict check) so BEGIN and SET LOCAL travel in one round trip.
    if (!UUID.test(tenantId)) throw new Error('withTenant: tenant id is not a UUID');
    const id = tenantId.toLowerCase();
    const shared = this.#snapshot.getStore();
    if (options.readOnly && shared?.tenantId === id) return fn(shared.tx);
    if (options.readOnly && options.snapshot)
      return this.#transaction(
        `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL app.tenant_id = '${id}'`,
        fn,
      );
    if (!options.readOnly) {
      const begin = `BEGIN; SET LOCAL app.tenant_id = '${id}'`;
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#transaction(begin, fn);
        } catch (error) {
          if (!options.retryConflicts || !isWriteConflict(error) || attempt > RETRIES) throw error;
          // a short random pause, so that the two sides of a deadlock do not meet again at once
          await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
        }
      }
    }
    const client = await this.pool.connect();
    try {
      if (this.#sessionTenant.get(client) !== id) {
        this.#sessionTenant.delete(client);
        await client.query(`SELECT set_config('app.tenant_id', $1, false)`, [id]);
        this.#sessionTenant.set(client, id);
      }
      return await fn(this.#handle(client));
    } finally {
      client.release();
    }
  }

  /**
   * A session-level advisory lock on (`space`, `key`) held on a connection of its own, or null when
   * another session holds it: for work spanning many transactions that must not run twice at once
   * (an import). The returned function releases it.
   */
  async trySessionLock(space: number, key: string): Promise<(() => Promise<void>) | null> {
    // a connection of its own, outside the pool: the work it guards needs pooled connections, and a
    // small pool held by lock connections would wait for itself
    const client = new pg.Client(this.pool.options as pg.ClientConfig);
    client.on('error', () => undefined);
    await client.connect();
    try {
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok',
        [space, key],
      );
      if (!rows[0]?.ok) {
        await client.end();
        return null;
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    // ending the session releases its lock (a broken connection's too)
    return () => client.end().catch(() => undefined);
  }

  /**
   * Runs `fn` so that every read-only `withTenant` of this tenant inside it, in any service, reads
   * one snapshot (one read-only REPEATABLE READ transaction): for a document assembled from many
   * reads that must agree (a privacy export). The reads run one after another on one connection.
   */
  readSnapshot<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    return this.withTenant(
      tenantId,
      (tx) => this.#snapshot.run({ tenantId: tenantId.toLowerCase(), tx }, fn),
      { readOnly: true, snapshot: true },
    );
  }

  /**
   * Runs `fn` in a transaction allowed to see every row of the `tenants` table only. It names no
   * tenant: the tenant a pooled connection's session may still name from its last read is cleared,
   * so a tenant table read here sees nothing rather than that tenant's rows.
   */
  withPlatform<T>(fn: (tx: Tx) => Promise<T>, options: TxOptions = {}): Promise<T> {
    return this.#transaction(
      `${options.readOnly ? 'BEGIN READ ONLY' : 'BEGIN'}; SET LOCAL app.platform = 'on'; SET LOCAL app.tenant_id = ''`,
      fn,
    );
  }

  #handle(client: pg.PoolClient): Tx {
    let handle = this.#handles.get(client);
    if (!handle) {
      handle = drizzle({ client }) as Tx;
      this.#handles.set(client, handle);
    }
    return handle;
  }

  async #transaction<T>(begin: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(begin);
      try {
        const result = await fn(this.#handle(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((e: Error) => {
          broken = e;
        });
        throw error;
      }
    } finally {
      client.release(broken);
    }
  }

  /**
   * LISTENs on a channel on a connection of its own (reconnecting after a failure) and calls
   * `onMessage` with each payload. Returns the function that stops listening.
   */
  async listen(
    channel: string,
    onMessage: (payload: string) => void,
    onError: (error: Error) => void = () => {},
  ): Promise<() => Promise<void>> {
    let client: pg.Client | undefined;
    let stopped = false;
    const connect = async (): Promise<void> => {
      if (stopped) return;
      const next = new pg.Client(this.pool.options);
      let failed = false;
      // one retry per lost connection, every second until the server answers again
      const retry = (error: Error) => {
        if (failed) return;
        failed = true;
        onError(error);
        next.end().catch(() => undefined);
        if (!stopped) setTimeout(() => connect().catch(() => undefined), 1000).unref();
      };
      next.on('notification', (message) => {
        if (message.channel === channel) onMessage(message.payload ?? '');
      });
      next.on('error', retry);
      // a connection the server closes without an error is lost all the same
      next.on('end', () => {
        if (!stopped && client === next) retry(new Error('the LISTEN connection ended'));
      });
      try {
        await next.connect();
        await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        client = next;
        if (stopped) await next.end();
      } catch (error) {
        retry(error as Error);
        throw error;
      }
    };
    await connect();
    return async () => {
      stopped = true;
      await client?.end().catch(() => undefined);
    };
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** A position in a newest-first list ordered by (time, id): a timeline page starts strictly before it. */
export type Position = { at: Date; id: string };

/** `(time, id) < (position)`, or no condition for the first page. */
export function before(time: AnyPgColumn, id: AnyPgColumn, position: Position | undefined): SQL | undefined {
  return position ? sql`(${time}, ${id}) < (${position.at}, ${position.id}::uuid)` : undefined;
}

/** A timestamp as the API writes it (`2025-01-31T09:30:00.000Z`, as Date#toISOString), in SQL. */
export const isoUtc = (timestamp: SQL): SQL =>
  sql`to_char(${timestamp} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const preparedQueries = new WeakMap<Tx, Map<string, unknown>>();

/**
 * A named prepared statement, built once per connection: PostgreSQL parses and plans it once, and
 * Drizzle builds its SQL once. For the hottest reads only.
 */
export function prepared<T>(tx: Tx, name: string, build: (name: string) => T): T {
  let queries = preparedQueries.get(tx);
  if (!queries) {
    queries = new Map();
    preparedQueries.set(tx, queries);
  }
  let query = queries.get(name) as T | undefined;
  if (!query) {
    query = build(name);
    queries.set(name, query);
  }
  return query;
}

export function createPool(
  connectionString: string,
  max: number,
  onIdleError: (error: Error) => void = () => {},
): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: 'vinculo' });
  // an idle connection the server closes (restart, failover) must not crash the process
  pool.on('error', onIdleError);
  return pool;
}

/** PostgreSQL error codes the repositories translate. */
/** A LIKE pattern matching what starts with `text`, taken literally (`%`, `_` and `\` escaped). */
export const likePrefix = (text: string): string => `${text.replace(/[\\%_]/g, '\\$&')}%`;

export const PgCode = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
} as const;

/**
 * A foreign-key violation as the client's problem: a reference of the request that names no row of
 * the tenant, with the field each constraint stands for when known. Other errors: undefined.
 */
export function referenceProblem(error: unknown, fields: Record<string, string> = {}): AppError | undefined {
  const e = pgErrorOf(error);
  if (e?.code !== PgCode.foreignKeyViolation) return undefined;
  const path = fields[e.constraint ?? ''];
  if (!path) return new AppError('invalid_reference', 'a reference does not point at a row of this tenant');
  return new AppError('invalid_reference', `${path} does not point at a row of this tenant`, {
    errors: [{ path, message: 'does not point at a row of this tenant' }],
  });
}

/**
 * What a reader of a failed background run may see: a problem's own message; of anything else only
 * the database error code, if any (a failed query's message carries its SQL and the rows' values,
 * which stay in the worker log).
 */
export function publicFailure(error: unknown, what: string): string {
  if (error instanceof AppError) return error.message;
  const code = pgErrorOf(error)?.code;
  return `an unexpected error${code ? ` (database error ${code})` : ''} stopped the ${what}; the worker log has it`;
}

/** A deadlock or serialization failure: the transaction did nothing and may simply run again. */
export function isWriteConflict(error: unknown): boolean {
  return RETRYABLE.has(pgErrorOf(error)?.code ?? '');
}

/**
 * `work` inside a savepoint of the caller's transaction: when it throws, what it did is undone and
 * the transaction goes on (the error is rethrown).
 */
export async function inSavepoint<T>(tx: Tx, name: string, work: () => Promise<T>): Promise<T> {
  const savepoint = sql.identifier(name);
  await tx.execute(sql`SAVEPOINT ${savepoint}`);
  try {
    const result = await work();
    await tx.execute(sql`RELEASE SAVEPOINT ${savepoint}`);
    return result;
  } catch (error) {
    await tx.execute(sql`ROLLBACK TO SAVEPOINT ${savepoint}`);
    throw error;
  }
}

/**
 * An error as it may be logged: a failed query keeps its statement, the database's message and
 * codes, not its parameters' values (Drizzle's message lists them: emails, phones, names), the
 * driver's `detail` (`Key (email)=(…) already exists`) nor a data exception's message, which quotes
 * the value. Other errors are unchanged.
 */
export function loggableError(error: unknown): unknown {
  if (error instanceof AggregateError)
    return new AggregateError(error.errors.map(loggableError), error.message);
  if (!(error instanceof DrizzleQueryError)) return error;
  const db = pgErrorOf(error);
  // a data exception's message quotes the value it could not take (`invalid input syntax for type
  // integer: "…"`): its code says enough
  const said = db && (db.code?.startsWith('22') ? `database error ${db.code}` : db.message);
  const out = new Error(`Failed query: ${error.query}${said ? `\n${said}` : ''}`);
  out.name = 'DrizzleQueryError';
  const frames = (error.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at '));
  out.stack = [`${out.name}: ${out.message}`, ...frames].join('\n');
  return Object.assign(out, { code: db?.code, constraint: db?.constraint });
}

/**
 * A background task's failure as graphile-worker keeps it (in its own tables, which no erasure
 * reaches): a failed query by its database code only; the worker log has the rest.
 */
export function storableError(error: unknown): unknown {
  const db = pgErrorOf(error);
  if (!db || error instanceof AppError) return error;
  return new Error(
    `a query failed (database error ${db.code}${db.constraint ? `, constraint ${db.constraint}` : ''})`,
  );
}

export function pgErrorOf(error: unknown): (Error & { code?: string; constraint?: string }) | undefined {
  let e: unknown = error;
  // Drizzle wraps driver errors in DrizzleQueryError with the original as `cause`.
  for (let i = 0; i < 3 && e; i++) {
    if (e instanceof Error && typeof (e as { code?: unknown }).code === 'string') {
      return e as Error & { code?: string; constraint?: string };
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}
