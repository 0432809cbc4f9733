import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Tx } from '../../platform/db.ts';
import { importChunks, importErrors, imports } from './imports.table.ts';

export type ImportRow = typeof imports.$inferSelect;

/** Every string in a JSON value with U+0000 written as the text `\u0000`. */
function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('\0', '\\u0000');
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [withoutNul(k) as string, withoutNul(v)]),
    );
  return value;
}

export const importsRepository = {
  async insert(tx: Tx, row: typeof imports.$inferInsert): Promise<ImportRow> {
    const [created] = await tx.insert(imports).values(row).returning();
    return created!;
  },

  /**
   * A chunk of an upload under way, and the bytes stored so far (its updated_at says it is alive);
   * false, storing nothing, when the import is no longer uploading (swept, or stopped by an erasure).
   */
  async addChunk(tx: Tx, tenantId: string, importId: string, seq: number, data: Buffer): Promise<boolean> {
    const [alive] = await tx
      .update(imports)
      .set({ bytes: sql`${imports.bytes} + ${data.length}`, updatedAt: sql`now()` })
      .where(and(eq(imports.id, importId), eq(imports.status, 'uploading')))
      .returning({ id: imports.id });
    if (!alive) return false;
    await tx.insert(importChunks).values({ tenantId, importId, seq, data });
    return true;
  },

  /** The upload has ended: the import is queued (undefined when it is no longer uploading). */
  async finishUpload(tx: Tx, id: string, bytes: number): Promise<ImportRow | undefined> {
    const [row] = await tx
      .update(imports)
      .set({ status: 'queued', bytes, updatedAt: sql`now()` })
      .where(and(eq(imports.id, id), eq(imports.status, 'uploading')))
      .returning();
    return row;
  },

  /** An upload that did not end (refused, stalled, or its process stopped): its row and chunks go. */
  async dropUpload(tx: Tx, id: string): Promise<void> {
    await tx.delete(imports).where(and(eq(imports.id, id), eq(imports.status, 'uploading')));
  },

  async chunk(tx: Tx, importId: string, seq: number): Promise<Buffer | undefined> {
    const [row] = await tx
      .select({ data: importChunks.data })
      .from(importChunks)
      .where(and(eq(importChunks.importId, importId), eq(importChunks.seq, seq)));
    return row?.data;
  },

  /** An import; `lock` holds its row until the transaction ends (`share`: against status changes). */
  async find(tx: Tx, id: string, options: { lock?: true | 'share' } = {}): Promise<ImportRow | undefined> {
    const query = tx.select().from(imports).where(eq(imports.id, id));
    const [row] = await (options.lock === 'share'
      ? query.for('share')
      : options.lock
        ? query.for('update')
        : query);
    return row;
  },

  async update(tx: Tx, id: string, patch: Partial<typeof imports.$inferInsert>): Promise<void> {
    await tx
      .update(imports)
      .set({ ...patch, updatedAt: sql`now()` })
      .where(eq(imports.id, id));
  },

  /** Adds a written batch's counts, and where it ended (a retried import resumes after it: see `resume`). */
  async progress(
    tx: Tx,
    id: string,
    delta: { rows: number; ok: number; failed: number; bytesRead: number; lastLine: number },
  ) {
    await tx
      .update(imports)
      .set({
        rowsRead: sql`${imports.rowsRead} + ${delta.rows}`,
        succeeded: sql`${imports.succeeded} + ${delta.ok}`,
        failed: sql`${imports.failed} + ${delta.failed}`,
        bytesRead: delta.bytesRead,
        lastLine: delta.lastLine,
        updatedAt: sql`now()`,
      })
      .where(eq(imports.id, id));
  },

  /**
   * Starts the import, or resumes it after a failed attempt: the batches written before stay
   * written, with their counts and errors, and the run goes on after `last_line`.
   */
  async resume(tx: Tx, id: string): Promise<void> {
    await tx
      .update(imports)
      .set({
        status: 'running',
        error: null,
        startedAt: sql`coalesce(${imports.startedAt}, now())`,
        updatedAt: sql`now()`,
      })
      .where(eq(imports.id, id));
  },

  /** Imports queued and never started for `queuedMinutes`, or running with no progress for `staleMinutes`. */
  async stalled(tx: Tx, queuedMinutes: number, staleMinutes: number): Promise<ImportRow[]> {
    return tx
      .select()
      .from(imports)
      .where(
        sql`(${imports.status} = 'queued' AND ${imports.updatedAt} < now() - make_interval(mins => ${queuedMinutes}))
          OR (${imports.status} IN ('running', 'uploading')
            AND ${imports.updatedAt} < now() - make_interval(mins => ${staleMinutes}))`,
      );
  },

  /**
   * A problem quotes the row (a key, the parser's view of a broken line) and so may hold U+0000,
   * which PostgreSQL cannot store: it is written as the escape `\u0000`, as JSON would show it.
   */
  async addErrors(tx: Tx, rows: (typeof importErrors.$inferInsert)[]): Promise<void> {
    const storable = rows.map((r) => ({ ...r, problem: withoutNul(r.problem) as typeof r.problem }));
    if (storable.length) await tx.insert(importErrors).values(storable).onConflictDoNothing();
  },

  async dropChunks(tx: Tx, id: string): Promise<void> {
    await tx.delete(importChunks).where(eq(importChunks.importId, id));
  },

  errors(tx: Tx, importId: string, afterLine: number | undefined, limit: number) {
    return tx
      .select()
      .from(importErrors)
      .where(
        and(
          eq(importErrors.importId, importId),
          afterLine === undefined ? undefined : gt(importErrors.line, afterLine),
        ),
      )
      .orderBy(asc(importErrors.line))
      .limit(limit + 1);
  },

  async scrubErrors(tx: Tx, needles: readonly string[]): Promise<void> {
    await tx.execute(sql`
      UPDATE import_errors SET problem = jsonb_build_object('code', problem ->> 'code', 'detail', 'erased')
      WHERE EXISTS (SELECT 1 FROM unnest(${sql.param(needles)}::text[]) n WHERE strpos(lower(problem::text), lower(n)) > 0)`);
  },

  /**
   * Imports not yet processed whose uploaded bytes hold one of these values (ASCII, any case: the
   * bytes are read through the escape encoding, which keeps ASCII and never fails on a split
   * multi-byte character), within a chunk or across the boundary with the next one: they are
   * stopped (failed, with the reason) and their bytes dropped.
   */
  async stopHolding(tx: Tx, needles: readonly string[]): Promise<void> {
    // the boundary is read as the last bytes of a chunk and the first of the next, as many as the
    // longest value could need on either side
    const reach = Math.max(1, ...needles.map((n) => Buffer.byteLength(n)));
    const holding = sql`SELECT DISTINCT ch.import_id FROM import_chunks ch
      LEFT JOIN import_chunks nx
        ON nx.tenant_id = ch.tenant_id AND nx.import_id = ch.import_id AND nx.seq = ch.seq + 1
      WHERE EXISTS (SELECT 1 FROM unnest(${sql.param(needles)}::text[]) n
        WHERE strpos(lower(encode(ch.data, 'escape')), lower(n)) > 0
          OR strpos(lower(encode(substring(ch.data FROM greatest(length(ch.data) - ${reach} + 2, 1))
            || substring(nx.data FOR ${reach} - 1), 'escape')), lower(n)) > 0)`;
    await tx.execute(sql`
      UPDATE imports SET status = 'failed', error = 'stopped: the file held personal data of an erased customer'
      WHERE id IN (${holding}) AND status IN ('uploading', 'queued', 'running')`);
    await tx.execute(sql`DELETE FROM import_chunks WHERE import_id IN (${holding})`);
  },
};
