import { and, asc, eq, gt, type SQL, sql } from 'drizzle-orm';
import { PgCode, pgErrorOf, type Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import type { ListIntermediariesFilter } from './intermediaries.schemas.ts';
import { intermediaries } from './intermediaries.table.ts';

export type IntermediaryRow = typeof intermediaries.$inferSelect;
type Insert = typeof intermediaries.$inferInsert;

function translate(error: unknown): never {
  const pg = pgErrorOf(error);
  if (pg?.code === PgCode.uniqueViolation && pg.constraint === 'intermediaries_external_id_key') {
    throw new AppError('intermediary_external_id_taken', 'another intermediary has this externalId');
  }
  throw error;
}

export const intermediariesRepository = {
  async insert(tx: Tx, row: Insert): Promise<IntermediaryRow> {
    try {
      const [created] = await tx.insert(intermediaries).values(row).returning();
      return created!;
    } catch (error) {
      translate(error);
    }
  },

  async findById(tx: Tx, id: string, forUpdate = false): Promise<IntermediaryRow | undefined> {
    const query = tx.select().from(intermediaries).where(eq(intermediaries.id, id));
    const [row] = forUpdate ? await query.for('update') : await query;
    return row;
  },

  async findByIds(tx: Tx, ids: readonly string[], lock?: 'share'): Promise<IntermediaryRow[]> {
    if (!ids.length) return [];
    const query = tx
      .select()
      .from(intermediaries)
      .where(sql`${intermediaries.id} = ANY(${sql.param([...ids])}::uuid[])`);
    return lock ? query.for('share') : query;
  },

  async update(tx: Tx, id: string, patch: Partial<Insert>): Promise<IntermediaryRow> {
    try {
      const [row] = await tx
        .update(intermediaries)
        .set({ ...patch, version: sql`${intermediaries.version} + 1`, updatedAt: sql`now()` })
        .where(eq(intermediaries.id, id))
        .returning();
      return row!;
    } catch (error) {
      translate(error);
    }
  },

  list(tx: Tx, filter: ListIntermediariesFilter, after: string | undefined, limit: number) {
    const conditions: SQL[] = [];
    if (filter.kind) conditions.push(eq(intermediaries.kind, filter.kind));
    if (filter.active !== undefined) conditions.push(eq(intermediaries.active, filter.active));
    if (after) conditions.push(gt(intermediaries.id, after));
    return tx
      .select()
      .from(intermediaries)
      .where(and(...conditions))
      .orderBy(asc(intermediaries.id))
      .limit(limit + 1);
  },
};
