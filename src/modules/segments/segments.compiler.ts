import { getTableColumns, type SQL, sql } from 'drizzle-orm';
import { FUTURE_SKEW_MS } from '../../platform/schemas.ts';
import { customerScores } from '../scores/scores.table.ts';
import type { FieldSpec, FieldType } from './segments.fields.ts';
import { type Ast, type NumberTest, passes } from './segments.language.ts';

/**
 * The segment compiler: a validated tree → one parameterized SQL predicate over `customers c`
 * (with `customer_scores s` and `customer_aggregates a` joined when used). Values are always bound
 * parameters; only names from the field catalogue reach the SQL text.
 *
 * Logic is two-valued: a condition on a missing value is false, and `not` / `neq` / `nin` /
 * `exists: false` are true for it (compiled as `IS NOT TRUE`, never plain NOT of a NULL).
 */
export type CompileContext = {
  /** The evaluation instant: relative windows end here. */
  now: Date;
  /** Today in the tenant's time zone (YYYY-MM-DD): relative dates, ages and birthdays. */
  today: string;
  /** The tenant's time zone: a plain date compared with a time is that day there (default UTC). */
  timezone?: string;
  /** Restrict every scan to these customers (incremental membership). */
  only?: readonly string[];
};

export type Compiled = { where: SQL; joins: { scores: boolean; aggregates: boolean } };

/**
 * The score columns stored as `real` (float4). A value is compared with them as a `real` too: 0.7
 * is 0.699999988 in float4, so `punctuality gte 0.7` against a float8 0.7 would leave out the
 * customer whose punctuality reads 0.7.
 */
const REAL_COLUMNS: ReadonlySet<string> = new Set(
  Object.values(getTableColumns(customerScores))
    .filter((c) => c.columnType === 'PgReal')
    .map((c) => c.name),
);
/** The purchase aggregates that are 0, not NULL, for a customer without orders. */
const ZERO_WITHOUT_ORDERS = new Set(['orders', 'net_revenue']);

const isReal = (spec: FieldSpec) =>
  spec.type === 'number' &&
  'table' in spec.source &&
  spec.source.table === 's' &&
  REAL_COLUMNS.has(spec.source.column);

const PG_TYPE: Record<FieldType | 'real', string> = {
  real: 'real',
  string: 'text',
  enum: 'text',
  tags: 'text',
  number: 'float8',
  integer: 'bigint',
  boolean: 'boolean',
  timestamp: 'timestamptz',
  date: 'date',
  uuid: 'uuid',
  segment: 'uuid',
  birthday: 'date',
};

const DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** `instant` moved by an ISO 8601 duration (sign −1: back), in UTC calendar arithmetic; months clamp. */
export function shift(instant: Date, duration: string, sign: 1 | -1): Date {
  const m = DURATION.exec(duration);
  if (!m) throw new Error(`not a duration: ${duration}`);
  const n = (i: number) => sign * (Number(m[i] ?? 0) || 0);
  const d = new Date(instant.getTime());
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCFullYear(d.getUTCFullYear() + n(1), d.getUTCMonth() + n(2));
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, last));
  d.setUTCDate(d.getUTCDate() + n(3) * 7 + n(4));
  return new Date(d.getTime() + ((n(5) * 60 + n(6)) * 60 + n(7)) * 1000);
}

const PLAIN_DATE = /^\d{4}-\d{2}-\d{2}$/;

const dayShift = (today: string, duration: string, sign: 1 | -1) =>
  shift(new Date(`${today}T00:00:00Z`), duration, sign)
    .toISOString()
    .slice(0, 10);

class Compiler {
  readonly joins = { scores: false, aggregates: false };
  readonly ctx: CompileContext;
  constructor(ctx: CompileContext) {
    this.ctx = ctx;
  }

  param(v: unknown, type: FieldType | 'real'): SQL {
    const cast = sql.raw(PG_TYPE[type]);
    return Array.isArray(v) ? sql`${sql.param(v)}::${cast}[]` : sql`${v}::${cast}`;
  }

  /**
   * The end of a "within the last …" window: now, and the few minutes ahead that writes may be
   * stamped with (a point of sale whose clock runs fast): such an order is in the window at once.
   */
  latest(): string {
    return new Date(this.ctx.now.getTime() + FUTURE_SKEW_MS).toISOString();
  }

  /** The restriction to `only` for a subquery's customer column. */
  only(column: string): SQL {
    return this.ctx.only ? sql` AND ${sql.raw(column)} = ANY(${sql.param(this.ctx.only)}::uuid[])` : sql``;
  }

