import { pipeline, Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { TENANT_SCOPES, type TenantActor } from '../../platform/auth.ts';
import { within } from '../../platform/clock.ts';
import { type Database, publicFailure, type Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { nulPath } from '../../platform/http.ts';
import { newId } from '../../platform/ids.ts';
import { forEachTenant, type Jobs } from '../../platform/jobs.ts';
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
export const IMPORTS_SWEEP_TASK = 'imports_sweep';
/** The advisory lock space of a running import (one runner per import, whatever queued it). */
const IMPORT_LOCK = 7211;
/** The sweep's patience: a queued import never started, a running one with no progress. */
export const IMPORT_STALL = { queuedMinutes: 5, staleMinutes: 15, maxResumes: 3 };
const CHUNK_BYTES = 1024 * 1024;
/** An upload that sends nothing for this long is dropped (with what it had stored). */
export const UPLOAD_IDLE_MS = 60_000;

/**
 * The body's pieces, failing with 408 when none arrives for `idleMs`. The source is only paused, not
 * destroyed: the answer can still reach the client, and the connection closes after it.
 */
async function* untilIdle(body: AsyncIterable<Buffer> | Iterable<Buffer>, idleMs: number) {
  const iterator =
    Symbol.asyncIterator in body
      ? body[Symbol.asyncIterator]()
      : (body as Iterable<Buffer>)[Symbol.iterator]();
  for (;;) {
    const pending = Promise.resolve(iterator.next());
    // once the connection closes this read may still fail: that is the timeout's doing, not news
    pending.catch(() => undefined);
    const next = await within(pending, idleMs, 'idle' as const);
    if (next === 'idle') {
      (body as { pause?: () => void }).pause?.();
      throw new AppError(
        'upload_stalled',
        `no data for ${idleMs / 1000} s: the upload was dropped and nothing of it was kept; send the file again`,
      );
    }
    if (next.done) return;
    yield next.value;
  }
}
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

/** The longest CSV record or NDJSON line read (a longer one is a broken file, never held whole). */
const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * Where UTF-8 breaks in `b`: the offset of the first byte that does not belong to a valid sequence
 * (-1 if none), and the length of the part made of whole characters (an incomplete sequence at the
 * end may be completed by the next chunk). Overlong forms, surrogates and code points past U+10FFFF
 * are invalid, as TextDecoder's fatal mode has them.
 */
function utf8Scan(b: Uint8Array): { bad: number; complete: number } {
  const continuation = (x: number | undefined) => x !== undefined && x >= 0x80 && x <= 0xbf;
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (!need) return { bad: i, complete: i };
    // the second byte's range narrows for the lead bytes that could spell what is not allowed
    const [lo, hi] =
      c === 0xe0
        ? [0xa0, 0xbf]
        : c === 0xed
          ? [0x80, 0x9f]
          : c === 0xf0
            ? [0x90, 0xbf]
            : c === 0xf4
              ? [0x80, 0x8f]
              : [0x80, 0xbf];
    for (let k = 1; k <= need; k++) {
      const x = b[i + k];
      if (x === undefined) return { bad: -1, complete: i };
      if (k === 1 ? !(x >= lo && x <= hi) : !continuation(x)) return { bad: i, complete: i };
    }
    i += need + 1;
  }
  return { bad: -1, complete: b.length };
}

/**
 * The text of a stream of bytes, which must be UTF-8, passed on a whole line at a time (the text
 * after a piece's last line break waits for the next piece). At the first byte that is not UTF-8,
 * the text ends with the whole lines before it, and `broken` holds the `malformed_file` error
 * naming that byte's line (a Latin-1 file would otherwise be stored mangled); a line cut there, or
 * by a file that ends inside a character, is never passed on.
 */
function utf8Text(chunks: AsyncIterable<Buffer>): {
  text: AsyncGenerator<string>;
  broken: () => AppError | undefined;
} {
  let broken: AppError | undefined;
  async function* text() {
    let carry: Buffer = Buffer.alloc(0);
    let partial = '';
    let lines = 1;
    for await (const chunk of chunks) {
      const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const { bad, complete } = utf8Scan(data);
      if (bad >= 0) {
        const before = data.subarray(0, bad).toString('utf8');
        const valid = partial + before;
        const whole = valid.slice(0, valid.lastIndexOf('\n') + 1);
        broken = new AppError(
          'malformed_file',
          `line ${lines + (before.match(/\n/g)?.length ?? 0)}: the file is not UTF-8 (convert it, e.g. with iconv -t UTF-8); the rows before this line were imported`,
        );
        if (whole) yield whole;
        return;
      }
      const piece = data.subarray(0, complete).toString('utf8');
      carry = data.subarray(complete);
      lines += piece.match(/\n/g)?.length ?? 0;
      const text = partial + piece;
      // a line already longer than any record is passed on as it is (the reader refuses it)
      const lineStart = text.lastIndexOf('\n') + 1;
      const cut = text.length - lineStart > MAX_RECORD_BYTES ? text.length : lineStart;
      partial = text.slice(cut);
      if (cut) yield text.slice(0, cut);
    }
    if (carry.length) {
      broken = new AppError('malformed_file', `line ${lines}: the file ends inside a UTF-8 character`);
      return;
    }
    if (partial) yield partial;
  }
  return { text: text(), broken: () => broken };
}

/** The lines of a text (LF or CRLF), none longer than `max` characters (else `malformed_file`). */
async function* linesOf(text: AsyncIterable<string>, max: number): AsyncGenerator<string> {
  let pending = '';
  let line = 0;
  const tooLong = () =>
    new AppError('malformed_file', `line ${line + 1}: longer than 1 MiB; the lines before it were imported`);
  for await (const piece of text) {
    pending += piece;
    let from = 0;
    for (let at = pending.indexOf('\n'); at !== -1; at = pending.indexOf('\n', from)) {
      if (at - from > max) throw tooLong();
      line += 1;
      yield pending.slice(from, at > from && pending[at - 1] === '\r' ? at - 1 : at);
      from = at + 1;
    }
    pending = pending.slice(from);
    if (pending.length > max) throw tooLong();
  }
  if (pending) yield pending.endsWith('\r') ? pending.slice(0, -1) : pending;
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
    createdBy: row.createdBy,
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
  readonly #uploadIdleMs: number;

  constructor(deps: {
    db: Database;
    cursors: Cursors;
    jobs: () => Jobs | undefined;
    customers: CustomersService;
    orders: OrdersService;
    attributes: AttributesService;
    tenants: TenantsService;
    events: EventsService;
    uploadIdleMs?: number;
  }) {
    this.#uploadIdleMs = deps.uploadIdleMs ?? UPLOAD_IDLE_MS;
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
    // each chunk is committed as it is stored, so a slow client holds no transaction or connection
    // while it sends; the import is queued once the body has ended, and dropped if it does not
    const row = await this.#db.withTenant(actor.tenantId, (tx) =>
      repo.insert(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        type,
        format,
        status: 'uploading',
        bytes: 0,
        createdBy: actor.sub,
      }),
    );
    let created: ImportRow;
    try {
      let seq = 0;
      let bytes = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      // a slow client's bytes are stored at least as often as the idle timeout too (a minute), whole
      // chunk or not, so the upload reads as alive (the sweep drops one that stored nothing for 15)
      let flushedAt = Date.now();
      const flush = async () => {
        if (!pendingBytes) return;
        const data = Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
        flushedAt = Date.now();
        const stored = await this.#db.withTenant(actor.tenantId, (tx) =>
          repo.addChunk(tx, actor.tenantId, row.id, seq++, data),
        );
        if (!stored) await this.#uploadEnded(actor.tenantId, row.id);
      };
      for await (const piece of untilIdle(body, this.#uploadIdleMs)) {
        pending.push(piece);
        pendingBytes += piece.length;
        bytes += piece.length;
        if (pendingBytes >= CHUNK_BYTES || Date.now() - flushedAt >= this.#uploadIdleMs) await flush();
      }
      await flush();
      if (!bytes)
        throw new AppError('validation_failed', 'the body is empty', {
          errors: [{ path: '', message: 'is empty' }],
        });
      created =
        (await this.#db.withTenant(actor.tenantId, (tx) => repo.finishUpload(tx, row.id, bytes))) ??
        (await this.#uploadEnded(actor.tenantId, row.id));
    } catch (error) {
      // what was stored goes with it; if even that fails, the imports sweep drops it later
      await this.#db.withTenant(actor.tenantId, (tx) => repo.dropUpload(tx, row.id)).catch(() => undefined);
      throw error;
    }
    // stored and queued: the client is told so even if the job cannot be queued right now (the
    // imports sweep queues an import left waiting within minutes), so it never sends the file again
    if (enqueue)
      await jobs!
        .add(IMPORT_TASK, { tenantId: actor.tenantId, importId: created.id }, { maxAttempts: 3 })
        .catch(() => undefined);
    return toImport(created, new Date());
  }

  /** Why an upload under way can store no more: an erasure stopped it, or the sweep dropped it. */
  async #uploadEnded(tenantId: string, id: string): Promise<never> {
    const row = await this.#db.withTenant(tenantId, (tx) => repo.find(tx, id), { readOnly: true });
    if (row?.status === 'failed') throw new AppError('import_stopped', row.error ?? 'the import was stopped');
    throw new AppError('upload_stalled', 'the upload was dropped while it waited for its body');
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
   * its progress and the line it ended at. A retried job resumes after that line: no row is written
   * twice (a customer known by its phone only would be created again). A failed
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
    // one runner at a time: a job queued twice (by the sweep, say) finds the import taken and leaves it
    const release = await this.#db.trySessionLock(IMPORT_LOCK, importId);
    if (!release) return;
    try {
      await this.#process(tenantId, importId, hooks);
    } finally {
      await release();
    }
  }

  /**
   * The sweep (every five minutes): an import stored but never started (its job was never queued)
   * is queued again; one running with no progress for a while and no runner (its worker was killed)
   * resumes after its last batch, at most `maxResumes` times, then fails saying so; one still
   * uploading that has stored nothing for as long is dropped with its chunks (its process is gone).
   */
  async sweep(tenantIds: string[], stall = IMPORT_STALL): Promise<void> {
    await forEachTenant('the imports sweep', tenantIds, async (tenantId) => {
      const stalled = await this.#db.withTenant(
        tenantId,
        (tx) => repo.stalled(tx, stall.queuedMinutes, stall.staleMinutes),
        { readOnly: true },
      );
      for (const row of stalled) {
        if (row.status === 'uploading') {
          // its client and process are gone (a live upload stores a chunk or times out well before)
          await this.#db.withTenant(tenantId, (tx) => repo.dropUpload(tx, row.id));
          continue;
        }
        const free = await this.#db.trySessionLock(IMPORT_LOCK, row.id);
        if (!free) continue; // a runner holds it: it is only slow
        await free();
        if (row.status === 'running' && row.resumes >= stall.maxResumes) {
          await this.#db.withTenant(tenantId, async (tx) => {
            await repo.update(tx, row.id, {
              status: 'failed',
              finishedAt: new Date(),
              error: `the import stopped making progress ${row.resumes + 1} times (its worker was stopped); the rows up to line ${row.lastLine} were imported`,
            });
            await repo.dropChunks(tx, row.id);
          });
          continue;
        }
        if (row.status === 'running')
          await this.#db.withTenant(tenantId, (tx) => repo.update(tx, row.id, { resumes: row.resumes + 1 }));
        const jobs = this.#jobs();
        if (jobs)
          await jobs.add(
            IMPORT_TASK,
            { tenantId, importId: row.id },
            { maxAttempts: 3, jobKey: `${IMPORT_TASK}:${row.id}` },
          );
        else await this.process(tenantId, row.id);
      }
    });
  }

  async #process(
    tenantId: string,
    importId: string,
    hooks: { afterBatch?: () => Promise<void>; last?: boolean },
  ): Promise<void> {
    const runnable = (status: string) => status === 'queued' || status === 'running';
    const job = await this.#db.withTenant(tenantId, async (tx) => {
      const row = await repo.find(tx, importId, { lock: true });
      if (row && runnable(row.status)) await repo.resume(tx, importId);
      return row;
    });
    if (!job || !runnable(job.status)) return;
    // the rows are written as the uploader's (an import from before uploaders were kept: as itself);
    // the upload needed the scope for the type, the rest of a row's writes follow from it
    const actor: TenantActor = {
      sub: job.createdBy ?? `import:${importId}`,
      tenantId,
      scopes: new Set(TENANT_SCOPES),
      segments: null,
    };
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
      let unreadable: AppError | undefined;
      try {
        for await (const row of this.#rows(tenantId, job, toBody)) {
          // written by an earlier attempt, with its batch
          if (row.line <= job.lastLine) continue;
          batch.push(row);
          if (batch.length >= BATCH_ROWS) {
            await this.#writeBatch(actor, job, batch);
            batch = [];
            await hooks.afterBatch?.();
          }
        }
      } catch (error) {
        // the rows read before the point the file breaks at are written, then the import fails there
        if (!(error instanceof AppError && error.code === 'malformed_file')) throw error;
        unreadable = error;
      }
      if (batch.length) await this.#writeBatch(actor, job, batch);
      if (unreadable) throw unreadable;
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
      // a broken file fails for good (another attempt would read the same bytes); anything else is
      // retried while attempts remain. Readers see a problem's own message, never an unexpected
      // error's (a failed query carries its SQL and the rows' values): that one is the worker log's
      const broken = error instanceof AppError && error.code === 'malformed_file';
      const last = broken || (hooks.last ?? true);
      const message = publicFailure(error, 'import');
      await this.#db.withTenant(tenantId, async (tx) => {
        const row = await repo.find(tx, importId, { lock: true });
        if (row?.status !== 'running') return;
        await repo.update(
          tx,
          importId,
          last
            ? { status: 'failed', finishedAt: new Date(), error: message }
            : { error: `${message} (this attempt failed; the import will be retried)` },
        );
        // a failed import is never run again: its file (personal data) goes
        if (last) await repo.dropChunks(tx, importId);
      });
      if (!broken) throw error;
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
            ? // each row was checked for U+0000 as it was read
              await this.#customers.batchUpsertIn(
                tx,
                actor,
                good.map((r) => r.body),
                { nulFree: true },
              )
            : await this.#orders.recordIn(
                tx,
                actor,
                good.map((r) => r.body),
                { nulFree: true },
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
          lastLine: rows.at(-1)!.line,
        });
      },
      { retryConflicts: true },
    );
    // committed: the scores of the customers these orders touched follow
    if (job.type === 'orders') await this.#orders.written(actor.tenantId);
  }

  /**
   * The import's rows, parsed from its chunks as they are read (UTF-8 checked on the way). A file that
   * cannot be read past some point (bytes that are not UTF-8, a quote never closed, a record or line
   * over 1 MiB) ends with a `malformed_file` error: the import fails there, saying where.
   */
  async *#rows(tenantId: string, job: ImportRow, toBody: (r: Record_) => unknown): AsyncGenerator<Row> {
    const db = this.#db;
    const { text, broken } = utf8Text(
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
      for await (const row of linesOf(text, MAX_RECORD_BYTES)) {
        line += 1;
        bytes += Buffer.byteLength(row) + 1;
        if (!row.trim()) continue;
        try {
          // a byte-order mark opens some exported files; it is not part of the first row
          yield { line, ...checked(JSON.parse(line === 1 ? row.replace(/^\uFEFF/, '') : row)), bytes };
        } catch {
          yield { line, error: new AppError('invalid_json', 'the line is not valid JSON'), bytes };
        }
      }
      const unreadable = broken();
      if (unreadable) throw unreadable;
      return;
    }
    let fatal: AppError | undefined;
    // a record is reported at the line where it starts: the line it ends on, less the line breaks
    // inside it (its raw text, without the empty lines skipped before it and its own line break)
    const startOf = (lines: number, raw: string) =>
      lines -
      (raw
        .replace(/\r?\n$/, '')
        .replace(/^[\r\n]+/, '')
        .match(/\n/g)?.length ?? 0);
    // csv-parse counts a CRLF inside a quoted field as two lines: its line numbers run ahead by
    // one for each such break before them. Counted here in file order (records and skipped rows
    // alike, as the parser meets them), so each row's line is taken back by as many.
    let doubled = 0;
    const lineOf = (lines: number, raw: string) => {
      doubled += raw.match(/\r\n/g)?.length ?? 0;
      return startOf(lines - doubled, raw);
    };
    const parser = parse({
      columns: true,
      bom: true,
      skip_empty_lines: true,
      trim: false,
      info: true,
      skip_records_with_error: true,
      max_record_size: MAX_RECORD_BYTES,
      raw: true,
      on_record: (r: { info: { lines: number }; raw: string }) => ({
        ...r,
        line: lineOf(r.info.lines, r.raw),
      }),
    });
    // pipeline, not pipe: an error reading the file's chunks reaches the loop below through the parser
    pipeline(Readable.from(text), parser, () => {});
    // where the file stops being readable: nothing from there on is taken (after an oversized record
    // the parser resynchronises at some later line break, and what it reads there is not the file's)
    let fatalLine = Number.POSITIVE_INFINITY;
    // one bad record may raise several skips (each misplaced quote in it, then its column count),
    // each with the record's text so far: the first stands for it, the others are the same row
    let lastSkipped: number | undefined;
    parser.on('skip', (error: Error & { code?: string; lines: number; raw?: string }) => {
      const record = startOf(error.lines, error.raw ?? '');
      if (record === lastSkipped) return;
      lastSkipped = record;
      const line = lineOf(error.lines, error.raw ?? '');
      if (fatal) return;
      if (error.code === 'CSV_QUOTE_NOT_CLOSED' || error.code === 'CSV_MAX_RECORD_SIZE') {
        fatalLine = line;
        // every byte after an open quote is inside it: nothing after can be told apart
        fatal = new AppError(
          'malformed_file',
          error.code === 'CSV_QUOTE_NOT_CLOSED'
            ? `line ${line}: a quote opened there is never closed, so the rest of the file (to line ${error.lines}) reads as one field; the rows before line ${line} were imported`
            : `line ${line}: the record is longer than 1 MiB (a quote never closed?); the rows before it were imported`,
        );
        return;
      }
      // into the parser's own output, in its place among the records: the rows go out in file order
      // (a retry resumes after a line) and a file of nothing but bad rows is read no faster than
      // they are written (the output's back-pressure holds the parser), never gathered in memory
      parser.push({
        skipped: { line, error: new AppError('validation_failed', `malformed CSV row: ${error.message}`) },
      });
    });
    let bytes = 0;
    for await (const item of parser as AsyncIterable<
      | { record: Record_; info: { lines: number; bytes: number }; line: number }
      | { skipped: { line: number; error: AppError } }
    >) {
      if ('skipped' in item) {
        if (item.skipped.line >= fatalLine) break;
        yield { ...item.skipped, bytes };
        continue;
      }
      const { record, info, line } = item;
      bytes = info.bytes;
      if (line >= fatalLine) break;
      yield { line, ...bodyOf(toBody, record), bytes };
    }
    // a file that is not UTF-8 past some line ends there, before any quote could be left open
    const unreadable = broken() ?? fatal;
    if (unreadable) throw unreadable;
  }

  /** Erasure: import errors that quote any of these values lose their detail; files holding them go. */
  async forgetValues(tx: Tx, needles: readonly string[]): Promise<void> {
    await repo.scrubErrors(tx, needles);
    await repo.stopHolding(tx, needles);
  }
}
