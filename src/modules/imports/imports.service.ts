import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { TENANT_SCOPES, type TenantActor } from '../../platform/auth.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { nulPath } from '../../platform/http.ts';
import { newId } from '../../platform/ids.ts';
import type { Jobs } from '../../platform/jobs.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import type { AttributesService } from '../attributes/attributes.service.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { EventsService } from '../events/events.service.ts';
import type { OrdersService } from '../orders/orders.service.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import { type ImportRow, importsRepository as repo } from './imports.repository.ts';
import { customerFromCsv, orderFromCsv, type Record_ } from './imports.rows.ts';
import type { Import, ImportType } from './imports.schemas.ts';

export const IMPORT_TASK = 'imports.process';
const CHUNK_BYTES = 1024 * 1024;
const BATCH_ROWS = 1000;

type Row = { line: number; body: unknown; bytes: number } | { line: number; error: AppError; bytes: number };

/** A row's body, or its problem (the row is reported, the import goes on): text PostgreSQL cannot store. */
function checked(body: unknown): { body: unknown } | { error: AppError } {
  const nul = nulPath(body);
  return nul
    ? {
        error: new AppError(
          'validation_failed',
          `${nul.join('.') || 'the row'}: text must not contain U+0000`,
        ),
      }
    : { body };
}

/** A row's body, or the problem a converter found in it (the row is reported, the import goes on). */
function bodyOf(toBody: (r: Record_) => unknown, record: Record_): { body: unknown } | { error: AppError } {
  try {
    return checked(toBody(record));
  } catch (error) {
    return {
      error: new AppError('validation_failed', `the row could not be read: ${(error as Error).message}`),
    };
  }
}

/** The import was stopped (an erasure dropped its file) while it ran: nothing more is written. */
class Stopped extends Error {}

