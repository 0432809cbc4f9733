import { type SQL, sql } from 'drizzle-orm';

/**
 * For erasure: a PostgreSQL regular expression matching any of these values as text, in any case
 * (metacharacters escaped, so `+34…` or `a.b@c` match only themselves).
 */
export const anyOf = (values: readonly string[]): string =>
  values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');

/** `text` with every match of `pattern` (anyOf) replaced by `[erased]`. */
export const erasedIn = (text: SQL, pattern: string): SQL =>
  sql`regexp_replace(${text}, ${pattern}, '[erased]', 'gi')`;