  node(ast: Ast): SQL {
    switch (ast.kind) {
      case 'all':
        return ast.nodes.length
          ? sql`(${sql.join(
              ast.nodes.map((n) => this.node(n)),
              sql` AND `,
            )})`
          : sql`TRUE`;
      case 'any':
        return ast.nodes.length
          ? sql`(${sql.join(
              ast.nodes.map((n) => this.node(n)),
              sql` OR `,
            )})`
          : sql`FALSE`;
      case 'not':
        return sql`((${this.node(ast.node)}) IS NOT TRUE)`;
      case 'condition':
        return this.condition(ast.spec, ast.op, ast.value);
      case 'activity':
        return this.activity(ast);
    }
  }

  condition(spec: FieldSpec, op: string, value: unknown): SQL {
    // the negative operators are the negation of their positive twin
    if (op === 'neq') return sql`((${this.condition(spec, 'eq', value)}) IS NOT TRUE)`;
    if (op === 'nin') return sql`((${this.condition(spec, 'in', value)}) IS NOT TRUE)`;
    if (op === 'exists' && value === false)
      return sql`((${this.condition(spec, 'exists', true)}) IS NOT TRUE)`;
    const source = spec.source;
    if ('expr' in source) {
      switch (source.expr) {
        case 'segment':
          return sql`c.id IN (SELECT m.customer_id FROM segment_members m WHERE m.segment_id = ${
            op === 'in' ? sql`ANY(${this.param(value, 'uuid')})` : this.param(value, 'uuid')
          }${this.only('m.customer_id')})`;
        case 'birthday':
          return this.birthday(value as string);
        case 'lastNps':
          return this.perCustomer(
            sql`SELECT DISTINCT ON (f.customer_id) f.customer_id, f.nps AS v FROM feedback f WHERE f.nps IS NOT NULL${this.only('f.customer_id')} ORDER BY f.customer_id, f.occurred_at DESC, f.id DESC`,
            spec,
            op,
            value,
          );
        case 'meanGap':
          return this.perCustomer(
            sql`SELECT f.customer_id, avg(f.gap)::float8 AS v FROM feedback f WHERE TRUE${this.only('f.customer_id')} GROUP BY f.customer_id`,
            spec,
            op,
            value,
          );
        case 'consent':
          if (op === 'exists') return sql`(c.consent -> ${source.key!}::text) IS NOT NULL`;
          return sql`coalesce((c.consent -> ${source.key!}::text ->> 'granted')::boolean, false) = ${this.param(value, 'boolean')}`;
        default:
          return this.test(this.expression(spec), spec, op, value);
      }
    }
    return this.test(this.expression(spec), spec, op, value);
  }

  expression(spec: FieldSpec): SQL {
    const source = spec.source;
    if ('table' in source) {
      if (source.table === 's') this.joins.scores = true;
      if (source.table === 'a') this.joins.aggregates = true;
      // a customer who never ordered has no aggregates row: no orders and no revenue, not unknown
      if (source.table === 'a' && ZERO_WITHOUT_ORDERS.has(source.column))
        return sql.raw(`coalesce(a.${source.column}, 0)`);
      return sql.raw(`${source.table}.${source.column}`);
    }
    switch (source.expr) {
      case 'age':
        return sql`date_part('year', age(${this.ctx.today}::date, c.birth_date))::bigint`;
      case 'churnRisk':
        this.joins.scores = true;
        return sql`(1 - s.p_alive)`;
      case 'attribute': {
        const key = sql`${source.key!}::text`;
        const typed = (jsonType: string, cast: string) =>
          sql`(CASE WHEN jsonb_typeof(c.attributes -> ${key}) = ${jsonType} THEN (c.attributes ->> ${key})::${sql.raw(cast)} END)`;
        if (spec.type === 'number') return typed('number', 'float8');
        if (spec.type === 'boolean') return typed('boolean', 'boolean');
        if (spec.type === 'date') return typed('string', 'date');
        return sql`(c.attributes ->> ${key})`;
      }
      default:
        throw new Error(`no expression for ${source.expr}`);
    }
  }

  /** A plain date as the start of that day (`next`: of the day after) in the tenant's time zone. */
  dayStart(date: string, next: boolean): SQL {
    return sql`((${date}::date${next ? sql` + 1` : sql``})::timestamp AT TIME ZONE ${this.ctx.timezone ?? 'UTC'}::text)`;
  }

