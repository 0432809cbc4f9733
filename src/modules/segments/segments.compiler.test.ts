import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { compile, selectIds, shift } from './segments.compiler.ts';
import { validate } from './segments.language.ts';
import { dependencyOrder } from './segments.membership.ts';
import type { SegmentRow } from './segments.repository.ts';

const ctx = { now: new Date('2026-03-31T10:00:00.000Z'), today: '2026-03-31' };
const toSql = (definition: unknown, only?: string[]) => {
  const result = validate(definition, new Map([['nickname', { type: 'string' as const, values: null }]]));
  if ('errors' in result) throw new Error(JSON.stringify(result.errors));
  return new PgDialect().sqlToQuery(selectIds(compile(result.ast, { ...ctx, only }), only));
};

describe('durations', () => {
  it('moves instants in calendar time, clamping to the end of shorter months', () => {
    expect(shift(ctx.now, 'P1M', -1).toISOString()).toBe('2026-02-28T10:00:00.000Z');
    expect(shift(new Date('2024-02-29T00:00:00Z'), 'P1Y', -1).toISOString()).toBe('2023-02-28T00:00:00.000Z');
    expect(shift(ctx.now, 'P1W2DT3H', -1).toISOString()).toBe('2026-03-22T07:00:00.000Z');
    expect(shift(ctx.now, 'P7D', 1).toISOString()).toBe('2026-04-07T10:00:00.000Z');
  });
});

describe('the compiler', () => {
  it('binds every value as a parameter: nothing a client sends reaches the SQL text', () => {
    const hostile = "x'); DROP TABLE customers; --";
    const query = toSql({
      version: 1,
      any: [
        { field: 'city', op: 'eq', value: hostile },
        { field: 'attributes.nickname', op: 'startsWith', value: hostile },
        { field: 'tags', op: 'in', value: [hostile] },
        { orders: { where: { category: hostile, couponCode: [hostile] }, sum: { gte: 5 } } },
      ],
    });
    expect(query.sql).not.toContain('DROP');
    expect(query.sql).not.toContain('nickname');
    expect(query.params).toEqual(expect.arrayContaining([hostile, 'nickname', [hostile]]));
  });

  it('negates with IS NOT TRUE (two-valued logic) and turns count windows that admit zero into NOT IN', () => {
    const query = toSql({ version: 1, not: { orders: { within: 'P30D', count: { lt: 2 } } } });
    expect(query.sql).toContain('IS NOT TRUE');
    expect(query.sql).toContain('c.id NOT IN (SELECT o.customer_id FROM orders o');
    const positive = toSql({ version: 1, all: [{ orders: { count: { gte: 2 } } }] });
    expect(positive.sql).toContain('c.id IN (SELECT o.customer_id FROM orders o');
  });

  it('compiles "at least one" and "none" as correlated (NOT) EXISTS, which the planner probes by index', () => {
    expect(toSql({ version: 1, all: [{ orders: { within: 'P90D' } }] }).sql).toContain(
      'EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND',
    );
    expect(toSql({ version: 1, all: [{ interactions: { count: { eq: 0 } } }] }).sql).toContain(
      'NOT EXISTS (SELECT 1 FROM interactions o WHERE o.customer_id = c.id',
    );
  });

  it('joins scores and aggregates only when used, and restricts every scan to the given customers', () => {
    const plain = toSql({ version: 1, all: [{ field: 'country', op: 'eq', value: 'ES' }] });
    expect(plain.sql).not.toContain('customer_scores');
    expect(plain.sql).not.toContain('customer_aggregates');
    const ids = ['01936f0e-c1b2-7c3d-8e4f-5a6b7c8d9e0f'];
    const restricted = toSql(
      {
        version: 1,
        all: [
          { field: 'scores.tier', op: 'eq', value: 'vip' },
          { field: 'purchases.orders', op: 'gt', value: 1 },
          { interactions: { where: { type: 'complaint' }, count: { gte: 2 } } },
        ],
      },
      ids,
    );
    expect(restricted.sql).toContain('LEFT JOIN customer_scores s');
    expect(restricted.sql).toContain('LEFT JOIN customer_aggregates a');
    expect(restricted.sql).toContain('o.customer_id = ANY(');
    expect(restricted.sql).toContain('c.id = ANY(');
  });
});

describe('dependency order', () => {
  it('puts each segment after the segments it refers to', () => {
    const row = (id: string, dependsOn: string[]) => ({ id, dependsOn }) as SegmentRow;
    const order = dependencyOrder([row('c', ['b']), row('b', ['a']), row('a', []), row('d', [])]);
    expect(order.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
  });
});
