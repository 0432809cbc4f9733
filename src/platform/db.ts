import { sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';

/** A Drizzle handle bound to one connection inside an open transaction. */
export type Tx = NodePgDatabase<Record<string, never>> & { $client: pg.PoolClient };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// timestamps and dates come back as strings for dates (no time-zone shifting of birthdays)
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type TxOptions = { readOnly?: boolean };

/**
 * The application's view of PostgreSQL: every unit of work is a transaction that first sets
 * `app.tenant_id` (or `app.platform`) locally, so row-level security scopes every statement in it.
 */
export class Database {
  readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Runs `fn` in a transaction scoped to one tenant. */
  withTenant<T>(tenantId: string, fn: (tx: Tx) => Promise<T>, options: TxOptions = {}): Promise<T> {
    // The id is inlined (after a strict check) so BEGIN and SET LOCAL travel in one round trip.
    if (!UUID.test(tenantId)) throw new Error('withTenant: tenant id is not a UUID');
    return this.run(`SET LOCAL app.tenant_id = '${tenantId.toLowerCase()}'`, fn, options);
  }

  /** Runs `fn` in a transaction allowed to see every tenant row of the `tenants` table only. */
  withPlatform<T>(fn: (tx: Tx) => Promise<T>, options: TxOptions = {}): Promise<T> {
    return this.run(`SET LOCAL app.platform = 'on'`, fn, options);
  }

  private async run<T>(setLocal: string, fn: (tx: Tx) => Promise<T>, options: TxOptions): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(`${options.readOnly ? 'BEGIN READ ONLY' : 'BEGIN'}; ${setLocal}`);
      const tx = drizzle({ client }) as Tx;
      try {
        const result = await fn(tx);
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

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** Runs `fn` inside a savepoint: a failure undoes only its own writes and is rethrown. */
export async function savepoint<T>(tx: Tx, fn: () => Promise<T>): Promise<T> {
  await tx.execute(sql.raw('SAVEPOINT item'));
  try {
    const result = await fn();
    await tx.execute(sql.raw('RELEASE SAVEPOINT item'));
    return result;
  } catch (error) {
    await tx.execute(sql.raw('ROLLBACK TO SAVEPOINT item'));
    throw error;
  }
}

export function createPool(connectionString: string, max: number, applicationName = 'vinculo'): pg.Pool {
  return new pg.Pool({ connectionString, max, application_name: applicationName });
}

/** PostgreSQL error codes the repositories translate. */
export const PgCode = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
} as const;

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
