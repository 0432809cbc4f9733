import { and, eq, type SQL, sql } from 'drizzle-orm';
import { isoUtc, type Tx } from '../../platform/db.ts';
import { customers } from '../customers/customers.table.ts';
import { isReactivation } from '../customers/status-history.table.ts';
import type { ScoreSettings } from '../tenants/tenants.schemas.ts';
import { RFM_GRID } from './scores.rfm.ts';
import {
  type Cutpoints,
  customerScores,
  customerTierHistory,
  type ModelFit,
  scoreState,
} from './scores.table.ts';

export type ScoreRow = typeof customerScores.$inferSelect;
export type StateRow = typeof scoreState.$inferSelect;

/** When the computation happens: the instant, and the day it stands for in the tenant's time zone. */
export type AsOf = { now: Date; day: string; timezone: string };

/** What one customer's row is computed from (the incremental path computes the rest in Node). */
export type ScoreBase = {
  customer_id: string;
  frequency: number;
  monetary: number;
  volume: number;
  punctuality: number | null;
  seniority_days: number;
  recency_days: number | null;
  x: number | null;
  tx: number | null;
  age: number | null;
  mean_repeat_spend: number | null;
  interactions_90: number;
  inbound_90: number;
  feedback_90: number;
  referrals: number;
  referral_revenue: number;
  complaints: number;
  recoveries: number;
  reactivations: number;
};

/** A computed row, as the incremental path hands it to `stage` (the full path stages in SQL). */
export type StagedScore = ScoreBase & {
  r: number | null;
  f: number | null;
  m: number | null;
  n_volume: number | null;
  n_frequency: number | null;
  n_amount: number | null;
  n_punctuality: number | null;
  n_seniority: number | null;
  value_score: number | null;
  tier: string | null;
  p_alive: number | null;
  expected_90: number | null;
  expected_spend: number | null;
  clv: number | null;
};

export type TupleOutput = { x: number; tx: number; age: number; p_alive: number; e90: number; det: number };

/** Builds the statement that emits one event per row of `source` (EventsService.insertFrom). */
export type Emit = (type: 'customer.status_changed' | 'customer.tier_changed', source: SQL) => SQL;

const WORK_TABLES = ['features', 'stale', 'tuples', 'referrals', 'base', 'hist', 'staged'] as const;
type WorkName = (typeof WORK_TABLES)[number];

/**
 * The working tables of one computation: temporary tables for the refresh (a thousand rows or so),
 * unlogged tables in the `vinculo_work` schema for the full recompute. PostgreSQL never reads a
 * temporary table with parallel workers, so on temporary tables every step of a recompute ran on one
 * core while the one-pass `GROUP BY` it is measured against used every core. The unlogged ones are
 * named after the tenant (one recompute per tenant at a time: the state lock), created and dropped
 * inside the recompute's transaction: never committed, never seen by another session, and gone
 * with the transaction if it fails.
 */
export type WorkTables = Record<WorkName, SQL> & {
  /** Every table's qualified name. */
  names: readonly string[];
  /** The histogram's index, named (an automatic name is cut at 63 characters: two tenants' could meet). */
  histIndex: SQL;
  /** `CREATE … TABLE <name>`, up to the `AS` of a CREATE TABLE AS. */
  create(name: WorkName): SQL;
  /** The statement that drops them all (none for temporary tables: they go at commit). */
  drop: SQL | null;
};

function workTables(nameOf: (t: WorkName) => string, unlogged: boolean): WorkTables {
  const byRole = Object.fromEntries(WORK_TABLES.map((t) => [t, sql.raw(nameOf(t))])) as Record<WorkName, SQL>;
  const names = WORK_TABLES.map(nameOf);
  return {
    ...byRole,
    names,
    // an index lives in its table's schema: its name is not qualified
    histIndex: sql.raw(`${nameOf('hist').split('.').at(-1)}_idx`),
    create: (t) =>
      sql.raw(
        unlogged ? `CREATE UNLOGGED TABLE ${nameOf(t)}` : `CREATE TEMP TABLE ${nameOf(t)} ON COMMIT DROP`,
      ),
    drop: unlogged ? sql.raw(`DROP TABLE IF EXISTS ${names.join(', ')}`) : null,
  };
}

/** The refresh's working tables. */
export const TEMP_WORK = workTables((t) => `score_${t}`, false);

