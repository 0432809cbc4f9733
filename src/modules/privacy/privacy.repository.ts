import { and, desc, eq, gte, lt, lte, type SQL, sql } from 'drizzle-orm';
import type { Tx } from '../../platform/db.ts';
import { auditLog, customerErasures } from './privacy.table.ts';

export type ErasureRow = typeof customerErasures.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
export type AuditFilter = {
  actor?: string;
  kind?: AuditRow['kind'];
  action?: string;
  resource?: string;
  from?: string;
  to?: string;
};

export const privacyRepository = {
  async erasure(tx: Tx, customerId: string): Promise<ErasureRow | undefined> {
    const [row] = await tx.select().from(customerErasures).where(eq(customerErasures.customerId, customerId));
    return row;
  },

  async recordErasure(tx: Tx, row: typeof customerErasures.$inferInsert): Promise<ErasureRow> {
    const [inserted] = await tx.insert(customerErasures).values(row).returning();
    return inserted!;
  },

  async insertAudit(tx: Tx, row: typeof auditLog.$inferInsert): Promise<void> {
    await tx.insert(auditLog).values(row);
  },

  audit(tx: Tx, filter: AuditFilter, before: string | undefined, limit: number): Promise<AuditRow[]> {
    const conditions: (SQL | undefined)[] = [
      filter.actor ? eq(auditLog.actor, filter.actor) : undefined,
      filter.kind ? eq(auditLog.kind, filter.kind) : undefined,
      filter.action ? sql`starts_with(${auditLog.action}, ${filter.action})` : undefined,
      filter.resource ? eq(auditLog.resource, filter.resource) : undefined,
      filter.from ? gte(auditLog.at, new Date(filter.from)) : undefined,
      filter.to ? lte(auditLog.at, new Date(filter.to)) : undefined,
      before ? lt(auditLog.id, before) : undefined,
    ];
    return tx
      .select()
      .from(auditLog)
      .where(and(...conditions))
      .orderBy(desc(auditLog.id))
      .limit(limit + 1);
  },
};
