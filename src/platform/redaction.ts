import { type SQL, sql } from 'drizzle-orm';
import type { Tx } from './db.ts';

/**
 * For erasure: a PostgreSQL regular expression matching any of these values as text, in any case
 * (metacharacters escaped, so `a.b@c` matches only itself; a phone, however its digits are spaced).
 */
export const anyOf = (values: readonly string[]): string => `(${values.map(patternOf).join('|')})`;

/** What separates a phone's digits in writing: `600 123 456`, `600-123-456`, `(600) 123.456`. */
const PHONE_LIKE = /^\+?[0-9][0-9 ()./-]*$/;
const SEPARATOR = '[ ()./-]';

/**
 * A value as a pattern of whole values only (a phone 600123456 is not the tail of 9600123456, ana@x.es
 * not of juana@x.es): itself (escaped); or for a phone-like value its digits with any separators
 * between them, and for an international one (`+34…`) the `+` also written as `00`, or left out. A
 * phone is not found inside a longer number, separators included: not after another country's prefix
 * (`+33 600 123 456`), nor before more digits (`600 123 456 789`).
 */
function patternOf(value: string): string {
  if (!PHONE_LIKE.test(value))
    return `(?<![0-9A-Za-z])${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![0-9A-Za-z])`;
  const digits = [...value.replace(/[^0-9]/g, '')].join(`${SEPARATOR}*`);
  const phone = value.startsWith('+') ? `(?:(?:\\+|00)[ ]*)?${digits}` : digits;
  return `(?<![A-Za-z])(?<![0-9+]${SEPARATOR}*)${phone}(?!${SEPARATOR}*[0-9])(?![A-Za-z])`;
}

/** `text` with every match of `pattern` (anyOf) replaced by `[erased]`. */
export const erasedIn = (text: SQL, pattern: string): SQL =>
  sql`regexp_replace(${text}, ${pattern}, '[erased]', 'gi')`;

/**
 * A JSON document (a segment's definition, a campaign's variants) with every match of `pattern`
 * (anyOf) inside its strings replaced by `[erased]`: its numbers, keys and shape are left alone, so
 * it stays the same kind of document (a regular expression over its text could meet a number).
 */
export function erasedInJson<T>(value: T, pattern: string): T {
  const re = new RegExp(pattern, 'gi');
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(re, '[erased]');
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * Erasure in a table's JSON documents (a segment's definition, a campaign's variants): each row whose
 * document quotes one of the values gets it back with the matches in its strings replaced
 * (`erasedInJson`), and a new version (and ETag).
 */
export async function eraseInDocuments(
  tx: Tx,
  table: 'segments' | 'campaigns',
  column: 'definition' | 'variants',
  values: readonly string[],
): Promise<void> {
  if (!values.length) return;
  const pattern = anyOf(values);
  const [t, c] = [sql.identifier(table), sql.identifier(column)];
  const quoting = await tx.execute<{ id: string; doc: unknown }>(
    sql`SELECT id, ${c} AS doc FROM ${t} WHERE ${c}::text ~* ${pattern} FOR UPDATE`,
  );
  for (const row of quoting.rows)
    await tx.execute(sql`
      UPDATE ${t} SET ${c} = ${JSON.stringify(erasedInJson(row.doc, pattern))}::jsonb,
        version = version + 1, updated_at = now()
      WHERE id = ${row.id}::uuid`);
}
