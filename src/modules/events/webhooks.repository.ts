import { and, asc, desc, eq, gt, lt, min, sql } from 'drizzle-orm';
import type { Tx } from '../../platform/db.ts';
import { events } from './events.table.ts';
import { webhookDeliveries, webhookSubscriptions } from './webhooks.table.ts';

export type SubscriptionRow = typeof webhookSubscriptions.$inferSelect;
export type DeliveryRow = typeof webhookDeliveries.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type Claimed = { delivery: DeliveryRow; subscription: SubscriptionRow; event: EventRow };

export const webhooksRepository = {
  async insert(tx: Tx, row: typeof webhookSubscriptions.$inferInsert): Promise<SubscriptionRow> {
    const [inserted] = await tx.insert(webhookSubscriptions).values(row).returning();
    return inserted!;
  },

  async update(
    tx: Tx,
    id: string,
    set: Partial<typeof webhookSubscriptions.$inferInsert>,
  ): Promise<SubscriptionRow> {
    const [row] = await tx
      .update(webhookSubscriptions)
      .set({ ...set, version: sql`${webhookSubscriptions.version} + 1`, updatedAt: sql`now()` })
      .where(eq(webhookSubscriptions.id, id))
      .returning();
    return row!;
  },

  /** Delivery bookkeeping (failing since, switched off): not a client's change, so no new version. */
  async setState(
    tx: Tx,
    id: string,
    set: Pick<
      Partial<typeof webhookSubscriptions.$inferInsert>,
      'failingSince' | 'enabled' | 'disabledReason'
    >,
  ): Promise<void> {
    await tx.update(webhookSubscriptions).set(set).where(eq(webhookSubscriptions.id, id));
  },

  async findById(tx: Tx, id: string, forUpdate = false): Promise<SubscriptionRow | undefined> {
    const query = tx.select().from(webhookSubscriptions).where(eq(webhookSubscriptions.id, id));
    const [row] = await (forUpdate ? query.for('update') : query);
    return row;
  },

  list(tx: Tx, after: string | undefined, limit: number): Promise<SubscriptionRow[]> {
    return tx
      .select()
      .from(webhookSubscriptions)
      .where(after ? gt(webhookSubscriptions.id, after) : undefined)
      .orderBy(asc(webhookSubscriptions.id))
      .limit(limit + 1);
  },

  async remove(tx: Tx, id: string): Promise<void> {
    await tx.delete(webhookSubscriptions).where(eq(webhookSubscriptions.id, id));
  },

  deliveries(
    tx: Tx,
    subscriptionId: string,
    status: DeliveryRow['status'] | undefined,
    before: string | undefined,
    limit: number,
  ): Promise<DeliveryRow[]> {
    return tx
      .select()
      .from(webhookDeliveries)
      .where(
        and(
          eq(webhookDeliveries.subscriptionId, subscriptionId),
          status ? eq(webhookDeliveries.status, status) : undefined,
          before ? lt(webhookDeliveries.id, before) : undefined,
        ),
      )
      .orderBy(desc(webhookDeliveries.id))
      .limit(limit + 1);
  },

  async findDelivery(tx: Tx, subscriptionId: string, id: string): Promise<DeliveryRow | undefined> {
    const [row] = await tx
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.subscriptionId, subscriptionId), eq(webhookDeliveries.id, id)));
    return row;
  },

  async insertDelivery(tx: Tx, row: typeof webhookDeliveries.$inferInsert): Promise<DeliveryRow> {
    const [inserted] = await tx.insert(webhookDeliveries).values(row).returning();
    return inserted!;
  },

  async updateDelivery(
    tx: Tx,
    id: string,
    set: Partial<typeof webhookDeliveries.$inferInsert>,
  ): Promise<DeliveryRow> {
    const [row] = await tx.update(webhookDeliveries).set(set).where(eq(webhookDeliveries.id, id)).returning();
    return row!;
  },

  /**
   * Claims up to `limit` due deliveries for `leaseMs`: their next attempt moves past the lease, so a
   * worker that dies mid-attempt leaves them to the next pass (at least once).
   */
  async claim(tx: Tx, now: Date, leaseMs: number, limit: number): Promise<Claimed[]> {
    const lease = new Date(now.getTime() + leaseMs).toISOString();
    const claimed = await tx.execute<{ id: string }>(sql`
      UPDATE webhook_deliveries d SET next_attempt_at = ${lease}::timestamptz
      WHERE (d.tenant_id, d.id) IN (
        SELECT tenant_id, id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= ${now.toISOString()}::timestamptz
        ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING d.id`);
    if (!claimed.rows.length) return [];
    const rows = await tx
      .select({ delivery: webhookDeliveries, subscription: webhookSubscriptions, event: events })
      .from(webhookDeliveries)
      .innerJoin(
        webhookSubscriptions,
        and(
          eq(webhookSubscriptions.tenantId, webhookDeliveries.tenantId),
          eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId),
        ),
      )
      .innerJoin(
        events,
        and(eq(events.tenantId, webhookDeliveries.tenantId), eq(events.id, webhookDeliveries.eventId)),
      )
      .where(sql`${webhookDeliveries.id} = ANY(${sql.param(claimed.rows.map((r) => r.id))}::uuid[])`);
    return rows;
  },

  async nextDue(tx: Tx): Promise<Date | null> {
    const [row] = await tx
      .select({ at: min(webhookDeliveries.nextAttemptAt) })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.status, 'pending'));
    return row?.at ?? null;
  },
};
