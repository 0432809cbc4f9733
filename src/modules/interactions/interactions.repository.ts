import { and, asc, desc, eq, gt, gte, inArray, lt, lte, type SQL, sql } from 'drizzle-orm';
import { before, type Position, referenceProblem, type Tx } from '../../platform/db.ts';
import { anyOf, erasedIn } from '../../platform/redaction.ts';
import type { ListInteractionsFilter } from './interactions.schemas.ts';
import { interactions } from './interactions.table.ts';

export type InteractionRow = typeof interactions.$inferSelect;
type Insert = typeof interactions.$inferInsert;

const OPEN = ['open', 'in_progress', 'reopened'] as const;

function translate(error: unknown): never {
  throw (
    referenceProblem(error, {
      interactions_intermediary_fk: 'intermediaryId',
      interactions_customer_fk: 'customerId',
      interactions_reply_to_fk: 'replyTo',
    }) ?? error
  );
}

export const interactionsRepository = {
  async insert(tx: Tx, row: Insert): Promise<InteractionRow> {
    try {
      const [created] = await tx.insert(interactions).values(row).returning();
      return created!;
    } catch (error) {
      translate(error);
    }
  },

  async findById(tx: Tx, id: string, forUpdate = false): Promise<InteractionRow | undefined> {
    const query = tx.select().from(interactions).where(eq(interactions.id, id));
    const [row] = forUpdate ? await query.for('update') : await query;
    return row;
  },

  async update(tx: Tx, id: string, patch: Partial<Insert>): Promise<InteractionRow> {
    try {
      const [row] = await tx
        .update(interactions)
        .set({ ...patch, version: sql`${interactions.version} + 1`, updatedAt: sql`now()` })
        .where(eq(interactions.id, id))
        .returning();
      return row!;
    } catch (error) {
      translate(error);
    }
  },

  list(tx: Tx, filter: ListInteractionsFilter, after: string | undefined, limit: number) {
    const c: SQL[] = [];
    if (filter.customerId) c.push(eq(interactions.customerId, filter.customerId));
    if (filter.type) c.push(eq(interactions.type, filter.type));
    if (filter.channel) c.push(eq(interactions.channel, filter.channel));
    if (filter.status) c.push(eq(interactions.caseStatus, filter.status));
    if (filter.intermediaryId) c.push(eq(interactions.intermediaryId, filter.intermediaryId));
    if (filter.from) c.push(gte(interactions.occurredAt, new Date(filter.from)));
    if (filter.to) c.push(lt(interactions.occurredAt, new Date(filter.to)));
    if (after) c.push(gt(interactions.id, after));
    return tx
      .select()
      .from(interactions)
      .where(and(...c))
      .orderBy(asc(interactions.id))
      .limit(limit + 1);
  },

  /** Each customer's open cases, oldest due first, at most `perCustomer` each (one query for the batch). */
  async openCases(tx: Tx, customerIds: readonly string[], perCustomer: number): Promise<InteractionRow[]> {
    const ranked = tx
      .select({
        id: interactions.id,
        rank: sql<number>`row_number() OVER (PARTITION BY ${interactions.customerId} ORDER BY ${interactions.dueAt}, ${interactions.id})`.as(
          'rank',
        ),
      })
      .from(interactions)
      .where(
        and(inArray(interactions.customerId, [...customerIds]), inArray(interactions.caseStatus, [...OPEN])),
      )
      .as('ranked');
    const rows = await tx
      .select({ row: interactions })
      .from(interactions)
      .innerJoin(ranked, eq(ranked.id, interactions.id))
      .where(lte(ranked.rank, perCustomer))
      .orderBy(asc(interactions.dueAt), asc(interactions.id));
    return rows.map((r) => r.row);
  },

  async voice(tx: Tx, customerIds: readonly string[]) {
    const result = await tx.execute<{ customer_id: string; open_cases: number; last_at: Date | null }>(sql`
      SELECT c.id AS customer_id,
        (SELECT count(*) FROM interactions i WHERE i.tenant_id = vinculo_current_tenant() AND i.customer_id = c.id
           AND i.case_status IN ('open', 'in_progress', 'reopened'))::int AS open_cases,
        (SELECT max(occurred_at) FROM interactions i WHERE i.tenant_id = vinculo_current_tenant() AND i.customer_id = c.id) AS last_at
      FROM unnest(${sql.param([...customerIds])}::uuid[]) AS c(id)`);
    return result.rows;
  },

  /** Marks the open cases whose first reply or resolution is overdue; returns them. */
  markBreaches(tx: Tx, now: Date) {
    return tx
      .update(interactions)
      .set({ slaBreached: true, version: sql`${interactions.version} + 1`, updatedAt: sql`now()` })
      .where(
        and(
          inArray(interactions.caseStatus, [...OPEN]),
          eq(interactions.slaBreached, false),
          sql`((${interactions.firstResponseAt} IS NULL AND ${interactions.firstResponseDueAt} < ${now}) OR ${interactions.dueAt} < ${now})`,
        ),
      )
      .returning({
        id: interactions.id,
        customerId: interactions.customerId,
        type: interactions.type,
        firstResponseDueAt: interactions.firstResponseDueAt,
        dueAt: interactions.dueAt,
      });
  },

  /** A page of a customer's timeline: interactions newest first, before a (time, id) position. */
  timeline(tx: Tx, customerId: string, position: Position | undefined, limit: number) {
    return tx
      .select()
      .from(interactions)
      .where(
        and(
          eq(interactions.customerId, customerId),
          before(interactions.occurredAt, interactions.id, position),
        ),
      )
      .orderBy(desc(interactions.occurredAt), desc(interactions.id))
      .limit(limit);
  },

  async voiceInsights(tx: Tx, from: Date | undefined, to: Date | undefined, timezone: string, now: Date) {
    const period = sql`i.tenant_id = vinculo_current_tenant() AND i.case_status IS NOT NULL
      ${from ? sql`AND i.occurred_at >= ${from}` : sql``} ${to ? sql`AND i.occurred_at < ${to}` : sql``}`;
    const counts = (key: SQL) =>
      tx
        .execute<{ key: string; cases: number }>(sql`
          SELECT ${key} AS key, count(*)::int AS cases FROM interactions i WHERE ${period} GROUP BY 1 ORDER BY 1`)
        .then((r) => r.rows);
    const [summary] = (
      await tx.execute<{
        cases: number;
        answered_on_time: number;
        answerable: number;
        median_first: number | null;
        median_resolution: number | null;
      }>(sql`
        SELECT count(*)::int AS cases,
          -- first_response_at: the earliest reply, or the resolution when none came before it
          count(*) FILTER (WHERE i.first_response_at <= i.first_response_due_at)::int AS answered_on_time,
          count(*) FILTER (WHERE i.first_response_at IS NOT NULL
            OR i.first_response_due_at < ${now})::int AS answerable,
          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM i.first_response_at - i.occurred_at) / 3600)
            FILTER (WHERE i.first_response_at IS NOT NULL) AS median_first,
          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM i.resolved_at - i.occurred_at) / 3600)
            FILTER (WHERE i.resolved_at IS NOT NULL) AS median_resolution
        FROM interactions i WHERE ${period}`)
    ).rows;
    const backlog = (
      await tx.execute<{ age: string; cases: number }>(sql`
        SELECT CASE WHEN ${now}::timestamptz - i.occurred_at < interval '1 day' THEN '<1d'
                    WHEN ${now}::timestamptz - i.occurred_at < interval '3 days' THEN '1-3d'
                    WHEN ${now}::timestamptz - i.occurred_at < interval '7 days' THEN '3-7d'
                    ELSE '>7d' END AS age, count(*)::int AS cases
        FROM interactions i
        WHERE i.tenant_id = vinculo_current_tenant() AND i.case_status IN ('open', 'in_progress', 'reopened')
        GROUP BY 1`)
    ).rows;
    return {
      summary: summary!,
      byType: await counts(sql`i.type`),
      byChannel: await counts(sql`i.channel`),
      byMonth: await counts(sql`to_char(i.occurred_at AT TIME ZONE ${timezone}, 'YYYY-MM')`),
      backlog,
    };
  },

  /**
   * Erasure: other customers' interactions that quote one of these values (an email, a phone) keep
   * their text with the value replaced by [erased]; their metadata, if it quotes one, is cleared.
   */
  async replaceValues(tx: Tx, values: readonly string[]): Promise<void> {
    if (!values.length) return;
    const pattern = anyOf(values);
    const t = interactions;
    await tx.execute(sql`
      UPDATE interactions SET subject = ${erasedIn(sql`${t.subject}`, pattern)},
        body = ${erasedIn(sql`${t.body}`, pattern)},
        resolution_note = ${erasedIn(sql`${t.resolutionNote}`, pattern)},
        -- metadata is structured: one that quotes a value is cleared rather than edited as text
        metadata = CASE WHEN ${t.metadata}::text ~* ${pattern} THEN '{}'::jsonb ELSE ${t.metadata} END,
        -- a changed representation: a new version (and ETag), so no client keeps the old text as current
        version = ${t.version} + 1, updated_at = now()
      WHERE concat_ws(' ', ${t.subject}, ${t.body}, ${t.resolutionNote}, ${t.metadata}::text) ~* ${pattern}`);
  },

  /** Erasure: the customer's interactions keep their kind, channel and case times, not their words. */
  async scrubCustomer(tx: Tx, customerId: string): Promise<void> {
    await tx
      .update(interactions)
      .set({
        subject: null,
        body: null,
        metadata: {},
        tags: [],
        resolutionNote: null,
        version: sql`${interactions.version} + 1`,
        updatedAt: sql`now()`,
      })
      .where(eq(interactions.customerId, customerId));
  },
};