  /** A positive operator applied to an expression. */
  test(e: SQL, spec: FieldSpec, op: string, value: unknown): SQL {
    const type = isReal(spec) ? 'real' : spec.type;
    const time = type === 'timestamp';
    // a plain date against a time means that whole day in the tenant's calendar, bounds included
    const day = (v: unknown): v is string => time && typeof v === 'string' && PLAIN_DATE.test(v);
    if (op === 'gt' && day(value)) return sql`${e} >= ${this.dayStart(value, true)}`;
    if (op === 'gte' && day(value)) return sql`${e} >= ${this.dayStart(value, false)}`;
    if (op === 'lt' && day(value)) return sql`${e} < ${this.dayStart(value, false)}`;
    if (op === 'lte' && day(value)) return sql`${e} < ${this.dayStart(value, true)}`;
    if (op === 'between' && time) {
      const [low, high] = value as [unknown, unknown];
      const from = day(low)
        ? sql`${e} >= ${this.dayStart(low, false)}`
        : sql`${e} >= ${this.param(low, type)}`;
      const to = day(high)
        ? sql`${e} < ${this.dayStart(high, true)}`
        : sql`${e} <= ${this.param(high, type)}`;
      return sql`(${from} AND ${to})`;
    }
    switch (op) {
      case 'eq':
        return sql`${e} = ${this.param(value, type)}`;
      case 'in':
        return type === 'tags'
          ? sql`${e} && ${this.param(value, type)}`
          : sql`${e} = ANY(${this.param(value, type)})`;
      case 'contains':
        return type === 'tags'
          ? sql`${e} @> ARRAY[${this.param(value, type)}]`
          : sql`strpos(lower(${e}), lower(${this.param(value, type)})) > 0`;
      case 'startsWith':
        return sql`starts_with(lower(${e}), lower(${this.param(value, type)}))`;
      case 'exists':
        return type === 'tags' ? sql`cardinality(${e}) > 0` : sql`${e} IS NOT NULL`;
      case 'gt':
        return sql`${e} > ${this.param(value, type)}`;
      case 'gte':
        return sql`${e} >= ${this.param(value, type)}`;
      case 'lt':
        return sql`${e} < ${this.param(value, type)}`;
      case 'lte':
        return sql`${e} <= ${this.param(value, type)}`;
      case 'between': {
        const [low, high] = value as [unknown, unknown];
        return sql`${e} BETWEEN ${this.param(low, type)} AND ${this.param(high, type)}`;
      }
      case 'within':
      case 'before':
      case 'after': {
        const duration = value as string;
        const cutoff = time
          ? this.param(shift(this.ctx.now, duration, -1).toISOString(), type)
          : this.param(dayShift(this.ctx.today, duration, -1), type);
        const end = time ? this.param(this.latest(), type) : this.param(this.ctx.today, type);
        if (op === 'before') return sql`${e} < ${cutoff}`;
        if (op === 'after') return sql`${e} > ${cutoff}`;
        return sql`${e} BETWEEN ${cutoff} AND ${end}`;
      }
      default:
        throw new Error(`no operator ${op}`);
    }
  }

  /** A condition on a value computed per customer by `set` (customer_id, v). */
  perCustomer(set: SQL, spec: FieldSpec, op: string, value: unknown): SQL {
    return sql`c.id IN (SELECT x.customer_id FROM (${set}) x WHERE ${this.test(sql`x.v`, spec, op, value)})`;
  }

  birthday(duration: string): SQL {
    const today = sql`${this.ctx.today}::date`;
    const end = sql`${dayShift(this.ctx.today, duration, 1)}::date`;
    const years = sql`date_part('year', age(${today}, c.birth_date))`;
    const thisYear = sql`(c.birth_date + ${years} * interval '1 year')::date`;
    const next = sql`(CASE WHEN ${thisYear} >= ${today} THEN ${thisYear} ELSE (c.birth_date + (${years} + 1) * interval '1 year')::date END)`;
    return sql`(c.birth_date <= ${today} AND ${next} <= ${end})`;
  }

