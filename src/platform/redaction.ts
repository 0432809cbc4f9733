import { type SQL, sql } from 'drizzle-orm';

/**
 * For erasure: a PostgreSQL regular expression matching any of these values as text, in any case
 * (metacharacters escaped, so `+34…` or `a.b@c` match only themselves).
 */
export const anyOf = (values: readonly string[]): string =>
  // whole values only: a phone 600123456 is not the tail of 9600123456, ana@x.es not of juana@x.es
  `(?<![0-9A-Za-z])(${values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?![0-9A-Za-z])`;

/** `text` with every match of `pattern` (anyOf) replaced by `[erased]`. */
export const erasedIn = (text: SQL, pattern: string): SQL =>
  sql`regexp_replace(${text}, ${pattern}, '[erased]', 'gi')`;
