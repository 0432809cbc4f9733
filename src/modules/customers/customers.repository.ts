import { and, asc, desc, eq, gt, gte, or, type SQL, sql } from 'drizzle-orm';
import {
  before,
  inSavepoint,
  likePrefix,
  PgCode,
  type Position,
  pgErrorOf,
  prepared,
  referenceProblem,
  type Tx,
} from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { customerConsentHistory } from './consent-history.table.ts';
import { phoneKey } from './customers.fields.ts';
import type { ListCustomersFilter } from './customers.schemas.ts';
import { customers } from './customers.table.ts';
import { customerStatusHistory } from './status-history.table.ts';

export type CustomerRow = typeof customers.$inferSelect;
export type CustomerInsert = typeof customers.$inferInsert;

/** Turns constraint violations into coded errors; conflicts carry the existing customer's id. */
async function translate(tx: Tx, error: unknown, row: Partial<CustomerInsert>): Promise<never> {
  const pg = pgErrorOf(error);
  if (pg?.code === PgCode.uniqueViolation) {
    if (pg.constraint === 'customers_email_key' && row.email) {
      const existing = await findOne(tx, eq(customers.email, row.email));
      throw new AppError('customer_email_taken', 'another customer has this email', {
        extra: { existingId: existing?.id },
      });
    }
    if (pg.constraint === 'customers_external_id_key' && row.externalId) {
      const existing = await findOne(tx, eq(customers.externalId, row.externalId));
      throw new AppError('customer_external_id_taken', 'another customer has this externalId', {
        extra: { existingId: existing?.id },
      });
    }
  }
  throw (
    referenceProblem(error, {
      customers_account_manager_fk: 'accountManagerId',
      customers_referred_by_customer_fk: 'referredBy',
      customers_referred_by_intermediary_fk: 'referredBy',
    }) ?? error
  );
}

async function findOne(tx: Tx, where: SQL): Promise<CustomerRow | undefined> {
  // The failed statement aborted the transaction's current savepoint; read in a fresh one.
  const [row] = await tx.select().from(customers).where(where).limit(1);
  return row;
}