  activity(ast: Extract<Ast, { kind: 'activity' }>): SQL {
    const where: SQL[] = [];
    const any = (column: string, key: string, type: FieldType = 'string') => {
      const values = ast.where[key];
      if (values) where.push(sql`${sql.raw(column)} = ANY(${this.param(values, type)})`);
    };
    let from: string;
    let time: string;
    let measures: Record<string, string>;
    switch (ast.activity) {
      case 'orders': {
        from = 'orders o';
        time = 'o.placed_at';
        measures = { count: 'count(*)', sum: 'sum(o.base_total - o.base_refunded)' };
        where.push(sql`o.status NOT IN ('cancelled', 'refunded')`);
        any('o.channel', 'channel');
        any('o.source', 'source');
        any('o.status', 'status');
        any('o.intermediary_id', 'intermediaryId', 'uuid');
        any('o.coupon_code', 'couponCode');
        for (const [key, path] of [
          ['category', 'category'],
          ['sku', 'sku'],
        ] as const) {
          const values = ast.where[key];
          if (values)
            where.push(
              sql`EXISTS (SELECT 1 FROM jsonb_array_elements(o.items) item WHERE item ->> ${path}::text = ANY(${this.param(values, 'string')}))`,
            );
        }
        break;
      }
      case 'interactions': {
        from = 'interactions o';
        time = 'o.occurred_at';
        measures = { count: 'count(*)' };
        any('o.type', 'type');
        any('o.channel', 'channel');
        any('o.direction', 'direction');
        any('o.intermediary_id', 'intermediaryId', 'uuid');
        const open = ast.where.open?.[0];
        if (open !== undefined)
          where.push(
            open
              ? sql`o.case_status IS NOT NULL AND o.case_status NOT IN ('resolved', 'closed')`
              : sql`o.case_status IN ('resolved', 'closed')`,
          );
        const unanswered = ast.where.unanswered?.[0];
        if (unanswered !== undefined)
          where.push(
            unanswered
              ? sql`o.case_status IS NOT NULL AND o.first_response_at IS NULL`
              : sql`o.first_response_at IS NOT NULL`,
          );
        break;
      }
      case 'feedback':
        from = 'feedback o';
        time = 'o.occurred_at';
        measures = { count: 'count(*)', meanGap: 'avg(o.gap)', meanNps: 'avg(o.nps)' };
        any('o.dimension', 'dimension');
        any('o.channel', 'channel');
        break;
      case 'statusChanges':
        from = 'customer_status_history o';
        time = 'o.changed_at';
        measures = { count: 'count(*)' };
        any('o.to_status', 'to');
        any('o.from_status', 'from');
        any('o.to_phase', 'toPhase');
        any('o.from_phase', 'fromPhase');
        any('o.reason', 'reason');
        break;
    }
    if (ast.within) {
      const cutoff = shift(this.ctx.now, ast.within, -1).toISOString();
      where.push(sql`${sql.raw(time)} BETWEEN ${cutoff}::timestamptz AND ${this.latest()}::timestamptz`);
    }
    const having = sql.join(
      Object.entries(ast.measures).flatMap(([measure, test]) =>
        numberTests(sql.raw(measures[measure]!), test),
      ),
      sql` AND `,
    );
    const filter = where.length ? sql.join(where, sql` AND `) : sql`TRUE`;
    // "at least one row" and "no row" are (anti-)semi-joins the planner runs as index probes
    // per candidate customer; only other counts and sums need the grouped sub-query.
    const entries = Object.entries(ast.measures);
    const count = entries.length === 1 ? ast.measures.count : undefined;
    if (count) {
      const rows = sql`SELECT 1 FROM ${sql.raw(from)} WHERE o.customer_id = c.id AND ${filter}`;
      const lowerOnly = count.lt === undefined && count.lte === undefined && count.eq === undefined;
      const upperOnly = count.gt === undefined && count.gte === undefined;
      if (lowerOnly && !passes(count, 0) && passes(count, 1)) return sql`EXISTS (${rows})`;
      if (upperOnly && passes(count, 0) && !passes(count, 1)) return sql`NOT EXISTS (${rows})`;
    }
    const grouped = (tests: SQL) =>
      sql`SELECT o.customer_id FROM ${sql.raw(from)} WHERE ${filter}${this.only('o.customer_id')} GROUP BY o.customer_id HAVING ${tests}`;
    // A customer with no matching rows has count 0 and sum 0 (and no means): when that passes, the
    // members are everyone but those whose rows fail the tests.
    const zeroPasses = Object.entries(ast.measures).every(
      ([measure, test]) => (measure === 'count' || measure === 'sum') && passes(test, 0),
    );
    return zeroPasses
      ? sql`c.id NOT IN (${grouped(sql`NOT (${having})`)})`
      : sql`c.id IN (${grouped(having)})`;
  }
}

function numberTests(e: SQL, test: NumberTest): SQL[] {
  const ops = { eq: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;
  return Object.entries(test).map(
    ([op, n]) => sql`${e} ${sql.raw(ops[op as keyof typeof ops])} ${n}::float8`,
  );
}

export function compile(ast: Ast, ctx: CompileContext): Compiled {
  const compiler = new Compiler(ctx);
  const where = compiler.node(ast);
  return { where, joins: compiler.joins };
}

/** The ids of the customers a compiled definition selects. */
export function selectIds(compiled: Compiled, only?: readonly string[]): SQL {
  const joins = [
    compiled.joins.scores
      ? sql` LEFT JOIN customer_scores s ON s.tenant_id = c.tenant_id AND s.customer_id = c.id`
      : sql``,
    compiled.joins.aggregates
      ? sql` LEFT JOIN customer_aggregates a ON a.tenant_id = c.tenant_id AND a.customer_id = c.id`
      : sql``,
  ];
  const restrict = only ? sql` AND c.id = ANY(${sql.param(only)}::uuid[])` : sql``;
  return sql`SELECT c.id FROM customers c${joins[0]}${joins[1]} WHERE ${compiled.where}${restrict}`;
}
