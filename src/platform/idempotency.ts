import { createHash } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { canonicalJson } from './canonical-json.ts';
import type { Database, Tx, TxOptions } from './db.ts';
import { AppError } from './errors.ts';
import { idempotencyKeys } from './idempotency.table.ts';
import { anyOf } from './redaction.ts';

/** How long a key and its first response are kept. */
export const IDEMPOTENCY_TTL_HOURS = 24;

export type IdempotencyRequest = { key: string; operation: string; body: unknown };
export type StoredResponse<T> = { status: number; body: T; replayed: boolean };

export const requestHash = (operation: string, body: unknown) =>
  createHash('sha256').update(operation).update('\n').update(canonicalJson(body)).digest('hex');

/**
 * Runs a keyed write at most once per tenant and key, in the caller's transaction. The key row is
 * inserted first: a concurrent request with the same key waits on it, then replays the committed
 * response (or does the work itself if the first one rolled back). The same key with another body,
 * or for another operation, is refused with 422.
 */
export async function idempotent<T>(
  tx: Tx,
  tenantId: string,
  request: IdempotencyRequest,
  run: () => Promise<{ status: number; body: T }>,
): Promise<StoredResponse<T>> {
  const hash = requestHash(request.operation, request.body);
  const mine = and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, request.key));
  await tx.delete(idempotencyKeys).where(and(mine, sql`${idempotencyKeys.expiresAt} < now()`));
  const inserted = await tx
    .insert(idempotencyKeys)
    .values({
      tenantId,
      key: request.key,
      operation: request.operation,
      requestHash: hash,
      responseStatus: 0,
      responseBody: {},
      expiresAt: sql`now() + make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`,
    })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (inserted.length) {
    const response = await run();
    await tx
      .update(idempotencyKeys)
      .set({ responseStatus: response.status, responseBody: response.body as object })
      .where(mine);
    return { ...response, replayed: false };
  }
  const [stored] = await tx.select().from(idempotencyKeys).where(mine);
  if (!stored)
    throw new AppError('idempotency_conflict', 'the key is being used by a request in progress; retry');
  if (stored.operation !== request.operation || stored.requestHash !== hash) {
    throw new AppError(
      'idempotency_key_reused',
      'this Idempotency-Key was used with another request body; use a new key for a new request',
    );
  }
  return { status: stored.responseStatus, body: stored.responseBody as T, replayed: true };
}

/** Drops stored responses that mention any of these values, as `anyOf` matches them (a privacy erasure). */
export async function forgetResponses(tx: Tx, needles: readonly string[]): Promise<void> {
  await tx.execute(sql`
    DELETE FROM idempotency_keys
    WHERE response_body::text ~* ${anyOf(needles)}`);
}

/**
 * A write in its own transaction. With an Idempotency-Key (`key`), it runs at most once per tenant
 * and key, and a retry gets its first response (see `idempotent`); without one it simply runs.
 */
export function keyedWrite<T>(
  db: Database,
  tenantId: string,
  request: { key: string | undefined; operation: string; body: unknown },
  work: (tx: Tx) => Promise<{ status: number; body: T }>,
  options: TxOptions = {},
): Promise<StoredResponse<T>> {
  const { key } = request;
  return db.withTenant(
    tenantId,
    async (tx) =>
      key
        ? idempotent(tx, tenantId, { key, operation: request.operation, body: request.body }, () => work(tx))
        : { ...(await work(tx)), replayed: false },
    options,
  );
}