export const customersRepository = {
  async insert(tx: Tx, row: CustomerInsert): Promise<CustomerRow> {
    try {
      return await inSavepoint(tx, 'customer_write', async () => {
        const [created] = await tx.insert(customers).values(row).returning();
        return created!;
      });
    } catch (error) {
      return translate(tx, error, row);
    }
  },

  async update(tx: Tx, id: string, patch: Partial<CustomerInsert>): Promise<CustomerRow> {
    try {
      return await inSavepoint(tx, 'customer_write', async () => {
        const [row] = await tx
          .update(customers)
          .set({ ...patch, version: sql`${customers.version} + 1`, updatedAt: sql`now()` })
          .where(eq(customers.id, id))
          .returning();
        return row!;
      });
    } catch (error) {
      return translate(tx, error, patch);
    }
  },

  async findById(tx: Tx, id: string, forUpdate = false): Promise<CustomerRow | undefined> {
    if (forUpdate) {
      const [row] = await tx.select().from(customers).where(eq(customers.id, id)).for('update');
      return row;
    }
    const byId = prepared(tx, 'customers_by_id', (name) =>
      tx
        .select()
        .from(customers)
        .where(eq(customers.id, sql.placeholder('id')))
        .prepare(name),
    );
    const [row] = await byId.execute({ id });
    return row;
  },

  /** Whether the customer exists, its row share-locked until commit (an erasure waits, or is waited for). */
  async lockForReference(tx: Tx, id: string): Promise<boolean> {
    const rows = await tx
      .select({ id: customers.id })
      .from(customers)
      .where(eq(customers.id, id))
      .for('share');
    return rows.length > 0;
  },

  findByIds(tx: Tx, ids: readonly string[]): Promise<CustomerRow[]> {
    if (!ids.length) return Promise.resolve([]);
    return tx
      .select()
      .from(customers)
      .where(sql`${customers.id} = ANY(${sql.param([...ids])}::uuid[])`);
  },

  /**
   * Customers holding any of these identities, oldest first (batch upserts and order ingestion);
   * with `lock`, locked until the transaction ends.
   */
  findByIdentities(
    tx: Tx,
    identities: { externalIds: string[]; emails: string[]; phones?: string[] },
    lock = false,
  ): Promise<CustomerRow[]> {
    const { externalIds, emails, phones = [] } = identities;
    if (!externalIds.length && !emails.length && !phones.length) return Promise.resolve([]);
    const query = tx
      .select()
      .from(customers)
      .where(
        or(
          sql`${customers.externalId} = ANY(${sql.param(externalIds)}::text[])`,
          sql`${customers.email} = ANY(${sql.param(emails)}::text[])`,
          // the expression of customers_phone_idx
          sql`regexp_replace(${customers.phone}, '[^0-9+]', '', 'g') = ANY(${sql.param(phones.map(phoneKey))}::text[])`,
        ),
      )
      .orderBy(asc(customers.id));
    return lock ? query.for('update') : query;
  },

  /**
   * Serializes the writers that may create customers for these phones until the transaction ends: a
   * transaction lock per bucket of (tenant, phone) — 128 buckets, taken in order and before any
   * customer row, so a batch of phone-only identities holds at most 128 locks and two writers do not
   * deadlock on them.
   */
  async lockPhones(tx: Tx, tenantId: string, keys: string[]): Promise<void> {
    if (!keys.length) return;
    await tx.execute(sql`
      SELECT pg_advisory_xact_lock(7202, b) FROM (
        SELECT DISTINCT hashtext(${tenantId}::text || ':' || k) & 127 AS b FROM unnest(${sql.param(keys)}::text[]) AS k
        ORDER BY 1
      ) buckets`);
  },

  async managedBy(tx: Tx, intermediaryId: string): Promise<number> {
    const result = await tx.execute<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM customers WHERE account_manager_id = ${intermediaryId}::uuid`);
    return result.rows[0]!.n;
  },

  /** Creates many customers in one statement; rows whose email or externalId exists are skipped. */
  insertMany(tx: Tx, rows: CustomerInsert[]): Promise<CustomerRow[]> {
    if (!rows.length) return Promise.resolve([]);
    return tx.insert(customers).values(rows).onConflictDoNothing().returning();
  },

  /**
   * Moves these customers from `potential` to `active` and records each change at the time of their
   * first order (or of their last recorded change, when that is later), in one statement.
   */
  async promoteFirstBuyers(tx: Tx, buyers: { customerId: string; firstOrderAt: Date }[]) {
    if (!buyers.length) return [];
    const result = await tx.execute<{
      customer_id: string;
      from_status: 'potential';
      to_status: 'active';
      from_phase: string;
      to_phase: string;
      reason: string;
      changed_at: string;
    }>(sql`
      WITH moved AS (
        UPDATE customers c SET status = 'active', version = c.version + 1, updated_at = now()
        FROM unnest(${sql.param(buyers.map((b) => b.customerId))}::uuid[],
                    ${sql.param(buyers.map((b) => b.firstOrderAt.toISOString()))}::timestamptz[]) AS b(id, first_order_at)
        WHERE c.id = b.id AND c.status = 'potential'
        RETURNING c.tenant_id, c.id, c.lifecycle_phase,
          -- never before the customer's last recorded change (one back to potential whose first
          -- order now is an older one: the history stays in order)
          greatest(b.first_order_at, (SELECT max(h.changed_at) FROM customer_status_history h
            WHERE h.tenant_id = c.tenant_id AND h.customer_id = c.id)) AS changed_at
      )
      INSERT INTO customer_status_history
        (tenant_id, id, customer_id, from_status, to_status, from_phase, to_phase, reason, changed_at)
      SELECT tenant_id, vinculo_uuidv7(), id, 'potential', 'active', lifecycle_phase, lifecycle_phase, 'first_order',
        changed_at
      FROM moved
      RETURNING customer_id, from_status, to_status, from_phase, to_phase, reason, changed_at`);
    return result.rows.map((r) => ({
      customerId: r.customer_id,
      fromStatus: r.from_status,
      toStatus: r.to_status,
      fromPhase: r.from_phase,
      toPhase: r.to_phase,
      reason: r.reason,
      changedAt: new Date(r.changed_at),
    }));
  },

  /**
   * Which of these ids are customers of the tenant, locked until the transaction ends: writers that
   * touch the same customers are serialized (in id order, so two of them never deadlock).
   */
  async lockExisting(
    tx: Tx,
    ids: readonly string[],
    mode: 'NO KEY UPDATE' | 'UPDATE' | 'KEY SHARE' = 'NO KEY UPDATE',
  ): Promise<Set<string>> {
    if (!ids.length) return new Set();
    // one primary-key probe per id, in id order (lowercase text sorts as the uuids do; a LATERAL with
    // LIMIT is never flattened into a join): the plan is the same whatever the statistics say
    const result = await tx.execute<{ id: string }>(sql`
      SELECT c.id FROM unnest(${sql.param([...new Set(ids.map((id) => id.toLowerCase()))].sort())}::uuid[]) AS k(id)
      CROSS JOIN LATERAL (
        SELECT id FROM customers WHERE tenant_id = vinculo_current_tenant() AND id = k.id LIMIT 1 FOR ${sql.raw(mode)}
      ) c`);
    return new Set(result.rows.map((r) => r.id));
  },

  statusTimeline(tx: Tx, customerId: string, position: Position | undefined, limit: number) {
    return tx
      .select()
      .from(customerStatusHistory)
      .where(
        and(
          eq(customerStatusHistory.customerId, customerId),
          before(customerStatusHistory.changedAt, customerStatusHistory.id, position),
        ),
      )
      .orderBy(desc(customerStatusHistory.changedAt), desc(customerStatusHistory.id))
      .limit(limit);
  },

  async insertConsentChanges(tx: Tx, rows: (typeof customerConsentHistory.$inferInsert)[]) {
    if (rows.length) await tx.insert(customerConsentHistory).values(rows);
  },

  consentHistory(tx: Tx, customerId: string) {
    return tx
      .select()
      .from(customerConsentHistory)
      .where(eq(customerConsentHistory.customerId, customerId))
      .orderBy(customerConsentHistory.at, customerConsentHistory.id);
  },

  statusHistory(tx: Tx, customerId: string) {
    return tx
      .select()
      .from(customerStatusHistory)
      .where(eq(customerStatusHistory.customerId, customerId))
      .orderBy(asc(customerStatusHistory.changedAt), asc(customerStatusHistory.id));
  },

  list(tx: Tx, filter: ListCustomersFilter, after: string | undefined, limit: number, searchEmail: boolean) {
    const conditions: SQL[] = [];
    if (filter.status) conditions.push(eq(customers.status, filter.status));
    if (filter.tag) conditions.push(sql`${customers.tags} @> ARRAY[${filter.tag}]::text[]`);
    if (filter.email) conditions.push(eq(customers.email, filter.email.trim().toLowerCase()));
    if (filter.externalId) conditions.push(eq(customers.externalId, filter.externalId));
    if (filter.updatedSince) conditions.push(gte(customers.updatedAt, new Date(filter.updatedSince)));
    if (filter.q) {
      const prefix = likePrefix(filter.q.toLowerCase());
      conditions.push(
        or(
          sql`lower(${customers.firstName}) LIKE ${prefix}`,
          sql`lower(${customers.lastName}) LIKE ${prefix}`,
          searchEmail ? sql`${customers.email} LIKE ${prefix}` : undefined,
        )!,
      );
    }
    if (after) conditions.push(gt(customers.id, after));
    return tx
      .select()
      .from(customers)
      .where(and(...conditions))
      .orderBy(asc(customers.id))
      .limit(limit + 1);
  },

  /** Erasure: the histories go, then the row loses every personal field (and leaves every read). */
  async erase(tx: Tx, customerId: string, at: Date): Promise<boolean> {
    await tx.delete(customerConsentHistory).where(eq(customerConsentHistory.customerId, customerId));
    await tx.delete(customerStatusHistory).where(eq(customerStatusHistory.customerId, customerId));
    const result = await tx.execute<{ erased: boolean | null }>(
      sql`SELECT vinculo_erase_customer(${customerId}::uuid, ${at.toISOString()}::timestamptz) AS erased`,
    );
    return result.rows[0]?.erased === true;
  },
};