/** The full recompute's working tables for this tenant. */
export function recomputeWork(tenantId: string): WorkTables {
  const hex = tenantId.replaceAll('-', '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a tenant id: ${tenantId}`);
  return workTables((t) => `vinculo_work.score_${t}_${hex}`, true);
}

/** Memory for the full recompute's sorts and hashes (its transaction only; one recompute per tenant at a time). */
const RECOMPUTE_WORK_MEM = '256MB';

const COUNTED = sql.raw(`o.status NOT IN ('cancelled', 'refunded')`);
const CASE_TYPES = sql.raw(`('complaint', 'claim')`);

/** Restricts a per-customer statement to some customers, or none for the whole tenant. */
const only = (column: string, ids: string[] | undefined) =>
  ids ? sql`AND ${sql.raw(column)} = ANY(${sql.param(ids)}::uuid[])` : sql``;

/**
 * The purchase-day features of the BG/NBD model (one purchase per day counts once), computed from the
 * orders, for the customers with purchase aggregates in `target` (a statement returning customer
 * ids, or an id list): x repeat purchase days, the first and last purchase day, and the mean spend of
 * the repeat days (Gamma-Gamma leaves the first day out); null for a customer without counted orders.
 * Each row carries the aggregates' `updated_at` read in the same statement (the same snapshot as the
 * orders): an order written afterwards moves it, so the row is known to be stale.
 */
function featuresFromOrders(at: AsOf, target: SQL | string[] | 'all'): SQL {
  const which =
    target === 'all'
      ? sql``
      : Array.isArray(target)
        ? sql`AND a.customer_id = ANY(${sql.param(target)}::uuid[])`
        : sql`AND a.customer_id IN (${target})`;
  return sql`
    WITH target AS MATERIALIZED (
      SELECT a.customer_id, a.updated_at FROM customer_aggregates a
      WHERE a.tenant_id = vinculo_current_tenant() ${which}
    ), days AS (
      -- every counted order, as the aggregates count them: one placed a little ahead of the clock
      -- (orders may be up to five minutes in the future) is a purchase of the as-of day
      SELECT o.customer_id, least((o.placed_at AT TIME ZONE ${at.timezone})::date, ${at.day}::date) AS day,
        sum(o.base_total - o.base_refunded) AS spend
      FROM orders o
      WHERE o.tenant_id = vinculo_current_tenant() AND ${COUNTED}
        ${target === 'all' ? sql`` : sql`AND o.customer_id IN (SELECT customer_id FROM target)`}
      GROUP BY 1, 2
    ), customer AS (
      SELECT customer_id, count(*)::int - 1 AS x, min(day) AS first_day, max(day) AS last_day,
        sum(spend)::float8 AS spend, (min(ARRAY[day - DATE '2000-01-01', spend]))[2]::float8 AS first_spend
      FROM days GROUP BY 1
    )
    SELECT t.customer_id, t.updated_at AS aggregates_at, c.x, c.first_day, c.last_day,
      CASE WHEN c.x > 0 THEN (c.spend - c.first_spend) / c.x END AS mean_repeat_spend
    FROM target t LEFT JOIN customer c USING (customer_id)`;
}

/**
 * A customer's stored scores row `s` still holds the purchase-day features when the purchase
 * aggregates `a` have not changed since they were read for it (every order write updates them) and
 * no counted order was placed after the row was computed (without counted orders there are none).
 * The row's order count and revenue must match too: two writers that started in the same
 * microsecond would leave the same updated_at.
 */
const FRESH = sql.raw(
  `s.aggregates_at = a.updated_at AND s.frequency = a.orders AND s.monetary = a.net_revenue
    AND (a.orders = 0 OR (s.x IS NOT NULL AND a.last_order_at <= s.computed_at))`,
);

/** Each referrer's referred customers and their net revenue (for some referrers, or all of them). */
function referralsQuery(ids?: string[]): SQL {
  return sql`
      SELECT r.referred_by_customer_id AS customer_id, count(*)::int AS n, sum(ra.net_revenue) AS revenue
      FROM customers r
      LEFT JOIN customer_aggregates ra ON ra.tenant_id = r.tenant_id AND ra.customer_id = r.id
      WHERE r.tenant_id = vinculo_current_tenant() AND r.referred_by_customer_id IS NOT NULL
        ${only('r.referred_by_customer_id', ids)}
      GROUP BY 1`;
}

/**
 * Every input of a customer's row (and `extra` columns); the features table must exist. `referrals`
 * names a table of referralsQuery's rows built beforehand (the full recompute: a subquery that runs
 * in parallel itself would keep the whole statement's joins in one process).
 */
function baseQuery(at: AsOf, features: SQL, ids?: string[], extra: SQL = sql``, referrals?: SQL): SQL {
  const day = sql`${at.day}::date`;
  const since90 = sql`${at.now}::timestamptz - interval '90 days'`;
  return sql`
    SELECT c.id AS customer_id,
      coalesce(a.orders, 0) AS frequency, coalesce(a.net_revenue, 0)::bigint AS monetary,
      coalesce(a.items, 0) AS volume,
      CASE WHEN a.orders_with_due_date - coalesce(pd.n, 0) > 0
        THEN a.orders_paid_on_time::float8 / (a.orders_with_due_date - coalesce(pd.n, 0)) END AS punctuality,
      greatest(0, ${day} - least((c.created_at AT TIME ZONE ${at.timezone})::date, f.first_day)) AS seniority_days,
      CASE WHEN coalesce(a.orders, 0) > 0 THEN ${day} - f.last_day END AS recency_days,
      CASE WHEN coalesce(a.orders, 0) > 0 THEN f.x END AS x,
      CASE WHEN coalesce(a.orders, 0) > 0 THEN f.last_day - f.first_day END AS tx,
      CASE WHEN coalesce(a.orders, 0) > 0 THEN ${day} - f.first_day END AS age,
      f.mean_repeat_spend,
      coalesce(i.interactions, 0) AS interactions_90, coalesce(i.inbound, 0) AS inbound_90,
      coalesce(fb.n, 0) AS feedback_90,
      coalesce(ref.n, 0) AS referrals, coalesce(ref.revenue, 0)::bigint AS referral_revenue,
      coalesce(k.complaints, 0) AS complaints,
      coalesce(k.recoveries, 0) AS recoveries,
      coalesce(h.n, 0) AS reactivations ${extra}
    FROM customers c
    LEFT JOIN customer_aggregates a ON a.tenant_id = c.tenant_id AND a.customer_id = c.id
    LEFT JOIN ${features} f ON f.customer_id = c.id
    LEFT JOIN (
      -- an unpaid order whose due date is still ahead is neither on time nor late yet
      SELECT o.customer_id, count(*)::int AS n FROM orders o
      WHERE o.tenant_id = vinculo_current_tenant() AND o.payment_due_at IS NOT NULL AND o.payment_paid_at IS NULL
        AND o.payment_due_at > ${at.now} AND ${COUNTED} ${only('o.customer_id', ids)}
      GROUP BY 1
    ) pd ON pd.customer_id = c.id
    LEFT JOIN (
      SELECT customer_id, count(*)::int AS interactions, count(*) FILTER (WHERE direction = 'inbound')::int AS inbound
      FROM interactions WHERE tenant_id = vinculo_current_tenant() AND occurred_at > ${since90}
        AND occurred_at <= ${at.now} ${only('customer_id', ids)}
      GROUP BY 1
    ) i ON i.customer_id = c.id
    LEFT JOIN (
      SELECT customer_id, count(*)::int AS n FROM feedback
      WHERE tenant_id = vinculo_current_tenant() AND occurred_at > ${since90} AND occurred_at <= ${at.now}
        ${only('customer_id', ids)}
      GROUP BY 1
    ) fb ON fb.customer_id = c.id
    LEFT JOIN ${referrals ?? sql`(${referralsQuery(ids)})`} ref ON ref.customer_id = c.id
    LEFT JOIN (
      -- a complaint or claim is recovered when the customer bought again after making it
      SELECT x.customer_id, count(*)::int AS complaints,
        count(*) FILTER (WHERE xa.last_order_at > x.occurred_at)::int AS recoveries
      FROM interactions x
      LEFT JOIN customer_aggregates xa ON xa.tenant_id = x.tenant_id AND xa.customer_id = x.customer_id
      WHERE x.tenant_id = vinculo_current_tenant() AND x.type IN ${CASE_TYPES} AND x.reply_to IS NULL
        AND x.occurred_at <= ${at.now} ${only('x.customer_id', ids)}
      GROUP BY 1
    ) k ON k.customer_id = c.id
    LEFT JOIN (
      SELECT customer_id, count(*)::int AS n FROM customer_status_history
      WHERE tenant_id = vinculo_current_tenant() AND ${sql.raw(isReactivation(''))}
        ${only('customer_id', ids)}
      GROUP BY 1
    ) h ON h.customer_id = c.id
    WHERE c.tenant_id = vinculo_current_tenant() ${only('c.id', ids)}`;
}

/** The weighted mean of the available normalized dimensions of row `b`, 0–100 (null for non-buyers). */
function valueScoreSql(w: ScoreSettings['weights']): SQL {
  const terms: [keyof typeof w, string][] = [
    ['volume', 'b.n_volume'],
    ['frequency', 'b.n_frequency'],
    ['amount', 'b.n_amount'],
    ['punctuality', 'b.n_punctuality'],
    ['seniority', 'b.n_seniority'],
  ];
  const num = terms.map(([k, c]) => `${w[k]}::float8 * coalesce(${c}, 0)`).join(' + ');
  const den = terms.map(([k, c]) => `CASE WHEN ${c} IS NULL THEN 0 ELSE ${w[k]}::float8 END`).join(' + ');
  return sql.raw(`CASE WHEN b.frequency > 0 AND (${den}) > 0 THEN 100 * (${num}) / (${den}) END`);
}

/**
 * The metrics whose distributions among the buyers rank the customers, as codes in `score_hist`:
 * quintiles of recency (fewer days is better), frequency and monetary; cume_dist of the value dimensions.
 */
const METRICS = {
  recency: { code: 1, column: 'recency_days' },
  frequency: { code: 2, column: 'frequency' },
  monetary: { code: 3, column: 'monetary' },
  volume: { code: 4, column: 'volume' },
  punctuality: { code: 5, column: 'punctuality' },
  seniority: { code: 6, column: 'seniority_days' },
} as const;
type Metric = keyof typeof METRICS;
const METRIC_LIST = Object.entries(METRICS) as [Metric, (typeof METRICS)[Metric]][];

/**
 * The buyers' histogram of every metric in one pass (grouping sets): per distinct value its count,
 * the running count up to it and the metric's count of non-null values. A rank is then a look-up
 * of a small table instead of a sort of a million rows; the results are those of rank() and
 * cume_dist() (ties share a rank; nulls sort after the values, as ORDER BY puts them).
 */
function histogramStatement(work: WorkTables): SQL {
  const columns = METRIC_LIST.map(([, m]) => m.column);
  // GROUPING(...) has a bit per column, set where the column is not grouped: one zero bit per set
  const setOf = METRIC_LIST.map(
    ([, m], i) => `WHEN ${(2 ** columns.length - 1) ^ (2 ** (columns.length - 1 - i))} THEN ${m.code}`,
  ).join(' ');
  return sql`
    ${work.create('hist')} AS
    WITH g AS (
      SELECT CASE GROUPING(${sql.raw(columns.join(', '))}) ${sql.raw(setOf)} END::smallint AS metric,
        coalesce(${sql.raw(columns.map((c) => `${c}::float8`).join(', '))}) AS v, count(*) AS n
      FROM ${work.base} WHERE frequency > 0
      GROUP BY GROUPING SETS (${sql.raw(columns.map((c) => `(${c})`).join(', '))})
    )
    SELECT metric, v, n,
      sum(n) OVER (PARTITION BY metric ORDER BY v NULLS LAST ROWS UNBOUNDED PRECEDING)::bigint AS cum,
      (sum(n) FILTER (WHERE v IS NOT NULL) OVER (PARTITION BY metric))::bigint AS total
    FROM g`;
}

/** The histogram row of a metric for the base row `b`, joined as `alias`. */
const histJoin = (hist: SQL, metric: Metric, alias: string) =>
  sql`LEFT JOIN ${hist} ${sql.raw(alias)} ON ${sql.raw(`${alias}.metric = ${METRICS[metric].code} AND ${alias}.v = b.${METRICS[metric].column}::float8`)}`;

/**
 * Quintiles and normalized dimensions of the base rows `b` (buyers only; null for the others), from
 * the histograms joined by `normalizedJoins`. A quintile is 1 + floor(5 × (rank − 1) / buyers), the
 * share of buyers strictly worse; cume_dist is the share of the metric's values at or below.
 */
const normalizedJoins = ({ hist }: WorkTables) =>
  sql`${histJoin(hist, 'recency', 'hr')} ${histJoin(hist, 'frequency', 'hf')} ${histJoin(hist, 'monetary', 'hm')}
   ${histJoin(hist, 'volume', 'hv')} ${histJoin(hist, 'punctuality', 'hp')} ${histJoin(hist, 'seniority', 'hs')}`;
const NORMALIZED = sql.raw(`
  -- recency ranks descending, nulls first (before every value): strictly worse = more days
  CASE WHEN b.frequency > 0 THEN CASE WHEN b.recency_days IS NULL THEN 1
    ELSE 1 + floor(5.0 * (hf.total - hr.cum) / hf.total)::int END END AS r,
  CASE WHEN b.frequency > 0 THEN 1 + floor(5.0 * (hf.cum - hf.n) / hf.total)::int END AS f,
  CASE WHEN b.frequency > 0 THEN 1 + floor(5.0 * (hm.cum - hm.n) / hf.total)::int END AS m,
  CASE WHEN b.frequency > 0 THEN hv.cum::float8 / hv.total::float8 END AS n_volume,
  CASE WHEN b.frequency > 0 THEN hf.cum::float8 / hf.total::float8 END AS n_frequency,
  CASE WHEN b.frequency > 0 THEN hm.cum::float8 / hm.total::float8 END AS n_amount,
  CASE WHEN b.frequency > 0 AND b.punctuality IS NOT NULL THEN hp.cum::float8 / hp.total::float8 END AS n_punctuality,
  CASE WHEN b.frequency > 0 THEN hs.cum::float8 / hs.total::float8 END AS n_seniority`);

/**
 * The purchase aggregates as they are now beside the time they were read with the features: a
 * customer who bought while the computation ran (its aggregates changed since) moves status or
 * tier only at the refresh that follows, from the new orders (else a buyer could be recorded as
 * lapsed, then reactivated, for the seconds between).
 */
const unchangedSinceRead = (work: WorkTables) => sql`
  LEFT JOIN ${work.features} fr ON fr.customer_id = s.customer_id
  LEFT JOIN customer_aggregates ar ON ar.tenant_id = vinculo_current_tenant() AND ar.customer_id = s.customer_id`;
const UNCHANGED = sql`ar.updated_at IS NOT DISTINCT FROM fr.aggregates_at`;

const STAGE_COLUMNS = `customer_id uuid, frequency int, monetary bigint, volume bigint, punctuality float8,
  seniority_days int, recency_days int, x int, tx int, age int, mean_repeat_spend float8, interactions_90 int,
  inbound_90 int, feedback_90 int, referrals int, referral_revenue bigint, complaints int, recoveries int,
  reactivations int, r int, f int, m int, n_volume float8, n_frequency float8, n_amount float8,
  n_punctuality float8, n_seniority float8, value_score float8, tier text, p_alive float8, expected_90 float8,
  expected_spend float8, clv float8, current_status text, current_phase text, status_moves boolean,
  tier_moves boolean`;

/** The named RFM cell of staged row `s` (RFM_GRID compiled into SQL, one branch per cell). */
const RFM_CELL = `CASE (s.r - 1) * 5 + s.f ${RFM_GRID.flat()
  .map((c, i) => `WHEN ${i + 1} THEN '${c.replaceAll("'", "''")}'`)
  .join(' ')} END`;

/** A customer_scores row's columns, as written from a staged row `s` (cast to the table's types). */
const SCORE_COLUMNS: [string, string][] = [
  ['recency_days', 's.recency_days'],
  ['frequency', 's.frequency'],
  ['monetary', 's.monetary'],
  ['r', 's.r::smallint'],
  ['f', 's.f::smallint'],
  ['m', 's.m::smallint'],
  ['rfm_cell', RFM_CELL],
  ['volume', 's.volume'],
  ['punctuality', 's.punctuality::real'],
  ['seniority_days', 's.seniority_days'],
  ['n_volume', 's.n_volume::real'],
  ['n_frequency', 's.n_frequency::real'],
  ['n_amount', 's.n_amount::real'],
  ['n_punctuality', 's.n_punctuality::real'],
  ['n_seniority', 's.n_seniority::real'],
  ['value_score', 's.value_score::real'],
  ['tier', 's.tier'],
  ['x', 's.x'],
  ['tx', 's.tx'],
  ['age', 's.age'],
  ['mean_repeat_spend', 's.mean_repeat_spend'],
  ['p_alive', 's.p_alive'],
  ['expected_90', 's.expected_90'],
  ['expected_spend', 's.expected_spend'],
  ['clv', 's.clv'],
  ['interactions_90', 's.interactions_90'],
  ['inbound_90', 's.inbound_90'],
  ['feedback_90', 's.feedback_90'],
  ['referrals', 's.referrals'],
  ['referral_revenue', 's.referral_revenue'],
  ['complaints', 's.complaints'],
  ['recoveries', 's.recoveries'],
  ['reactivations', 's.reactivations'],
];

/** The columns of those values (and the model version): what a row's digest hashes. */
const VALUE_COLUMNS = [...SCORE_COLUMNS.map(([c]) => c), 'model_version'];

/** The written values of staged row `s` (plus the model version), named as the table's columns. */
const scoreValues = (modelVersion: number | null) =>
  sql`${sql.raw(SCORE_COLUMNS.map(([c, e]) => `${e} AS ${c}`).join(', '))}, ${modelVersion}::int AS model_version`;

/**
 * A hash of the written values `v` (scoreValues), stored with the row as `digest`. The seed is not 0:
 * with 0 a float's 0.0 hashes to 0, as a NULL column does, and the two would not be told apart.
 */
const digestOf = (v: string) =>
  sql.raw(`hash_record_extended(ROW(${VALUE_COLUMNS.map((c) => `${v}.${c}`).join(', ')}), 1)`);

/** The status of a staged row `s` under the tenant's rules. */
function statusOf(rules: ScoreSettings['status']): string {
  const atRisk = `s.recency_days > ${rules.atRiskAfterDays}
    OR (s.p_alive IS NOT NULL AND s.p_alive < ${rules.atRiskProbability})
    OR (s.x > 0 AND s.recency_days > ${rules.atRiskGapMultiple}::float8 * s.tx / s.x)`;
  return `CASE WHEN s.frequency = 0 THEN 'potential'
    WHEN s.recency_days > ${rules.inactiveAfterDays} THEN 'inactive'
    WHEN ${atRisk} THEN 'at_risk' ELSE 'active' END`;
}

/**
 * Status, phase and the reason of a change, from a staged row `s`, the customer `c` and the stored
 * scores row `o` (absent for a first computation). A move to a better status is a comeback
 * (`reactivated`, `recovered`, `purchased_again`) only when the last purchase day moved forward since
 * `o`; otherwise the rules or the model changed (`reassessed`, or the at-risk reason that now holds).
 */
function statusSql(
  rules: ScoreSettings['status'],
  day: SQL,
  zoneChanged: boolean,
): { status: SQL; reason: SQL } {
  const status = statusOf(rules);
  // days of two time zones do not compare: right after a change of zone no move is a comeback
  const bought = zoneChanged
    ? sql`false`
    : sql`(s.recency_days IS NOT NULL
    AND (o.recency_days IS NULL OR ${day}::date - s.recency_days > o.as_of - o.recency_days))`;
  const reason = sql`CASE
    WHEN n.status = 'potential' THEN 'no_counted_orders'
    WHEN n.status = c.status AND s.frequency >= 2 THEN 'repeat_purchase'
    WHEN n.status = c.status THEN 'orders_changed'
    WHEN c.status = 'potential' THEN 'first_order'
    WHEN n.status = 'inactive' THEN 'inactivity'
    WHEN n.status = 'at_risk' AND c.status = 'inactive' AND ${bought} THEN 'reactivated'
    WHEN n.status = 'at_risk' AND s.recency_days > ${sql.raw(String(rules.atRiskAfterDays))} THEN 'silence'
    WHEN n.status = 'at_risk' AND s.p_alive IS NOT NULL AND s.p_alive < ${sql.raw(String(rules.atRiskProbability))}
      THEN 'low_probability_alive'
    WHEN n.status = 'at_risk' THEN 'longer_than_usual_gap'
    WHEN NOT ${bought} THEN 'reassessed'
    WHEN s.recoveries > 0 AND s.complaints > 0 AND c.status IN ('at_risk', 'inactive') THEN 'recovered'
    WHEN c.status = 'inactive' THEN 'reactivated'
    ELSE 'purchased_again' END`;
  return { status: sql.raw(status), reason };
}

/**
 * The stored scores row `o` of each staged row `s`: probes by key for a few rows (a recompute that
 * rewrote every row leaves customer_scores' statistics stale until it is analyzed, and a hash join
 * would read all of it), one hash join for many.
 */
const storedScores = (probe: boolean) =>
  probe
    ? sql`LEFT JOIN LATERAL (
          SELECT customer_id, tier, as_of, recency_days FROM customer_scores
          WHERE tenant_id = vinculo_current_tenant() AND customer_id = s.customer_id LIMIT 1
        ) o ON true`
    : sql`LEFT JOIN customer_scores o ON o.tenant_id = vinculo_current_tenant() AND o.customer_id = s.customer_id`;

const phaseOf = (status: string) =>
  `CASE WHEN ${status} = 'inactive' THEN 'recovery' WHEN ${status} <> 'potential' AND s.frequency >= 2 THEN 'retention' ELSE 'acquisition' END`;

export const scoresRepository = {
  /** The full recompute's settings (its transaction only): sorts and hash tables in memory, no JIT, hash joins. */
  async useRecomputeMemory(tx: Tx) {
    await tx.execute(sql.raw(`SET LOCAL work_mem = '${RECOMPUTE_WORK_MEM}'`));
    await scoresRepository.withoutJit(tx);
    // every join here is of whole tables: hashed, never sorted for a merge (a sort of a million wide
    // rows, which the planner picks for the temporary tables it knows little about, costs seconds)
    await tx.execute(sql.raw('SET LOCAL enable_mergejoin = off'));
    // the working tables are built from a million-row join each: at the default cost of passing a row
    // from a parallel worker (0.1) the planner ran those joins on one process; measured on a million
    // customers, the cheaper cost (parallel joins, the leader writing the rows) took a re-run from
    // about 15.5 s to 14 s
    await tx.execute(sql.raw('SET LOCAL parallel_tuple_cost = 0.01'));
  },

  /**
   * The score statements run once over simple expressions: compiling them (JIT, which PostgreSQL
   * starts from the estimates of whole-tenant joins and of fresh temporary tables) took up to a
   * second a statement, more than it saves (the transaction only).
   */
  withoutJit(tx: Tx) {
    return tx.execute(sql.raw('SET LOCAL jit = off'));
  },

  /** Drops the working tables (before the recompute commits: they are never seen outside it). */
  async dropWork(tx: Tx, work: WorkTables) {
    if (work.drop) await tx.execute(work.drop);
  },

  /** The features of these customers, from their orders (the incremental path). */
  createFeatures(tx: Tx, at: AsOf, ids: string[]) {
    return tx.execute(sql`${TEMP_WORK.create('features')} AS ${featuresFromOrders(at, ids)}`);
  },

  /**
   * The features of every customer with purchase aggregates (the full recompute): kept from the
   * scores rows that still hold them, computed from the orders for the others — for all of them with
   * `rebuild` (the stored days are in another time zone, or a rebuild was asked for). Returns how many
   * were computed from the orders.
   */
  async createAllFeatures(tx: Tx, work: WorkTables, at: AsOf, rebuild: boolean): Promise<number> {
    // none can be left by another run (never committed); this only guards against a bug that did
    await scoresRepository.dropWork(tx, work);
    // one pass over the aggregates and the stored rows: the features still valid are kept, with each
    // row's digest (what the recompute compares its new values with)
    await tx.execute(sql`
      ${work.create('features')} AS
      SELECT coalesce(a.customer_id, s.customer_id) AS customer_id, a.updated_at AS aggregates_at,
        s.x, s.as_of - s.age AS first_day, s.as_of - s.age + s.tx AS last_day, s.mean_repeat_spend,
        ${rebuild ? sql`a.customer_id IS NULL` : sql`coalesce(${FRESH}, a.customer_id IS NULL)`} AS kept,
        s.digest AS old_digest, s.aggregates_at AS old_aggregates_at, s.tier AS old_tier,
        s.customer_id IS NOT NULL AS scored
      FROM customer_aggregates a
      FULL JOIN customer_scores s ON s.tenant_id = a.tenant_id AND s.customer_id = a.customer_id`);
    if (!rebuild) {
      await tx.execute(sql`
        ${work.create('stale')} AS SELECT customer_id FROM ${work.features} WHERE NOT kept`);
      await tx.execute(sql`ANALYZE ${work.stale}`);
    }
    // the others from their orders (all of them when rebuilding: one pass over the orders)
    const fresh = await tx.execute(sql`
      UPDATE ${work.features} f SET aggregates_at = n.aggregates_at, x = n.x, first_day = n.first_day,
        last_day = n.last_day, mean_repeat_spend = n.mean_repeat_spend
      FROM (${featuresFromOrders(at, rebuild ? 'all' : sql`SELECT customer_id FROM ${work.stale}`)}) n
      WHERE f.customer_id = n.customer_id AND NOT f.kept`);
    // the statements that read it join it to a million customers: with its statistics the planner
    // joins it in the parallel workers instead of hashing their whole output in one process
    await tx.execute(sql`ANALYZE ${work.features}`);
    return fresh.rowCount ?? 0;
  },

  /** The BG/NBD data, compressed into unique (x, tx, T) tuples (days). */
  async purchaseTuples(tx: Tx, work: WorkTables, at: AsOf) {
    const result = await tx.execute<{ x: number; tx: number; age: number; count: number }>(sql`
      SELECT x, last_day - first_day AS tx, ${at.day}::date - first_day AS age, count(*)::int AS count
      FROM ${work.features} WHERE x IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`);
    return result.rows;
  },

  /**
   * The Gamma-Gamma data: repeat buyers' mean repeat spend (minor units), compressed by rounding to
   * the unit; a mean under half a unit rounds to no spend at all, which the model cannot describe
   * (it needs a positive spend), so it is left out like a zero one.
   */
  async spendRows(tx: Tx, work: WorkTables) {
    const result = await tx.execute<{ x: number; mx: number; count: number }>(sql`
      SELECT x, round(mean_repeat_spend)::float8 AS mx, count(*)::int AS count
      FROM ${work.features} WHERE x > 0 AND round(mean_repeat_spend) > 0 GROUP BY 1, 2 ORDER BY 1, 2`);
    return result.rows;
  },

  async window(tx: Tx, work: WorkTables) {
    const result = await tx.execute<{ from: string | null }>(
      sql`SELECT min(first_day)::text AS "from" FROM ${work.features}`,
    );
    return result.rows[0]?.from ?? null;
  },

  /** The model outputs of each tuple, computed in Node, as a working table. */
  async createTupleOutputs(tx: Tx, work: WorkTables, outputs: TupleOutput[]) {
    await tx.execute(sql`
      ${work.create('tuples')} AS
      SELECT * FROM json_to_recordset(${JSON.stringify(outputs)}::json)
        AS t(x int, tx int, age int, p_alive float8, e90 float8, det float8)`);
    await tx.execute(sql`ANALYZE ${work.tuples}`);
  },

  /**
   * Every customer's new row, computed set-based: inputs (`score_base`), the buyers' histograms of the
   * ranked metrics, quintiles and percentiles looked up in them, the value score, the tier by the
   * score's rank among the buyers, and the model outputs (joined while staging, which PostgreSQL runs
   * in parallel workers; the statement that builds the inputs ends in the one process that writes its
   * rows). Returns the distributions (cutpoints) that place customers between full recomputes.
   */
  async stageAll(
    tx: Tx,
    work: WorkTables,
    at: AsOf,
    options: {
      settings: ScoreSettings;
      gg: ModelFit['gammaGamma'] | null;
      modelVersion: number | null;
      sampleSize: number;
    },
  ): Promise<Cutpoints> {
    const { settings, gg, modelVersion, sampleSize } = options;
    // the parameters as float8 literals: a whole-number parameter would otherwise divide as integers
    const [p, q, gamma] = gg ? [gg.p, gg.q, gg.gamma].map((v) => `${v}::float8`) : [];
    const expectedSpend = gg
      ? sql.raw(`CASE WHEN b.frequency = 0 THEN NULL
          WHEN b.x > 0 AND b.mean_repeat_spend > 0 THEN (${p} * (${gamma} + b.x * b.mean_repeat_spend)) / (${p} * b.x + ${q} - 1)
          ELSE ${p} * ${gamma} / (${q} - 1) END`)
      : sql.raw('NULL::float8');
    await tx.execute(sql`${work.create('referrals')} AS ${referralsQuery()}`);
    await tx.execute(sql`ANALYZE ${work.referrals}`);
    await tx.execute(sql`
      ${work.create('base')} AS
      ${baseQuery(
        at,
        work.features,
        undefined,
        sql`, f.aggregates_at, f.old_aggregates_at, f.old_digest, f.old_tier, f.scored, c.status AS current_status,
          c.lifecycle_phase AS current_phase`,
        work.referrals,
      )}`);
    await tx.execute(sql`ANALYZE ${work.base}`);
    await tx.execute(histogramStatement(work));
    await tx.execute(sql`CREATE INDEX ${work.histIndex} ON ${work.hist} (metric, cum)`);
    await tx.execute(sql`ANALYZE ${work.hist}`);
    const totals = new Map(
      (
        await tx.execute<{ metric: number; total: number }>(
          sql`SELECT DISTINCT metric, total::int AS total FROM ${work.hist}`,
        )
      ).rows.map((r) => [Number(r.metric), Number(r.total)]),
    );
    const buyers = totals.get(METRICS.frequency.code) ?? 0;
    const punctualityCount = totals.get(METRICS.punctuality.code) ?? 0;
    const score = valueScoreSql(settings.weights);

    // the tier thresholds: the k-th best score for k = ceil(share × scored buyers), so that a buyer is
    // vip while fewer than ceil(vip × n) buyers score strictly higher (ties share the tier)
    const tiers = settings.tiers;
    const scored = await tx.execute<{ n: number; thresholds: number[] | null; sample: number[] | null }>(sql`
      SELECT count(score)::int AS n,
        percentile_disc(${sql.param([tiers.vip, tiers.gold, tiers.silver])}::float8[])
          WITHIN GROUP (ORDER BY score DESC) AS thresholds,
        ${sql.raw(
          buyers <= sampleSize + 1
            ? `coalesce(array_agg(score ORDER BY score) FILTER (WHERE score IS NOT NULL), '{}')`
            : `percentile_disc((SELECT array_agg(i::float8 / ${sampleSize}) FROM generate_series(0, ${sampleSize}) i))
                WITHIN GROUP (ORDER BY score)`,
        )} AS sample
      FROM (
        -- OFFSET 0 keeps each normalized value computed once (the score's expression uses each several times)
        SELECT ${score} AS score
        FROM (SELECT b.frequency, ${NORMALIZED} FROM ${work.base} b ${normalizedJoins(work)} WHERE b.frequency > 0 OFFSET 0) b
      ) s`);
    const n = scored.rows[0]!.n;
    const threshold = (share: number, i: number) =>
      Math.ceil(share * n) > 0 ? (scored.rows[0]!.thresholds?.[i] ?? null) : null;
    const [vip, gold, silver] = [
      threshold(tiers.vip, 0),
      threshold(tiers.gold, 1),
      threshold(tiers.silver, 2),
    ];
    // staged: only the rows that change (their scores, or the customer's status or phase); the
    // others are left as they are, which on a re-run is all of them
    const status = statusOf(settings.status);
    await tx.execute(sql`
      ${work.create('staged')} AS
      SELECT s.customer_id, s.frequency, s.monetary, s.volume, s.punctuality, s.seniority_days, s.recency_days,
        s.x, s.tx, s.age, s.mean_repeat_spend, s.interactions_90, s.inbound_90, s.feedback_90, s.referrals,
        s.referral_revenue, s.complaints, s.recoveries, s.reactivations, s.r, s.f, s.m, s.n_volume, s.n_frequency,
        s.n_amount, s.n_punctuality, s.n_seniority, s.value_score, s.tier, s.p_alive, s.expected_90,
        s.expected_spend, s.clv, s.current_status, s.current_phase,
        -- what apply() looks at further: the rows whose status or tier moves (usually few of many)
        (s.next_status, ${sql.raw(phaseOf('s.next_status'))}) IS DISTINCT FROM (s.current_status, s.current_phase)
          AS status_moves,
        coalesce(s.old_tier IS DISTINCT FROM s.tier AND NOT (NOT s.scored AND s.tier IS NULL), true) AS tier_moves
      FROM (
        SELECT s.*, CASE WHEN s.value_score IS NULL THEN NULL
            WHEN s.value_score >= ${vip}::float8 THEN 'vip'
            WHEN s.value_score >= ${gold}::float8 THEN 'gold'
            WHEN s.value_score >= ${silver}::float8 THEN 'silver'
            ELSE 'bronze' END AS tier,
          s.det * s.expected_spend AS clv, ${sql.raw(status)} AS next_status
        FROM (
          -- the value score, computed once (OFFSET 0: the tier's CASE reads it four times); the joins and
          -- the normalized values below run in the parallel workers, everything above the fence in one
          -- process (without any fence, every expression computed several times cost more than that)
          SELECT b.*, ${score} AS value_score
          FROM (
            SELECT b.*, ${NORMALIZED}, t.p_alive, t.e90 AS expected_90, ${expectedSpend} AS expected_spend, t.det
            FROM ${work.base} b ${normalizedJoins(work)}
            LEFT JOIN ${work.tuples} t ON t.x = b.x AND t.tx = b.tx AND t.age = b.age
          ) b
          OFFSET 0
        ) s
        OFFSET 0
      ) s
      CROSS JOIN LATERAL (SELECT ${scoreValues(modelVersion)}) v
      WHERE s.old_digest IS DISTINCT FROM ${digestOf('v')} OR s.old_aggregates_at IS DISTINCT FROM s.aggregates_at
        OR (s.next_status, ${sql.raw(phaseOf('s.next_status'))}) IS DISTINCT FROM (s.current_status, s.current_phase)`);

    // the other distributions, from the histograms: percentile_disc's picks (the value at position
    // ceil(fraction × count)), or every value when there are few buyers
    // (the count deciding it is the buyers', and for punctuality the buyers' with a due date)
    const exact = METRIC_LIST.filter(([name]) =>
      name === 'punctuality' ? punctualityCount <= sampleSize + 1 : buyers <= sampleSize + 1,
    ).map(([, m]) => m.code);
    const samples = await tx.execute<{ metric: number; sample: number[] }>(sql`
      SELECT h.metric, array_agg(h.v ORDER BY h.v) AS sample
      FROM ${work.hist} h CROSS JOIN LATERAL generate_series(1, h.n)
      WHERE h.v IS NOT NULL AND h.metric = ANY(${sql.param(exact)}::smallint[])
      GROUP BY h.metric
      UNION ALL
      SELECT h.metric, array_agg(pick.v ORDER BY i) AS sample
      FROM (SELECT DISTINCT metric, total FROM ${work.hist} WHERE metric <> ALL(${sql.param(exact)}::smallint[])) h
      CROSS JOIN generate_series(0, ${sampleSize}::int) i
      CROSS JOIN LATERAL (
        SELECT x.v FROM ${work.hist} x
        WHERE x.metric = h.metric AND x.v IS NOT NULL
          AND x.cum >= greatest(1, ceil(i::float8 / ${sampleSize}::int * h.total))::bigint
        ORDER BY x.cum LIMIT 1
      ) pick
      GROUP BY h.metric`);
    const sampleOf = (metric: Metric) =>
      (samples.rows.find((r) => Number(r.metric) === METRICS[metric].code)?.sample ?? []).map(Number);
    return {
      buyers,
      punctualityCount,
      recency: sampleOf('recency'),
      frequency: sampleOf('frequency'),
      monetary: sampleOf('monetary'),
      volume: sampleOf('volume'),
      punctuality: sampleOf('punctuality'),
      seniority: sampleOf('seniority'),
      score: (scored.rows[0]!.sample ?? []).map(Number),
    };
  },

  /** The inputs of these customers' rows (the incremental path); the features table must exist. */
  async bases(tx: Tx, at: AsOf, ids: string[]): Promise<ScoreBase[]> {
    const result = await tx.execute<ScoreBase>(baseQuery(at, TEMP_WORK.features, ids));
    return result.rows.map((r) => ({
      ...r,
      frequency: Number(r.frequency),
      monetary: Number(r.monetary),
      volume: Number(r.volume),
      referral_revenue: Number(r.referral_revenue),
    }));
  },

  /** Rows computed in Node, staged like `stageAll` does. */
  async stage(tx: Tx, rows: StagedScore[]) {
    await tx.execute(sql`
      ${TEMP_WORK.create('staged')} AS
      SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::json) AS s(${sql.raw(STAGE_COLUMNS)})`);
  },

  /**
   * Applies the staged rows: status and phase changes (customers, their history, events), tier
   * changes (history, events), then the scores themselves, rewriting only rows whose values changed.
   */
  async apply(
    tx: Tx,
    work: WorkTables,
    at: AsOf,
    options: {
      settings: ScoreSettings;
      modelVersion: number | null;
      rewriteAll: boolean;
      emit: Emit;
      /** The stored rows' days are another time zone's (the tenant's changed since they were written). */
      zoneChanged: boolean;
      /** Return the ids of the customers whose rows were written (the refresh: a few thousand at most). */
      listWritten: boolean;
    },
  ) {
    const { settings, modelVersion, rewriteAll, emit, zoneChanged, listWritten } = options;
    // the planner's estimates for what follows (a refresh stages a thousand rows, a re-run none)
    await tx.execute(sql`ANALYZE ${work.staged}`);
    // the rows whose tier may move (every staged row of the refresh, which does not know the stored tier)
    const tierCandidates = (
      await tx.execute<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM ${work.staged} WHERE tier_moves IS NOT FALSE`,
      )
    ).rows[0]!.n;
    const probeScores = tierCandidates < 50_000;
    const { status, reason } = statusSql(settings.status, sql`${at.day}`, zoneChanged);
    const moved = await tx.execute<{ n: number }>(sql`
      WITH next AS (
        SELECT s.customer_id, n.status, ${sql.raw(phaseOf('n.status'))} AS phase, c.status AS from_status,
          c.lifecycle_phase AS from_phase, ${reason} AS reason
        FROM ${work.staged} s
        CROSS JOIN LATERAL (SELECT ${status} AS status) n
        JOIN customers c ON c.tenant_id = vinculo_current_tenant() AND c.id = s.customer_id
        -- probes (only for the rows whose status moves, usually few: never a pass over every row)
        ${storedScores(true)}
        ${unchangedSinceRead(work)}
        -- the full recompute stages whether the status and phase it read move (analyzed above: the
        -- planner knows how few do, and probes the customers of those only); the others are skipped
        -- (a change committed since is the refresh's, which follows every write). The refresh stages
        -- no such flag: all of its rows are looked at
        WHERE s.status_moves IS NOT FALSE AND ${UNCHANGED}
      ), changed AS (
        UPDATE customers c SET status = next.status, lifecycle_phase = next.phase, version = c.version + 1,
          updated_at = ${at.now}
        FROM next
        WHERE c.tenant_id = vinculo_current_tenant() AND c.id = next.customer_id
          AND (c.status, c.lifecycle_phase) IS DISTINCT FROM (next.status, next.phase)
        RETURNING c.id, next.from_status, next.status, next.from_phase, next.phase, next.reason
      ), history AS (
        INSERT INTO customer_status_history
          (tenant_id, id, customer_id, from_status, to_status, from_phase, to_phase, reason, changed_at)
        SELECT vinculo_current_tenant(), vinculo_uuidv7(), id, from_status, status, from_phase, phase, reason, ${at.now}
        FROM changed
        RETURNING customer_id, from_status, to_status, from_phase, to_phase, reason, changed_at
      ), counted AS (
        -- a comeback counts in the row written below, not only from the next computation on
        UPDATE ${work.staged} s SET reactivations = s.reactivations + 1 FROM history h
        WHERE s.customer_id = h.customer_id AND ${sql.raw(isReactivation('h.'))}
      ), emitted AS (
        ${emit(
          'customer.status_changed',
          sql`SELECT changed_at AS occurred_at, jsonb_build_object('customerId', customer_id,
            'fromStatus', from_status, 'toStatus', to_status, 'fromPhase', from_phase, 'toPhase', to_phase,
            'reason', reason, 'changedAt', ${isoUtc(sql`changed_at`)}) AS data FROM history`,
        )}
      )
      SELECT count(*)::int AS n FROM emitted`);
    const tiers = await tx.execute<{ n: number }>(sql`
      WITH history AS (
        INSERT INTO customer_tier_history (tenant_id, id, customer_id, from_tier, to_tier, changed_at)
        SELECT vinculo_current_tenant(), vinculo_uuidv7(), s.customer_id, o.tier, s.tier, ${at.now}
        FROM ${work.staged} s
        ${storedScores(probeScores)}
        ${unchangedSinceRead(work)}
        WHERE s.tier_moves IS NOT FALSE AND ${UNCHANGED}
          AND o.tier IS DISTINCT FROM s.tier AND NOT (o.customer_id IS NULL AND s.tier IS NULL)
        RETURNING customer_id, from_tier, to_tier, changed_at
      ), emitted AS (
        ${emit(
          'customer.tier_changed',
          sql`SELECT h.changed_at AS occurred_at, jsonb_build_object('customerId', h.customer_id,
            'fromTier', h.from_tier, 'toTier', h.to_tier, 'valueScore', s.value_score,
            'changedAt', ${isoUtc(sql`h.changed_at`)}) AS data
            FROM history h JOIN ${work.staged} s USING (customer_id)`,
        )}
      )
      SELECT count(*)::int AS n FROM emitted`);
    const columns = [...VALUE_COLUMNS, 'as_of', 'aggregates_at', 'digest'];
    // an UPDATE joined to the staged rows writes (and locks) only the rows that change; an upsert
    // would lock every existing row first, which on a million customers cost most of the apply step.
    // The aggregates' time is the one read with the features (an order written since is caught later).
    const written = await tx.execute<{ n: number; ids: string[] | null }>(sql`
      WITH w AS MATERIALIZED (
        SELECT s.customer_id, ${scoreValues(modelVersion)}, ${at.day}::date AS as_of, f.aggregates_at
        FROM ${work.staged} s LEFT JOIN ${work.features} f ON f.customer_id = s.customer_id
      ), v AS (
        SELECT w.*, ${digestOf('w')} AS digest FROM w
      ), updated AS (
        UPDATE customer_scores cs SET ${sql.raw(columns.map((c) => `${c} = v.${c}`).join(', '))}, computed_at = ${at.now}
        FROM v
        WHERE cs.tenant_id = vinculo_current_tenant() AND cs.customer_id = v.customer_id
          ${rewriteAll ? sql`` : sql`AND (cs.digest IS DISTINCT FROM v.digest OR cs.aggregates_at IS DISTINCT FROM v.aggregates_at)`}
        RETURNING cs.customer_id
      ), inserted AS (
        -- one recompute or refresh per tenant at a time (the state lock): no concurrent insert to race
        INSERT INTO customer_scores (tenant_id, customer_id, ${sql.raw(columns.join(', '))}, computed_at)
        SELECT vinculo_current_tenant(), v.customer_id, ${sql.raw(columns.map((c) => `v.${c}`).join(', '))}, ${at.now}
        FROM v
        WHERE NOT EXISTS (SELECT 1 FROM customer_scores cs
          WHERE cs.tenant_id = vinculo_current_tenant() AND cs.customer_id = v.customer_id)
        RETURNING customer_id
      )
      SELECT (SELECT count(*) FROM updated)::int + (SELECT count(*) FROM inserted)::int AS n,
        ${listWritten ? sql`array(SELECT customer_id FROM updated UNION ALL SELECT customer_id FROM inserted)` : sql`NULL::uuid[]`} AS ids`);
    return {
      statusChanges: moved.rows[0]!.n,
      tierChanges: tiers.rows[0]!.n,
      written: written.rows[0]!.n,
      writtenIds: written.rows[0]!.ids ?? [],
    };
  },

  async state(tx: Tx): Promise<StateRow | undefined> {
    const [row] = await tx.select().from(scoreState);
    return row;
  },

  /** The tenant's state row, locked: one recompute or refresh at a time per tenant. */
  async lockState(tx: Tx): Promise<StateRow> {
    await tx.execute(sql`
      INSERT INTO score_state (tenant_id) VALUES (vinculo_current_tenant()) ON CONFLICT DO NOTHING`);
    const [row] = await tx.select().from(scoreState).for('update');
    return row!;
  },

  async saveState(tx: Tx, values: Partial<typeof scoreState.$inferInsert>) {
    await tx.update(scoreState).set(values).where(sql`${scoreState.tenantId} = vinculo_current_tenant()`);
  },

  watermarkAtTransactionStart(tx: Tx) {
    return tx.execute(
      sql`UPDATE score_state SET watermark = now() WHERE tenant_id = vinculo_current_tenant()`,
    );
  },

  /**
   * Customers whose purchase aggregates changed since their scores were computed, looking back from
   * the watermark with a margin for transactions that committed late.
   */
  async changedSince(tx: Tx, watermark: Date | null, limit: number) {
    const result = await tx.execute<{ customer_id: string; updated_at: string }>(sql`
      SELECT a.customer_id, a.updated_at FROM customer_aggregates a
      -- one probe per changed customer, whatever the statistics of a freshly rewritten table say
      LEFT JOIN LATERAL (
        SELECT aggregates_at FROM customer_scores
        WHERE tenant_id = a.tenant_id AND customer_id = a.customer_id LIMIT 1
      ) s ON true
      WHERE a.tenant_id = vinculo_current_tenant()
        ${watermark ? sql`AND a.updated_at > ${watermark}::timestamptz - interval '5 minutes'` : sql``}
        AND s.aggregates_at IS DISTINCT FROM a.updated_at
      ORDER BY a.updated_at LIMIT ${limit}`);
    return result.rows.map((r) => ({ customerId: r.customer_id, updatedAt: new Date(r.updated_at) }));
  },

  /** Each existing customer's status and phase with its scores row (if any), in one statement. */
  async scoresWithStatus(tx: Tx, ids: readonly string[]) {
    if (!ids.length) return [];
    const rows = await tx
      .select({
        id: customers.id,
        status: customers.status,
        phase: customers.lifecyclePhase,
        scores: customerScores,
      })
      .from(customers)
      .leftJoin(
        customerScores,
        and(eq(customerScores.tenantId, customers.tenantId), eq(customerScores.customerId, customers.id)),
      )
      .where(sql`${customers.id} = ANY(${sql.param([...ids])}::uuid[])`);
    return rows.map((r) => ({
      customerId: r.id,
      customer: { status: r.status, lifecyclePhase: r.phase },
      row: r.scores ?? undefined,
    }));
  },

  tierHistory(tx: Tx, customerId: string) {
    return tx
      .select()
      .from(customerTierHistory)
      .where(eq(customerTierHistory.customerId, customerId))
      .orderBy(customerTierHistory.changedAt, customerTierHistory.id);
  },

  async forgetCustomer(tx: Tx, customerId: string): Promise<void> {
    await tx.delete(customerTierHistory).where(eq(customerTierHistory.customerId, customerId));
    await tx.delete(customerScores).where(eq(customerScores.customerId, customerId));
  },
};
