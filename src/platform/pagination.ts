import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.ts';
import { AppError } from './errors.ts';

export const MAX_LIMIT = 500;
export const DEFAULT_LIMIT = 50;

export const limitParam = z.coerce
  .number()
  .int()
  .min(1)
  .default(DEFAULT_LIMIT)
  .transform((n) => Math.min(n, MAX_LIMIT))
  .describe(`Page size, default ${DEFAULT_LIMIT}; more than ${MAX_LIMIT} is cut to ${MAX_LIMIT}`);

export const cursorParam = z
  .string()
  .max(2000)
  .optional()
  .describe('Opaque cursor from a previous page (`nextCursor`)');

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    data: z.array(item),
    nextCursor: z.string().nullable().describe('Cursor of the next page, null on the last page'),
  });

/** A page; `edgeCursor(i)` (GraphQL edges) is not serialized. */
export type Page<T> = { data: T[]; nextCursor: string | null; edgeCursor?: (index: number) => string };

/** What a cursor is bound to: the tenant, the list and its filters. */
export type CursorScope = { tenantId: string | null; list: string; filters: Record<string, unknown> };

/**
 * Signed keyset cursors: `base64url(position).hmac`, where the MAC covers the position and a digest
 * of the scope, so a cursor cannot be forged, nor replayed in another tenant or with other filters.
 */
export class Cursors {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = createHash('sha256').update(`vinculo-cursor:${secret}`).digest();
  }

  #mac(scope: CursorScope, body: string): Buffer {
    return createHmac('sha256', this.#key)
      .update(canonicalJson({ t: scope.tenantId, l: scope.list, f: scope.filters }))
      .update('\n')
      .update(body)
      .digest()
      .subarray(0, 16);
  }

  encode(scope: CursorScope, position: string): string {
    const body = Buffer.from(position, 'utf8').toString('base64url');
    return `${body}.${this.#mac(scope, body).toString('base64url')}`;
  }

  decode(scope: CursorScope, cursor: string): string {
    const [body, mac, extra] = cursor.split('.');
    if (!body || !mac || extra !== undefined) throw invalid();
    const given = Buffer.from(mac, 'base64url');
    const expected = this.#mac(scope, body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
    return Buffer.from(body, 'base64url').toString('utf8');
  }

  /** Turns `limit + 1` fetched rows into a page whose cursor points after the last returned row. */
  page<Row, Out>(
    scope: CursorScope,
    rows: Row[],
    limit: number,
    positionOf: (row: Row) => string,
    map: (row: Row) => Out,
  ): Page<Out> {
    const more = rows.length > limit;
    const kept = more ? rows.slice(0, limit) : rows;
    const last = kept.at(-1);
    const page: Page<Out> = {
      data: kept.map(map),
      nextCursor: more && last !== undefined ? this.encode(scope, positionOf(last)) : null,
    };
    Object.defineProperty(page, 'edgeCursor', {
      enumerable: false,
      value: (index: number) => this.encode(scope, positionOf(kept[index]!)),
    });
    return page;
  }
}

function invalid(): AppError {
  return new AppError(
    'invalid_cursor',
    'the cursor was not issued for this list, these filters and this tenant, or it was altered',
  );
}
