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

  /**
   * Delivery bookkeeping (failing since, switched off): not a client's change, but the webhook as
   * read changes, so it gets a new version (a PATCH with an older ETag is refused).
   */
  async setState(
    tx: Tx,
    id: string,
    set: Pick<
      Partial<typeof webhookSubscriptions.$inferInsert>,
      'failingSince' | 'enabled' | 'disabledReason'
    >,
  ): Promise<void> {
    await tx
      .update(webhookSubscriptions)
      .set({ ...set, version: sql`${webhookSubscriptions.version} + 1`, updatedAt: sql`now()` })
      .where(eq(webhookSubscriptions.id, id));
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

  async findDelivery(
    tx: Tx,
    subscriptionId: string,
    id: string,
    forUpdate = false,
  ): Promise<DeliveryRow | undefined> {
    const query = tx
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.subscriptionId, subscriptionId), eq(webhookDeliveries.id, id)));
    const [row] = await (forUpdate ? query.for('update') : query);
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

  /** An attempt's outcome, written only while the attempt's lease is still the delivery's. */
  async recordAttempt(
    tx: Tx,
    id: string,
    lease: Date,
    set: Partial<typeof webhookDeliveries.$inferInsert>,
  ): Promise<boolean> {
    const rows = await tx
      .update(webhookDeliveries)
      .set({ ...set, leasedUntil: null })
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.leasedUntil, lease)))
      .returning({ id: webhookDeliveries.id });
    return rows.length > 0;
  },

  /**
   * Claims up to `limit` due deliveries of enabled webhooks for `leaseMs`: their next attempt moves
   * past the lease, so a worker that dies mid-attempt leaves them to the next pass (at least once).
   * A webhook never has more than `perWebhook` attempts in flight, counting other workers' leases,
   * so one slow receiver cannot take every slot. A disabled webhook's deliveries wait for it.
   */
  async claim(tx: Tx, now: Date, leaseMs: number, limit: number, perWebhook: number): Promise<Claimed[]> {
    const lease = new Date(now.getTime() + leaseMs).toISOString();
    const at = now.toISOString();
    const claimed = await tx.execute<{ id: string }>(sql`
      WITH due AS (
        -- each enabled webhook's own oldest due deliveries, as many as it may have in flight: a
        -- webhook with a backlog of thousands never hides another's from the claim
        SELECT d.tenant_id, d.id, d.subscription_id, d.next_attempt_at FROM webhook_subscriptions s
        CROSS JOIN LATERAL (
          SELECT x.tenant_id, x.id, x.subscription_id, x.next_attempt_at FROM webhook_deliveries x
          WHERE x.tenant_id = s.tenant_id AND x.subscription_id = s.id AND x.status = 'pending'
            AND x.next_attempt_at <= ${at}::timestamptz
          ORDER BY x.next_attempt_at LIMIT ${perWebhook}) d
        WHERE s.enabled),
      busy AS (
        SELECT subscription_id, count(*)::int AS n FROM webhook_deliveries
        WHERE status = 'pending' AND leased_until > ${at}::timestamptz
          AND subscription_id IN (SELECT subscription_id FROM due)
        GROUP BY subscription_id),
      fair AS (
        SELECT due.tenant_id, due.id, due.next_attempt_at,
          row_number() OVER (PARTITION BY due.subscription_id ORDER BY due.next_attempt_at)
            + coalesce(busy.n, 0) AS slot
        FROM due LEFT JOIN busy USING (subscription_id))
      UPDATE webhook_deliveries d SET next_attempt_at = ${lease}::timestamptz, leased_until = ${lease}::timestamptz
      WHERE (d.tenant_id, d.id) IN (
        SELECT w.tenant_id, w.id FROM webhook_deliveries w
        WHERE (w.tenant_id, w.id) IN (SELECT tenant_id, id FROM fair WHERE slot <= ${perWebhook})
          AND w.status = 'pending' AND w.next_attempt_at <= ${at}::timestamptz
        ORDER BY w.next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
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

  /** When the next delivery of an enabled webhook is due (a disabled one's wait for it). */
  async nextDue(tx: Tx): Promise<Date | null> {
    const [row] = await tx
      .select({ at: min(webhookDeliveries.nextAttemptAt) })
      .from(webhookDeliveries)
      .innerJoin(
        webhookSubscriptions,
        and(
          eq(webhookSubscriptions.tenantId, webhookDeliveries.tenantId),
          eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId),
          eq(webhookSubscriptions.enabled, true),
        ),
      )
      .where(eq(webhookDeliveries.status, 'pending'));
    return row?.at ?? null;
  },
};
