import { asc, eq, gt, sql } from 'drizzle-orm';
import { PgCode, pgErrorOf, type Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { customers } from '../customers/customers.table.ts';
import { attributeDefinitions } from './attributes.table.ts';

export type AttributeRow = typeof attributeDefinitions.$inferSelect;

export const attributesRepository = {
  async insert(tx: Tx, row: typeof attributeDefinitions.$inferInsert): Promise<AttributeRow> {
    try {
      const [created] = await tx.insert(attributeDefinitions).values(row).returning();
      return created!;
    } catch (error) {
      if (pgErrorOf(error)?.code === PgCode.uniqueViolation) {
        throw new AppError('attribute_key_taken', `an attribute with key "${row.key}" exists`);
      }
      throw error;
    }
  },

  async findById(tx: Tx, id: string): Promise<AttributeRow | undefined> {
    const [row] = await tx.select().from(attributeDefinitions).where(eq(attributeDefinitions.id, id));
    return row;
  },

  all(tx: Tx): Promise<AttributeRow[]> {
    return tx.select().from(attributeDefinitions);
  },

  page(tx: Tx, after: string | undefined, limit: number): Promise<AttributeRow[]> {
    return tx
      .select()
      .from(attributeDefinitions)
      .where(after ? gt(attributeDefinitions.id, after) : undefined)
      .orderBy(asc(attributeDefinitions.id))
      .limit(limit + 1);
  },

  async update(tx: Tx, id: string, patch: Partial<typeof attributeDefinitions.$inferInsert>) {
    const [row] = await tx
      .update(attributeDefinitions)
      .set({ ...patch, version: sql`${attributeDefinitions.version} + 1`, updatedAt: sql`now()` })
      .where(eq(attributeDefinitions.id, id))
      .returning();
    return row;
  },

  async remove(tx: Tx, id: string): Promise<void> {
    await tx.delete(attributeDefinitions).where(eq(attributeDefinitions.id, id));
  },

  /** How many customers hold the key (optionally: with one of these values). */
  async usage(tx: Tx, key: string, values?: string[]): Promise<number> {
    const hasKey = sql`${customers.attributes} ? ${key}`;
    const condition = values
      ? sql`${hasKey} AND ${customers.attributes} ->> ${key} = ANY(${sql.param(values)}::text[])`
      : hasKey;
    const [row] = await tx.select({ n: sql<number>`count(*)::int` }).from(customers).where(condition);
    return row?.n ?? 0;
  },
};
