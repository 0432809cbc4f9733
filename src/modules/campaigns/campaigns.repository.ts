import { and, asc, desc, eq, gt, inArray, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import type { Tx } from '../../platform/db.ts';
import { eraseInDocuments } from '../../platform/redaction.ts';
import { campaignMessages, campaigns } from './campaigns.table.ts';

export type CampaignRow = typeof campaigns.$inferSelect;
export type CampaignInsert = typeof campaigns.$inferInsert;
export type MessageRow = typeof campaignMessages.$inferSelect;
export type MessageInsert = typeof campaignMessages.$inferInsert;

/** A message that reached the customer (or is on its way): not skipped, held out or failed. */
const SENT = sql`status NOT IN ('skipped', 'held_out', 'failed')`;

export type ArmRow = {
  control: boolean;
  variant: string | null;
  customers: number;
  converted: number;
  revenue: number;
};
export type ShareRow = { control: boolean; targeted: number; succeeded: number };

export const campaignsRepository = {
  async insert(tx: Tx, row: CampaignInsert): Promise<CampaignRow> {
    const [inserted] = await tx.insert(campaigns).values(row).returning();
    return inserted!;
  },

  async update(tx: Tx, id: string, set: Partial<CampaignInsert>): Promise<CampaignRow> {
    const [row] = await tx
      .update(campaigns)
      .set({ ...set, version: sql`${campaigns.version} + 1`, updatedAt: sql`now()` })
      .where(eq(campaigns.id, id))
      .returning();
    return row!;
  },

  async findById(tx: Tx, id: string, forUpdate = false): Promise<CampaignRow | undefined> {
    const query = tx.select().from(campaigns).where(eq(campaigns.id, id));
    const [row] = await (forUpdate ? query.for('update') : query);
    return row;
  },

  list(tx: Tx, status: CampaignRow['status'] | undefined, after: string | undefined, limit: number) {
    return tx
      .select()
      .from(campaigns)
      .where(
        and(status ? eq(campaigns.status, status) : undefined, after ? gt(campaigns.id, after) : undefined),
      )
      .orderBy(asc(campaigns.id))
      .limit(limit + 1);
  },

  /**
   * The campaigns in these statuses; with `lockFree`, locked (without blocking the messages that
   * refer to them) and leaving out those another transaction holds (a run in progress, a launch)
   */
  /**
   * The campaigns in these statuses. `skip`: locked to be changed, skipping those another transaction
   * holds; `share`: locked against a change (a pause waits for the caller, or the caller for the pause
   * and then no longer finds the campaign in these statuses).
   */
  withStatus(tx: Tx, statuses: CampaignRow['status'][], lock?: 'skip' | 'share'): Promise<CampaignRow[]> {
    const query = tx
      .select()
      .from(campaigns)
      .where(inArray(campaigns.status, statuses))
      .orderBy(asc(campaigns.id));
    if (lock === 'skip') return query.for('no key update', { skipLocked: true });
    return lock === 'share' ? query.for('share') : query;
  },

  /** Whether a scheduled run of the campaign has taken anyone in (its messages' occurrences say so). */
  async hasRun(tx: Tx, campaignId: string): Promise<boolean> {
    const result = await tx.execute(sql`
      SELECT 1 FROM campaign_messages
      WHERE campaign_id = ${campaignId}::uuid AND occurrence LIKE 'run:%' LIMIT 1`);
    return result.rows.length > 0;
  },

  /** Messages inserted; an occurrence already recorded for the customer is left as it was. */
  async insertMessages(tx: Tx, rows: MessageInsert[]): Promise<MessageRow[]> {
    if (!rows.length) return [];
    return tx.insert(campaignMessages).values(rows).onConflictDoNothing().returning();
  },

  /**
   * A page (by customer id, after `after`) of the birthday entries of `audience` (a query of customer
   * ids) not yet recorded for the campaign: each customer with a birth date, keyed by the year of their
   * next birthday seen from `today` (YYYY-MM-DD, the tenant's calendar; a birthday today is this
   * year's). The anti-join runs in SQL, so the customers already wished this year never leave the
   * database, however many the window holds.
   */
  async birthdaysToEnter(
    tx: Tx,
    campaignId: string,
    audience: SQL,
    today: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ customerId: string; occurrence: string }[]> {
    const result = await tx.execute<{ customer_id: string; occurrence: string }>(sql`
      SELECT e.customer_id, e.occurrence FROM (
        SELECT t.id AS customer_id, 'birthday:' || (${Number(today.slice(0, 4))}::int
          + CASE WHEN to_char(cu.birth_date, 'MM-DD') >= ${today.slice(5)} THEN 0 ELSE 1 END) AS occurrence
        FROM (${audience}) t
        JOIN customers cu ON cu.tenant_id = vinculo_current_tenant() AND cu.id = t.id AND cu.birth_date IS NOT NULL
        ${after ? sql`WHERE t.id > ${after}::uuid` : sql``}
      ) e
      WHERE NOT EXISTS (
        SELECT 1 FROM campaign_messages m
        WHERE m.tenant_id = vinculo_current_tenant() AND m.campaign_id = ${campaignId}::uuid
          AND m.customer_id = e.customer_id AND m.occurrence = e.occurrence)
      ORDER BY e.customer_id LIMIT ${limit}`);
    return result.rows.map((r) => ({ customerId: r.customer_id, occurrence: r.occurrence }));
  },

  /** The entries not yet recorded: an occurrence a customer already entered is not decided again. */
  async unrecorded(
    tx: Tx,
    campaignId: string,
    entries: readonly { customerId: string; occurrence: string }[],
  ): Promise<{ customerId: string; occurrence: string }[]> {
    if (!entries.length) return [];
    const result = await tx.execute<{ customer_id: string; occurrence: string }>(sql`
      SELECT m.customer_id, m.occurrence FROM campaign_messages m
      JOIN unnest(${sql.param(entries.map((e) => e.customerId))}::uuid[],
                  ${sql.param(entries.map((e) => e.occurrence))}::text[]) AS e(customer_id, occurrence)
        ON m.customer_id = e.customer_id AND m.occurrence = e.occurrence
      WHERE m.campaign_id = ${campaignId}::uuid`);
    const done = new Set(result.rows.map((r) => `${r.customer_id} ${r.occurrence}`));
    return entries.filter((e) => !done.has(`${e.customerId.toLowerCase()} ${e.occurrence}`));
  },

  /** Messages sent to each customer since a time, across campaigns (the frequency cap). */
  async sentSince(tx: Tx, customerIds: readonly string[], since: Date): Promise<Map<string, number>> {
    const result = await tx.execute<{ customer_id: string; n: number }>(sql`
      SELECT customer_id, count(*)::int AS n FROM campaign_messages
      WHERE customer_id = ANY(${sql.param(customerIds)}::uuid[]) AND entered_at >= ${since.toISOString()}::timestamptz AND ${SENT}
      GROUP BY customer_id`);
    return new Map(result.rows.map((r) => [r.customer_id, r.n]));
  },

  messages(
    tx: Tx,
    campaignId: string,
    status: MessageRow['status'] | undefined,
    before: string | undefined,
    limit: number,
  ) {
    return tx
      .select()
      .from(campaignMessages)
      .where(
        and(
          eq(campaignMessages.campaignId, campaignId),
          status ? eq(campaignMessages.status, status) : undefined,
          before ? lt(campaignMessages.id, before) : undefined,
        ),
      )
      .orderBy(desc(campaignMessages.id))
      .limit(limit + 1);
  },

  messagesByIds(tx: Tx, ids: readonly string[]): Promise<MessageRow[]> {
    return ids.length
      ? tx
          .select()
          .from(campaignMessages)
          .where(inArray(campaignMessages.id, [...ids]))
          .for('update')
      : Promise.resolve([]);
  },

  async updateMessage(tx: Tx, id: string, set: Partial<MessageInsert>): Promise<void> {
    await tx.update(campaignMessages).set(set).where(eq(campaignMessages.id, id));
  },

  timeline(tx: Tx, customerId: string, before: { at: Date; id: string } | undefined, limit: number) {
    return tx
      .select()
      .from(campaignMessages)
      .where(
        and(
          eq(campaignMessages.customerId, customerId),
          before
            ? sql`(${campaignMessages.enteredAt}, ${campaignMessages.id}) < (${before.at}, ${before.id}::uuid)`
            : undefined,
        ),
      )
      .orderBy(desc(campaignMessages.enteredAt), desc(campaignMessages.id))
      .limit(limit);
  },

  async takeInbox(tx: Tx, limit: number): Promise<string[]> {
    const result = await tx.execute<{ event_id: string }>(sql`
      DELETE FROM campaign_inbox WHERE (tenant_id, event_id) IN (
        SELECT tenant_id, event_id FROM campaign_inbox ORDER BY event_id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING event_id`);
    return result.rows.map((r) => r.event_id);
  },

  /**
   * The running campaigns with a run due and not past their end, locked: a pause or a completion
   * waits for the run (or the run for it, and then finds the campaign no longer running), and a
   * second runner of the same tenant finds the run done.
   */
  dueRuns(tx: Tx, now: Date): Promise<CampaignRow[]> {
    return (
      tx
        .select()
        .from(campaigns)
        .where(
          and(
            eq(campaigns.status, 'running'),
            lte(campaigns.nextRunAt, now),
            or(isNull(campaigns.endsAt), gt(campaigns.endsAt, now)),
          ),
        )
        .orderBy(asc(campaigns.id))
        // not FOR UPDATE: the run's own messages (and the inbox's for other events) refer to the row
        .for('no key update')
    );
  },

  async forgetCustomer(tx: Tx, customerId: string): Promise<void> {
    await tx
      .update(campaignMessages)
      .set({ subject: null, body: null })
      .where(eq(campaignMessages.customerId, customerId));
  },

  /** The campaigns not yet over whose audience, exclusions, variants or trigger name this segment. */
  async referring(tx: Tx, segmentId: string): Promise<{ id: string; name: string }[]> {
    const result = await tx.execute<{ id: string; name: string }>(sql`
      SELECT id, name FROM campaigns
      WHERE status IN ('draft', 'scheduled', 'running', 'paused')
        AND (${segmentId}::uuid = ANY(segment_ids) OR ${segmentId}::uuid = ANY(exclude_segment_ids)
          -- as uuids, whatever the case each was written in
          OR (trigger ->> 'segmentId')::uuid = ${segmentId}::uuid
          OR EXISTS (SELECT 1 FROM jsonb_array_elements(variants) v WHERE (v ->> 'segmentId')::uuid = ${segmentId}::uuid))
      ORDER BY name`);
    return result.rows;
  },

  /** Erasure: variants that quote one of these values quote `[erased]` instead, wherever in their text. */
  replaceValues(tx: Tx, values: readonly string[]): Promise<void> {
    return eraseInDocuments(tx, 'campaigns', 'variants', values);
  },

  /** Counts by status and skip reason. */
  async funnel(tx: Tx, campaignId: string) {
    const result = await tx.execute<{
      status: string;
      reason: string | null;
      n: number;
      delivered: number;
      opened: number;
      clicked: number;
    }>(sql`
      SELECT status, CASE WHEN status = 'skipped' THEN reason END AS reason, count(*)::int AS n,
        count(delivered_at)::int AS delivered, count(opened_at)::int AS opened, count(clicked_at)::int AS clicked
      FROM campaign_messages WHERE campaign_id = ${campaignId}::uuid GROUP BY 1, 2`);
    return result.rows;
  },

  /**
   * Each arm (treatment by variant, and control: every entry not skipped) with its conversions: an order (neither cancelled
   * nor refunded) by the customer after their first entry, within the window and with no later
   * message of another campaign before it (last touch), or carrying one of the campaign's coupon codes.
   */
  async arms(tx: Tx, campaign: CampaignRow, codes: string[]): Promise<ArmRow[]> {
    const result = await tx.execute<ArmRow>(sql`
      WITH arm AS (
        SELECT customer_id, min(entered_at) AS at, bool_or(status = 'held_out') AS control,
          (array_agg(variant ORDER BY entered_at) FILTER (WHERE variant IS NOT NULL))[1] AS variant
        FROM campaign_messages
        -- intent to treat: every entry past the holdout decision is in its arm, a failed one too (a
        -- render or send failure happens only to the treatment: leaving those out biases the lift)
        WHERE campaign_id = ${campaign.id}::uuid AND status <> 'skipped'
        GROUP BY customer_id),
      attributed AS (
        SELECT a.customer_id, o.base_total - o.base_refunded AS net
        FROM arm a JOIN orders o ON o.customer_id = a.customer_id
        WHERE o.status NOT IN ('cancelled', 'refunded') AND o.placed_at >= a.at
          AND ((o.coupon_code IS NOT NULL AND o.coupon_code = ANY(${sql.param(codes)}::text[]))
            OR (o.placed_at <= a.at + ${campaign.attributionWindowDays} * interval '1 day'
              AND NOT EXISTS (
                SELECT 1 FROM campaign_messages x
                WHERE x.customer_id = o.customer_id AND x.campaign_id <> ${campaign.id}::uuid
                  AND ${SENT} AND x.entered_at > a.at AND x.entered_at <= o.placed_at))))
      SELECT a.control, a.variant, count(DISTINCT a.customer_id)::int AS customers,
        count(DISTINCT t.customer_id)::int AS converted, coalesce(sum(t.net), 0)::bigint AS revenue
      FROM arm a LEFT JOIN attributed t ON t.customer_id = a.customer_id
      GROUP BY a.control, a.variant`);
    return result.rows;
  },

  /** Reactivation: targeted inactive customers, and those who became active again after entering. */
  async reactivated(tx: Tx, campaignId: string): Promise<ShareRow[]> {
    const result = await tx.execute<ShareRow>(sql`
      WITH arm AS (
        SELECT customer_id, min(entered_at) AS at, bool_or(status = 'held_out') AS control FROM campaign_messages
        WHERE campaign_id = ${campaignId}::uuid AND status NOT IN ('skipped', 'failed') AND status_at_entry = 'inactive'
        GROUP BY customer_id)
      SELECT a.control, count(*)::int AS targeted,
        count(*) FILTER (WHERE EXISTS (
          SELECT 1 FROM customer_status_history h WHERE h.customer_id = a.customer_id
            AND h.to_status = 'active' AND h.changed_at >= a.at))::int AS succeeded
      FROM arm a GROUP BY a.control`);
    return result.rows;
  },

  /** Recovery: targeted customers, and those kept (an order after entering, and not inactive now). */
  async kept(tx: Tx, campaignId: string): Promise<ShareRow[]> {
    const result = await tx.execute<ShareRow>(sql`
      WITH arm AS (
        SELECT customer_id, min(entered_at) AS at, bool_or(status = 'held_out') AS control FROM campaign_messages
        WHERE campaign_id = ${campaignId}::uuid AND status NOT IN ('skipped', 'failed')
        GROUP BY customer_id)
      SELECT a.control, count(*)::int AS targeted,
        count(*) FILTER (WHERE EXISTS (
          SELECT 1 FROM orders o WHERE o.customer_id = a.customer_id AND o.placed_at >= a.at
            AND o.status NOT IN ('cancelled', 'refunded'))
          AND EXISTS (SELECT 1 FROM customers c WHERE c.id = a.customer_id AND c.status <> 'inactive'))::int AS succeeded
      FROM arm a GROUP BY a.control`);
    return result.rows;
  },
};
