import { asc, eq, gt, sql } from 'drizzle-orm';
import { PgCode, pgErrorOf, type Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { tenants } from './tenants.table.ts';

export type TenantRow = typeof tenants.$inferSelect;

export const tenantsRepository = {
  async insert(tx: Tx, row: typeof tenants.$inferInsert): Promise<TenantRow> {
    try {
      const [created] = await tx.insert(tenants).values(row).returning();
      return created!;
    } catch (error) {
      if (pgErrorOf(error)?.code === PgCode.uniqueViolation) {
        throw new AppError('tenant_slug_taken', `a tenant with slug "${row.slug}" exists`);
      }
      throw error;
    }
  },

  ids(tx: Tx) {
    return tx.select({ id: tenants.id }).from(tenants);
  },

  async findById(tx: Tx, id: string): Promise<TenantRow | undefined> {
    const [row] = await tx.select().from(tenants).where(eq(tenants.id, id));
    return row;
  },

  /** The tenant's row, locked against other writers of it until the transaction ends. */
  async lockById(tx: Tx, id: string): Promise<TenantRow | undefined> {
    // NO KEY UPDATE: rows referring to the tenant (their FOR KEY SHARE checks) are not held up
    const [row] = await tx.select().from(tenants).where(eq(tenants.id, id)).for('no key update');
    return row;
  },

  /**
   * The tenant's currency, the row share-locked until the transaction ends: orders written in it
   * and a change of it (which locks the row exclusively, then looks for orders) cannot cross.
   */
  async lockCurrency(tx: Tx, id: string): Promise<string | undefined> {
    const [row] = await tx
      .select({ currency: tenants.currency })
      .from(tenants)
      .where(eq(tenants.id, id))
      .for('share');
    return row?.currency;
  },

  /** Whether the tenant has recorded any order (its amounts are in its currency). */
  async hasOrders(tx: Tx): Promise<boolean> {
    const result = await tx.execute<{ found: boolean }>(
      sql`SELECT EXISTS (SELECT 1 FROM orders WHERE tenant_id = vinculo_current_tenant()) AS found`,
    );
    return result.rows[0]!.found;
  },

  async findBySlug(tx: Tx, slug: string): Promise<TenantRow | undefined> {
    const [row] = await tx.select().from(tenants).where(eq(tenants.slug, slug));
    return row;
  },

  page(tx: Tx, after: string | undefined, limit: number): Promise<TenantRow[]> {
    return tx
      .select()
      .from(tenants)
      .where(after ? gt(tenants.id, after) : undefined)
      .orderBy(asc(tenants.id))
      .limit(limit + 1);
  },

  async update(tx: Tx, id: string, patch: Partial<typeof tenants.$inferInsert>): Promise<TenantRow> {
    const [row] = await tx
      .update(tenants)
      .set({ ...patch, updatedAt: sql`now()` })
      .where(eq(tenants.id, id))
      .returning();
    return row!;
  },
};
