import { and, asc, desc, eq, gt, inArray, lt, type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { PgCode, pgErrorOf, type Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { eraseInDocuments } from '../../platform/redaction.ts';
import type { EventType } from '../events/events.schemas.ts';
import { segmentHistory, segmentMembers, segmentPending, segmentReads, segments } from './segments.table.ts';

export type SegmentRow = typeof segments.$inferSelect;
export type SegmentInsert = typeof segments.$inferInsert;
export type HistoryRow = typeof segmentHistory.$inferSelect;
export type Reason = HistoryRow['reason'];
export type Emit = (type: EventType, source: SQL) => SQL;

const dialect = new PgDialect();

/** The row's customer consents to partner sharing (`alias` has a customer_id column). */
const sharing = (alias: SQL) =>
  sql`EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = ${alias}.tenant_id AND c.id = ${alias}.customer_id AND (c.consent -> 'partnerSharing' ->> 'granted')::boolean IS TRUE)`;

function translate(error: unknown): never {
  const pg = pgErrorOf(error);
  if (pg?.code === PgCode.uniqueViolation && pg.constraint === 'segments_name_key')
    throw new AppError('segment_name_taken', 'another segment has this name');
  throw error;
}

export const segmentsRepository = {
  /** Whether the tenant has a dynamic segment (the triggers mark changed customers only then). */
  async anyDynamic(tx: Tx): Promise<boolean> {
    const [row] = await tx
      .select({ id: segments.id })
      .from(segments)
      .where(eq(segments.kind, 'dynamic'))
      .limit(1);
    return row !== undefined;
  },

  async insert(tx: Tx, row: SegmentInsert): Promise<SegmentRow> {
    try {
      const [inserted] = await tx.insert(segments).values(row).returning();
      return inserted!;
    } catch (error) {
      translate(error);
    }
  },

  async update(tx: Tx, id: string, set: Partial<SegmentInsert>): Promise<SegmentRow> {
    try {
      const [row] = await tx
        .update(segments)
        .set({ ...set, version: sql`${segments.version} + 1`, updatedAt: sql`now()` })
        .where(eq(segments.id, id))
        .returning();
      return row!;
    } catch (error) {
      translate(error);
    }
  },

  /** Why the definition could not be evaluated (not a change of the segment: the version stays). */
  async setError(tx: Tx, id: string, error: string): Promise<void> {
    await tx.update(segments).set({ lastError: error }).where(eq(segments.id, id));
  },

  async findById(tx: Tx, id: string, forUpdate = false): Promise<SegmentRow | undefined> {
    const query = tx.select().from(segments).where(eq(segments.id, id));
    const [row] = await (forUpdate ? query.for('update') : query);
    return row;
  },

  /** Segments by id; `share` locks them until the transaction ends (against a concurrent delete). */
  findByIds(tx: Tx, ids: readonly string[], lock?: 'share'): Promise<SegmentRow[]> {
    if (!ids.length) return Promise.resolve([]);
    const query = tx
      .select()
      .from(segments)
      .where(inArray(segments.id, [...ids]));
    return lock ? query.for('share') : query;
  },

  list(
    tx: Tx,
    after: string | undefined,
    limit: number,
    only: readonly string[] | null,
  ): Promise<SegmentRow[]> {
    return tx
      .select()
      .from(segments)
      .where(
        and(after ? gt(segments.id, after) : undefined, only ? inArray(segments.id, [...only]) : undefined),
      )
      .orderBy(asc(segments.id))
      .limit(limit + 1);
  },

  dynamic(tx: Tx): Promise<SegmentRow[]> {
    return tx.select().from(segments).where(eq(segments.kind, 'dynamic')).orderBy(asc(segments.id));
  },

  /** The segments whose definitions name `id`. */
  dependents(tx: Tx, id: string): Promise<SegmentRow[]> {
    return tx.select().from(segments).where(sql`${id}::uuid = ANY(${segments.dependsOn})`);
  },

  async remove(tx: Tx, id: string): Promise<void> {
    await tx.delete(segments).where(eq(segments.id, id));
  },

  /** Serializes membership writes of one tenant (refreshes and incremental passes). */
  async lockMembership(tx: Tx): Promise<void> {
    await tx.execute(
      sql`SELECT pg_advisory_xact_lock(hashtext('vinculo.segments:' || vinculo_current_tenant()::text))`,
    );
  },

  /**
   * Makes a segment's membership equal `target` (a query of customer ids), within `only` when given:
   * entries inserted, exits deleted, both recorded in the history and as events, in one statement.
   */
  async applyMembership(
    tx: Tx,
    segmentId: string,
    target: SQL,
    options: { only?: readonly string[]; reason: Reason; at: Date; emit: Emit },
  ): Promise<{ entered: string[]; exited: string[] }> {
    const at = options.at.toISOString();
    const only = options.only ? sql` AND m.customer_id = ANY(${sql.param(options.only)}::uuid[])` : sql``;
    const payload = (table: string) =>
      sql`SELECT ${at}::timestamptz AS occurred_at, jsonb_build_object('segmentId', ${segmentId}::uuid, 'customerId', x.customer_id, 'reason', ${options.reason}::text, 'at', ${at}::timestamptz) AS data FROM ${sql.raw(table)} x`;
    const result = await tx.execute<{ customer_id: string; change: 'entered' | 'exited' }>(sql`
      WITH target AS MATERIALIZED (${target}),
      entered AS (
        INSERT INTO segment_members (tenant_id, segment_id, customer_id, entered_at)
        SELECT vinculo_current_tenant(), ${segmentId}::uuid, t.id, ${at}::timestamptz FROM target t
        WHERE NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = ${segmentId}::uuid AND m.customer_id = t.id)
        ON CONFLICT DO NOTHING
        RETURNING customer_id),
      exited AS (
        DELETE FROM segment_members m WHERE m.segment_id = ${segmentId}::uuid${only}
          AND m.customer_id NOT IN (SELECT id FROM target)
        RETURNING customer_id),
      changes AS (
        SELECT customer_id, 'entered' AS change FROM entered UNION ALL SELECT customer_id, 'exited' FROM exited),
      history AS (
        INSERT INTO segment_history (tenant_id, id, segment_id, customer_id, change, reason, at)
        SELECT vinculo_current_tenant(), vinculo_uuidv7(), ${segmentId}::uuid, customer_id, change, ${options.reason}, ${at}::timestamptz
        FROM changes RETURNING 1),
      entered_events AS (${options.emit('segment.entered', payload('entered'))}),
      exited_events AS (${options.emit('segment.exited', payload('exited'))})
      SELECT customer_id, change FROM changes`);
    const entered: string[] = [];
    const exited: string[] = [];
    for (const row of result.rows) (row.change === 'entered' ? entered : exited).push(row.customer_id);
    const delta = entered.length - exited.length;
    await tx
      .update(segments)
      .set({
        memberCount: sql`${segments.memberCount} + ${delta}`,
        ...(options.only ? {} : { refreshedAt: options.at, lastError: null }),
      })
      .where(eq(segments.id, segmentId));
    return { entered, exited };
  },

  /**
   * Marks customers for the incremental evaluation (dependents of a segment whose members changed;
   * with `onlyWithDynamicSegments`, as the triggers do, only in a tenant that has dynamic segments).
   */
  async markPending(
    tx: Tx,
    customerIds: readonly string[],
    { onlyWithDynamicSegments = false } = {},
  ): Promise<void> {
    if (!customerIds.length) return;
    const marked = await tx.execute(sql`
      INSERT INTO segment_pending (tenant_id, customer_id)
      SELECT DISTINCT vinculo_current_tenant(), unnest(${sql.param(customerIds)}::uuid[])
      ${onlyWithDynamicSegments ? sql`WHERE EXISTS (SELECT 1 FROM segments WHERE tenant_id = vinculo_current_tenant() AND kind = 'dynamic')` : sql``}
      -- locked until this transaction commits, as the triggers' marks (migration 0030): a pass leaves it
      ON CONFLICT (tenant_id, customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id`);
    if (!marked.rowCount) return;
    // as the triggers do: the listeners enqueue the incremental pass at once, not at the next sweep
    await tx.execute(sql`SELECT pg_notify('vinculo_segments', vinculo_current_tenant()::text)`);
  },

  /** Takes up to `limit` pending customers (removed in this transaction; kept if it rolls back). */
  async takePending(tx: Tx, limit: number): Promise<string[]> {
    const result = await tx.execute<{ customer_id: string }>(sql`
      DELETE FROM segment_pending WHERE (tenant_id, customer_id) IN (
        SELECT tenant_id, customer_id FROM segment_pending LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING customer_id`);
    return result.rows.map((r) => r.customer_id);
  },

  async clearPending(tx: Tx): Promise<void> {
    await tx.delete(segmentPending);
  },

  async count(tx: Tx, target: SQL): Promise<number> {
    const result = await tx.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM (${target}) t`);
    return result.rows[0]!.n;
  },

  async sample(tx: Tx, target: SQL, limit: number): Promise<string[]> {
    const result = await tx.execute<{ id: string }>(
      sql`SELECT t.id FROM (${target}) t ORDER BY t.id LIMIT ${limit}`,
    );
    return result.rows.map((r) => r.id);
  },

  /** The SQL text and parameters of a query, and its plan. */
  async explain(tx: Tx, target: SQL): Promise<{ sql: string; params: unknown[]; plan: unknown }> {
    const query = dialect.sqlToQuery(sql`SELECT count(*) FROM (${target}) t`);
    const result = await tx.execute<{ 'QUERY PLAN': unknown }>(
      sql`EXPLAIN (FORMAT JSON) SELECT count(*) FROM (${target}) t`,
    );
    return { sql: query.sql, params: query.params, plan: result.rows[0]?.['QUERY PLAN'] };
  },

  /** Members who consent to partner sharing, per segment (what a partner may count). */
  async sharingCounts(tx: Tx, segmentIds: readonly string[]): Promise<Map<string, number>> {
    if (!segmentIds.length) return new Map();
    const result = await tx.execute<{ segment_id: string; n: number }>(sql`
      SELECT m.segment_id, count(*)::int AS n FROM segment_members m
      WHERE m.segment_id = ANY(${sql.param(segmentIds)}::uuid[]) AND ${sharing(sql`m`)}
      GROUP BY m.segment_id`);
    return new Map(result.rows.map((r) => [r.segment_id, r.n]));
  },

  /** Which of these customers consent to partner sharing. */
  async sharingCustomers(tx: Tx, customerIds: readonly string[]): Promise<Set<string>> {
    if (!customerIds.length) return new Set();
    const result = await tx.execute<{ id: string }>(sql`
      SELECT id FROM customers WHERE id = ANY(${sql.param(customerIds)}::uuid[])
        AND (consent -> 'partnerSharing' ->> 'granted')::boolean IS TRUE`);
    return new Set(result.rows.map((r) => r.id));
  },

  /** A page of members (customer ids by id), optionally only those who consent to partner sharing. */
  async members(
    tx: Tx,
    segmentId: string,
    after: string | undefined,
    limit: number,
    partnerSharing: boolean,
  ): Promise<{ customerId: string; enteredAt: Date }[]> {
    const consent = partnerSharing ? sql` AND ${sharing(sql`m`)}` : sql``;
    const result = await tx.execute<{ customer_id: string; entered_at: Date }>(sql`
      SELECT m.customer_id, m.entered_at FROM segment_members m
      WHERE m.segment_id = ${segmentId}::uuid${after ? sql` AND m.customer_id > ${after}::uuid` : sql``}${consent}
      ORDER BY m.customer_id LIMIT ${limit + 1}`);
    return result.rows.map((r) => ({ customerId: r.customer_id, enteredAt: new Date(r.entered_at) }));
  },

  addMembers(tx: Tx, segmentId: string, customerIds: readonly string[], at: Date, emit: Emit) {
    const target = sql`SELECT c.id FROM customers c WHERE c.id = ANY(${sql.param(customerIds)}::uuid[])`;
    return this.applyMembership(tx, segmentId, target, { only: customerIds, reason: 'manual', at, emit });
  },

  removeMembers(tx: Tx, segmentId: string, customerIds: readonly string[], at: Date, emit: Emit) {
    const nobody = sql`SELECT NULL::uuid AS id WHERE FALSE`;
    return this.applyMembership(tx, segmentId, nobody, { only: customerIds, reason: 'manual', at, emit });
  },

  /** Existing customers among `ids`. */
  async existingCustomers(tx: Tx, ids: readonly string[]): Promise<Set<string>> {
    const result = await tx.execute<{ id: string }>(
      sql`SELECT id FROM customers WHERE id = ANY(${sql.param(ids)}::uuid[])`,
    );
    return new Set(result.rows.map((r) => r.id));
  },

  history(
    tx: Tx,
    where: SQL,
    before: string | undefined,
    limit: number,
    partnerSharing = false,
  ): Promise<HistoryRow[]> {
    return tx
      .select()
      .from(segmentHistory)
      .where(
        and(
          where,
          before ? lt(segmentHistory.id, before) : undefined,
          partnerSharing ? sharing(sql.raw('segment_history')) : undefined,
        ),
      )
      .orderBy(desc(segmentHistory.id))
      .limit(limit + 1);
  },

  /** The segments each customer is in. */
  async segmentsOf(
    tx: Tx,
    customerIds: readonly string[],
  ): Promise<{ customerId: string; segmentId: string; enteredAt: Date }[]> {
    return tx
      .select({
        customerId: segmentMembers.customerId,
        segmentId: segmentMembers.segmentId,
        enteredAt: segmentMembers.enteredAt,
      })
      .from(segmentMembers)
      .where(inArray(segmentMembers.customerId, [...customerIds]))
      .orderBy(asc(segmentMembers.segmentId));
  },

  async recordRead(tx: Tx, row: typeof segmentReads.$inferInsert): Promise<void> {
    await tx.insert(segmentReads).values(row);
  },

  reads(tx: Tx, segmentId: string, before: string | undefined, limit: number) {
    return tx
      .select()
      .from(segmentReads)
      .where(and(eq(segmentReads.segmentId, segmentId), before ? lt(segmentReads.id, before) : undefined))
      .orderBy(desc(segmentReads.id))
      .limit(limit + 1);
  },

  async forgetCustomer(tx: Tx, customerId: string): Promise<void> {
    const left = await tx
      .delete(segmentMembers)
      .where(eq(segmentMembers.customerId, customerId))
      .returning({ segmentId: segmentMembers.segmentId });
    for (const { segmentId } of left)
      await tx
        .update(segments)
        .set({ memberCount: sql`${segments.memberCount} - 1` })
        .where(eq(segments.id, segmentId));
    await tx.delete(segmentHistory).where(eq(segmentHistory.customerId, customerId));
    await tx.delete(segmentPending).where(eq(segmentPending.customerId, customerId));
  },

  /** Which of these customers are in which of these segments. */
  async membershipsAmong(tx: Tx, segmentIds: readonly string[], customerIds: readonly string[]) {
    if (!segmentIds.length || !customerIds.length) return [];
    const result = await tx.execute<{ segment_id: string; customer_id: string }>(sql`
      SELECT segment_id, customer_id FROM segment_members
      WHERE segment_id = ANY(${sql.param(segmentIds)}::uuid[]) AND customer_id = ANY(${sql.param(customerIds)}::uuid[])`);
    return result.rows;
  },

  /** A page of the customers in any of these segments, by id. */
  async membersOfAny(tx: Tx, segmentIds: readonly string[], after: string | undefined, limit: number) {
    const result = await tx.execute<{ customer_id: string }>(sql`
      SELECT DISTINCT customer_id FROM segment_members
      WHERE segment_id = ANY(${sql.param(segmentIds)}::uuid[])${after ? sql` AND customer_id > ${after}::uuid` : sql``}
      ORDER BY customer_id LIMIT ${limit}`);
    return result.rows.map((r) => r.customer_id);
  },

  /** The segments whose definitions name the field anywhere (any depth). */
  referencing(tx: Tx, field: string) {
    return tx
      .select({ id: segments.id, name: segments.name, definition: segments.definition })
      .from(segments)
      .where(
        sql`${segments.definition} IS NOT NULL AND jsonb_path_exists(${segments.definition}, '$.**.field ? (@ == $f)', jsonb_build_object('f', ${field}::text))`,
      );
  },

  /** Erasure: a definition that names one of these values names `[erased]` instead, wherever in its strings. */
  replaceValues(tx: Tx, values: readonly string[]): Promise<void> {
    return eraseInDocuments(tx, 'segments', 'definition', values);
  },
};
