import { z } from 'zod';

/** Shapes shared by every module's REST surface (no domain here). */
/**
 * A UUID, in any case, read as lower case: the form the database returns, so ids compare as strings
 * (an upper-case id in a path, a reference or a definition names the same row).
 */
export const uuid = () => z.uuid().overwrite((v) => v.toLowerCase());

export const IdParams = z.object({ id: uuid().describe('The resource id (UUIDv7)') });

export const timestampOut = (what: string) => z.iso.datetime().describe(`${what} (ISO 8601, UTC)`);

export const IfMatchHeaders = z.object({
  'if-match': z
    .string()
    .max(100)
    .optional()
    .describe('The ETag of the version you read; a stale one is refused with 412'),
});

/** An Idempotency-Key: the REST header and GraphQL's `idempotencyKey` argument alike. */
export const IdempotencyKey = z.string().min(1).max(255);

export const IdempotencyHeaders = z.object({
  'idempotency-key': IdempotencyKey.optional().describe('Makes a retried write safe'),
});

/** An ETag from a row version: `"v3"`. */
export const etagOf = (version: number) => `"v${version}"`;

/** `If-Match` matches when it is `*` or lists the current ETag (weak or strong; GraphQL may omit the quotes). */
export function ifMatchSatisfied(header: string | undefined, version: number): boolean {
  if (header === undefined) return true;
  const current = etagOf(version);
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === current || `"${t}"` === current);
}

/** Clocks drift: a time up to five minutes ahead is accepted, later ones are refused. */
export const FUTURE_SKEW_MS = 5 * 60_000;

/**
 * PostgreSQL has no year 0: a date or time before 0001-01-01 UTC (which an offset can make of
 * `0001-01-01T00:30:00+01:00`) is refused here rather than by the database. At the other end, a time
 * that is past 9999 in UTC (`9999-12-31T23:00:00-12:00`) is refused too: it has no four-digit ISO form
 * for the database to read back.
 */
const YEAR_ONE_MS = Date.parse('0001-01-01T00:00:00Z');
const YEAR_10000_MS = Date.parse('+010000-01-01T00:00:00Z');
// a string that is no date at all is the format check's to report, once
const fromYearOne = (v: string) => {
  const t = Date.parse(v);
  return Number.isNaN(t) || t >= YEAR_ONE_MS;
};
const toYear9999 = (v: string) => {
  const t = Date.parse(v);
  return Number.isNaN(t) || t < YEAR_10000_MS;
};
const YEAR_ONE = 'the year must be 0001 or later';
/** An ISO 8601 time with an offset. */
export const isoDateTime = () =>
  z.iso
    .datetime({ offset: true })
    .refine(fromYearOne, YEAR_ONE)
    .refine(toYear9999, 'the year must be 9999 or earlier, in UTC');
/** A period's rule on two of a query's fields, for `.refine(...)`: the start before the end when both are given. */
export function startBeforeEnd<F extends string, T extends string>(
  start: F,
  end: T,
): [(q: Partial<Record<F | T, string>>) => boolean, { message: string; path: PropertyKey[] }] {
  return [
    (q) => !q[start] || !q[end] || Date.parse(q[start]!) < Date.parse(q[end]!),
    { message: `must be before \`${end}\``, path: [start] },
  ];
}

/** A period query's rule, with `.refine(...periodInOrder)`: `from` before `to` when both are given. */
export const periodInOrder = startBeforeEnd('from', 'to');
/** An ISO 8601 day (one that exists: not 2021-02-30). */
export const isoDate = () => z.iso.date().refine(fromYearOne, YEAR_ONE);

/** A time that has happened (ISO 8601 with an offset). */
export const pastTimestamp = (what: string) =>
  isoDateTime()
    .refine((t) => Date.parse(t) <= Date.now() + FUTURE_SKEW_MS, 'must not be in the future')
    .describe(`${what} (ISO 8601)`);