export function toImport(row: ImportRow, now: Date): Import {
  const end = row.finishedAt ?? now;
  const seconds = row.startedAt ? (end.getTime() - row.startedAt.getTime()) / 1000 : 0;
  const done = row.status === 'completed';
  return {
    id: row.id,
    type: row.type,
    format: row.format,
    status: row.status,
    bytes: row.bytes,
    rowsRead: row.rowsRead,
    succeeded: row.succeeded,
    failed: row.failed,
    percentDone: done
      ? 100
      : row.bytes
        ? Math.min(99.9, Math.round((row.bytesRead / row.bytes) * 1000) / 10)
        : 0,
    rowsPerSecond: seconds > 0 ? Math.round(row.rowsRead / seconds) : null,
    error: row.error,
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

const notFound = (id: string) => new AppError('import_not_found', `no import ${id} in this tenant`);

export class ImportsService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #jobs: () => Jobs | undefined;
  readonly #customers: CustomersService;
  readonly #orders: OrdersService;
  readonly #attributes: AttributesService;
  readonly #tenants: TenantsService;
  readonly #events: EventsService;

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    jobs: () => Jobs | undefined;
    customers: CustomersService;
    orders: OrdersService;
    attributes: AttributesService;
    tenants: TenantsService;
    events: EventsService;
  }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#jobs = deps.jobs;
    this.#customers = deps.customers;
    this.#orders = deps.orders;
    this.#attributes = deps.attributes;
    this.#tenants = deps.tenants;
    this.#events = deps.events;
  }

  /**
   * Stores the body in chunks as it arrives (never whole in memory), then queues its processing
   * (unless `enqueue` is false: the caller then runs `process` itself).
   */
  async upload(
    actor: TenantActor,
    type: ImportType,
    format: 'csv' | 'ndjson',
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
    options: { enqueue?: boolean } = {},
  ): Promise<Import> {
    const enqueue = options.enqueue ?? true;
    const jobs = this.#jobs();
    if (!jobs && enqueue)
      throw new AppError('service_unavailable', 'background jobs are not running in this process');
    const created = await this.#db.withTenant(actor.tenantId, async (tx) => {
      const row = await repo.insert(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        type,
        format,
        status: 'queued',
        bytes: 0,
      });
      let seq = 0;
      let bytes = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (!pendingBytes) return;
        await repo.addChunk(tx, actor.tenantId, row.id, seq++, Buffer.concat(pending));
        pending = [];
        pendingBytes = 0;
      };
      for await (const piece of body) {
        pending.push(piece);
        pendingBytes += piece.length;
        bytes += piece.length;
        if (pendingBytes >= CHUNK_BYTES) await flush();
      }
      await flush();
      if (!bytes)
        throw new AppError('validation_failed', 'the body is empty', {
          errors: [{ path: '', message: 'is empty' }],
        });
      await repo.update(tx, row.id, { bytes });
      return { ...row, bytes };
    });
    if (enqueue)
      await jobs!.add(IMPORT_TASK, { tenantId: actor.tenantId, importId: created.id }, { maxAttempts: 3 });
    return toImport(created, new Date());
  }

  get(actor: TenantActor, id: string): Promise<Import> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const row = await repo.find(tx, id);
        if (!row) throw notFound(id);
        return toImport(row, new Date());
      },
      { readOnly: true },
    );
  }

  errors(actor: TenantActor, id: string, limit: number, cursor?: string) {
    const scope = { tenantId: actor.tenantId, list: `imports:${id}:errors`, filters: {} };
    const after = cursor ? Number(this.#cursors.decode(scope, cursor)) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx): Promise<Page<{ line: number; code: string; detail: string }>> => {
        if (!(await repo.find(tx, id))) throw notFound(id);
        const rows = await repo.errors(tx, id, after, limit);
        return this.#cursors.page(
          scope,
          rows,
          limit,
          (r) => String(r.line),
          (r) => ({ line: r.line, ...r.problem }),
        );
      },
      { readOnly: true },
    );
  }

  /**
   * The worker's side: reads the chunks in order, parses rows as they come, and writes them in
   * batches of 1,000 through the same code as the batch endpoints, one transaction per batch with
   * its progress. A retried job starts again from the first row (writes are idempotent). A failed
   * attempt that will be retried leaves the import running with the error; only the last one (`last`,
   * graphile-worker's final attempt) marks it failed. An import that is failed (a last attempt, or
   * stopped by an erasure) or completed is never run again, and one stopped while it runs writes no
   * further batch.
   */
  async process(
    tenantId: string,
    importId: string,
    hooks: { afterBatch?: () => Promise<void>; last?: boolean } = {},
  ): Promise<void> {
    const actor: TenantActor = {
      sub: `import:${importId}`,
      tenantId,
      scopes: new Set(TENANT_SCOPES),
      segments: null,
    };
    const runnable = (status: string) => status === 'queued' || status === 'running';
    const job = await this.#db.withTenant(tenantId, async (tx) => {
      const row = await repo.find(tx, importId, { lock: true });
      if (row && runnable(row.status)) await repo.restart(tx, importId);
      return row;
    });
    if (!job || !runnable(job.status)) return;
    try {
      const context = await this.#db.withTenant(
        tenantId,
        async (tx) => ({
          currency: (await this.#tenants.settingsIn(tx, tenantId)).currency,
          types: new Map(
            [...(await this.#attributes.definitions(tx))].map(([k, d]) => [k, d.type as string]),
          ),
        }),
        { readOnly: true },
      );
      const toBody =
        job.type === 'customers'
          ? (r: Record_) => customerFromCsv(r, context.types)
          : (r: Record_) => orderFromCsv(r, context.types, context.currency);
      let batch: Row[] = [];
      for await (const row of this.#rows(tenantId, job, toBody)) {
        batch.push(row);
        if (batch.length >= BATCH_ROWS) {
          await this.#writeBatch(actor, job, batch);
          batch = [];
          await hooks.afterBatch?.();
        }
      }
      if (batch.length) await this.#writeBatch(actor, job, batch);
      await this.#db.withTenant(tenantId, async (tx) => {
        await this.#stillRunning(tx, importId);
        await repo.update(tx, importId, {
          status: 'completed',
          finishedAt: new Date(),
          bytesRead: job.bytes,
        });
        await repo.dropChunks(tx, importId);
        const done = await repo.find(tx, importId);
        await this.#events.emit(tx, tenantId, [
          { type: 'import.completed', data: toImport(done!, new Date()) },
        ]);
      });
    } catch (error) {
      if (error instanceof Stopped) return;
      const last = hooks.last ?? true;
      await this.#db.withTenant(tenantId, async (tx) => {
        const row = await repo.find(tx, importId, { lock: true });
        if (row?.status !== 'running') return;
        await repo.update(
          tx,
          importId,
          last
            ? { status: 'failed', finishedAt: new Date(), error: (error as Error).message }
            : { error: `${(error as Error).message} (this attempt failed; the import will be retried)` },
        );
      });
      throw error;
    }
  }

  /** Throws Stopped unless the import is still running; its row stays locked (shared) until commit. */
  async #stillRunning(tx: Tx, importId: string): Promise<void> {
    const row = await repo.find(tx, importId, { lock: 'share' });
    if (row?.status !== 'running') throw new Stopped();
  }

  async #writeBatch(actor: TenantActor, job: ImportRow, rows: Row[]): Promise<void> {
    await this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const good = rows.filter((r): r is Extract<Row, { body: unknown }> => 'body' in r);
        const results =
          job.type === 'customers'
            ? await this.#customers.batchUpsertIn(
                tx,
                actor,
                good.map((r) => r.body),
              )
            : await this.#orders.recordIn(
                tx,
                actor,
                good.map((r) => r.body),
              );
        const problems = [
          ...rows.flatMap((r) =>
            'error' in r ? [{ line: r.line, problem: { code: r.error.code, detail: r.error.message } }] : [],
          ),
          ...results.flatMap((result, i) =>
            result.status === 'error' && result.error
              ? [
                  {
                    line: good[i]!.line,
                    problem: {
                      code: result.error.code,
                      detail: result.error.detail.replaceAll(/items\[\d+\]\.?/g, ''),
                      ...(result.error.errors
                        ? {
                            errors: result.error.errors.map((e) => ({
                              ...e,
                              path: e.path.replace(/^items\[\d+\]\.?/, ''),
                            })),
                          }
                        : {}),
                    },
                  },
                ]
              : [],
          ),
        ];
        await repo.addErrors(
          tx,
          problems.map((p) => ({ tenantId: actor.tenantId, importId: job.id, ...p })),
        );
        // last, after the customers' locks (as an erasure takes them: customer, then the import): an
        // erasure that stopped the import (its file held the erased customer) meanwhile rolls this
        // batch back
        await this.#stillRunning(tx, job.id);
        await repo.progress(tx, job.id, {
          rows: rows.length,
          ok: rows.length - problems.length,
          failed: problems.length,
          bytesRead: rows.at(-1)!.bytes,
        });
      },
      { retryConflicts: true },
    );
    // committed: the scores of the customers these orders touched follow
    if (job.type === 'orders') await this.#orders.written(actor.tenantId);
  }

  /** The import's rows, parsed from its chunks as they are read. */
  async *#rows(tenantId: string, job: ImportRow, toBody: (r: Record_) => unknown): AsyncGenerator<Row> {
    const db = this.#db;
    const chunks = Readable.from(
      (async function* () {
        for (let seq = 0; ; seq++) {
          const data = await db.withTenant(tenantId, (tx) => repo.chunk(tx, job.id, seq), { readOnly: true });
          if (!data) return;
          yield data;
        }
      })(),
    );
    if (job.format === 'ndjson') {
      let line = 0;
      let bytes = 0;
      for await (const text of createInterface({ input: chunks, crlfDelay: Number.POSITIVE_INFINITY })) {
        line += 1;
        bytes += Buffer.byteLength(text) + 1;
        if (!text.trim()) continue;
        try {
          // a byte-order mark opens some exported files; it is not part of the first row
          yield { line, ...checked(JSON.parse(line === 1 ? text.replace(/^\uFEFF/, '') : text)), bytes };
        } catch {
          yield { line, error: new AppError('invalid_json', 'the line is not valid JSON'), bytes };
        }
      }
      return;
    }
    const skipped: Row[] = [];
    const parser = chunks.pipe(
      parse({
        columns: true,
        bom: true,
        skip_empty_lines: true,
        trim: false,
        info: true,
        skip_records_with_error: true,
      }),
    );
    parser.on('skip', (error: Error & { lines?: number }) => {
      skipped.push({
        line: error.lines ?? 0,
        error: new AppError('validation_failed', `malformed CSV row: ${error.message}`),
        bytes: 0,
      });
    });
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record_;
      info: { lines: number; bytes: number };
    }>) {
      while (skipped.length) yield { ...skipped.shift()!, bytes: info.bytes };
      yield { line: info.lines, ...bodyOf(toBody, record), bytes: info.bytes };
    }
    while (skipped.length) yield { ...skipped.shift()!, bytes: job.bytes };
  }

  /** Erasure: import errors that quote any of these values lose their detail; files holding them go. */
  async forgetValues(tx: Tx, needles: readonly string[]): Promise<void> {
    await repo.scrubErrors(tx, needles);
    await repo.stopHolding(tx, needles);
  }
}
