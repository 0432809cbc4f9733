import { and, asc, desc, eq, gt, gte, lt, type SQL, sql } from 'drizzle-orm';
import { before, type Position, referenceProblem, type Tx } from '../../platform/db.ts';
import { anyOf, erasedIn } from '../../platform/redaction.ts';
import type { ListFeedbackFilter } from './feedback.schemas.ts';
import { feedback } from './feedback.table.ts';

export type FeedbackRow = typeof feedback.$inferSelect;

export const feedbackRepository = {
  async insert(tx: Tx, row: typeof feedback.$inferInsert): Promise<FeedbackRow> {
    try {
      const [created] = await tx.insert(feedback).values(row).returning();
      return created!;
    } catch (error) {
      throw (
        referenceProblem(error, {
          feedback_interaction_fk: 'interactionId',
          feedback_order_fk: 'orderId',
          feedback_customer_fk: 'customerId',
        }) ?? error
      );
    }
  },

  async findById(tx: Tx, id: string): Promise<FeedbackRow | undefined> {
    const [row] = await tx.select().from(feedback).where(eq(feedback.id, id));
    return row;
  },

  list(tx: Tx, filter: ListFeedbackFilter, after: string | undefined, limit: number) {
    const c: SQL[] = [];
    if (filter.customerId) c.push(eq(feedback.customerId, filter.customerId));
    if (filter.dimension) c.push(eq(feedback.dimension, filter.dimension));
    if (filter.from) c.push(gte(feedback.occurredAt, new Date(filter.from)));
    if (filter.to) c.push(lt(feedback.occurredAt, new Date(filter.to)));
    if (after) c.push(gt(feedback.id, after));
    return tx
      .select()
      .from(feedback)
      .where(and(...c))
      .orderBy(asc(feedback.id))
      .limit(limit + 1);
  },

  timeline(tx: Tx, customerId: string, position: Position | undefined, limit: number) {
    return tx
      .select()
      .from(feedback)
      .where(and(eq(feedback.customerId, customerId), before(feedback.occurredAt, feedback.id, position)))
      .orderBy(desc(feedback.occurredAt), desc(feedback.id))
      .limit(limit);
  },

  async satisfaction(tx: Tx, key: SQL, joinSources: boolean, from: Date | undefined, to: Date | undefined) {
    const result = await tx.execute<{
      key: string | null;
      responses: number;
      mean_expectation: number;
      mean_perception: number;
      mean_gap: number;
      nps_responses: number;
      promoters: number;
      detractors: number;
      csat_responses: number;
      satisfied: number;
      mean_csat: number | null;
    }>(sql`
      SELECT ${key} AS key, count(*)::int AS responses,
        avg(f.expectation)::float8 AS mean_expectation, avg(f.perception)::float8 AS mean_perception,
        avg(f.gap)::float8 AS mean_gap,
        count(f.nps)::int AS nps_responses,
        count(*) FILTER (WHERE f.nps >= 9)::int AS promoters,
        count(*) FILTER (WHERE f.nps <= 6)::int AS detractors,
        count(f.csat)::int AS csat_responses,
        count(*) FILTER (WHERE f.csat >= 4)::int AS satisfied,
        avg(f.csat)::float8 AS mean_csat
      FROM feedback f
      ${
        joinSources
          ? sql`LEFT JOIN interactions i ON i.tenant_id = f.tenant_id AND i.id = f.interaction_id
              LEFT JOIN orders o ON o.tenant_id = f.tenant_id AND o.id = f.order_id`
          : sql``
      }
      WHERE f.tenant_id = vinculo_current_tenant()
        ${from ? sql`AND f.occurred_at >= ${from}` : sql``} ${to ? sql`AND f.occurred_at < ${to}` : sql``}
      GROUP BY 1 ORDER BY 1 NULLS LAST`);
    return result.rows;
  },

  /** Erasure: other customers' comments that quote one of these values keep the rest of their text. */
  async replaceValues(tx: Tx, values: readonly string[]): Promise<void> {
    if (!values.length) return;
    const pattern = anyOf(values);
    await tx.execute(sql`
      UPDATE feedback SET comment = ${erasedIn(sql`${feedback.comment}`, pattern)}
      WHERE ${feedback.comment} ~* ${pattern}`);
  },

  /** Erasure: the scores stay for the tenant's statistics, the comments go. */
  async scrubCustomer(tx: Tx, customerId: string): Promise<void> {
    await tx.update(feedback).set({ comment: null }).where(eq(feedback.customerId, customerId));
  },
};
