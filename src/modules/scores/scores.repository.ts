import { and, eq, type SQL, sql } from 'drizzle-orm';
import { isoUtc, type Tx } from '../../platform/db.ts';
import { customers } from '../customers/customers.table.ts';
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

/** Memory for the full recompute's sorts and hashes (its transaction only; one recompute per tenant at a time). */
const RECOMPUTE_WORK_MEM = '256MB';

const COUNTED = sql.raw(`o.status NOT IN ('cancelled', 'refunded')`);
const CASE_TYPES = sql.raw(`('complaint', 'claim')`);

/** Restricts a per-customer statement to some customers, or none for the whole tenant. */
const only = (column: string, ids: string[] | undefined) =>
  ids ? sql`AND ${sql.raw(column)} = ANY(${sql.param(ids)}::uuid[])` : sql``;

/**
 * The purchase-day features of the BG/NBD model (one purchase per day counts once), in a temporary
 * table: x repeat purchase days, the first and last purchase day, and the spend of the first day
 * (Gamma-Gamma uses the mean of the repeat purchases only).
 */
function featuresStatement(at: AsOf, ids?: string[]): SQL {
  return sql`
    CREATE TEMP TABLE score_features ON COMMIT DROP AS
    WITH days AS (
      SELECT o.customer_id, (o.placed_at AT TIME ZONE ${at.timezone})::date AS day,
        sum(o.base_total - o.base_refunded) AS spend
      FROM orders o
      WHERE o.tenant_id = vinculo_current_tenant() AND ${COUNTED} AND o.placed_at <= ${at.now}
        ${only('o.customer_id', ids)}
      GROUP BY 1, 2
    )
    SELECT customer_id, count(*)::int - 1 AS x, min(day) AS first_day, max(day) AS last_day,
      sum(spend)::float8 AS spend, (min(ARRAY[day - DATE '2000-01-01', spend]))[2]::float8 AS first_spend
    FROM days GROUP BY 1`;
}

/** Every input of a customer's row; the features table must exist. */
function baseQuery(at: AsOf, ids?: string[]): SQL {
  const day = sql`${at.day}::date`;
  const since90 = sql`${at.now}::timestamptz - interval '90 days'`;
  return sql`
    SELECT c.id AS customer_id,
      coalesce(a.orders, 0) AS frequency, coalesce(a.net_revenue, 0)::bigint AS monetary,
      coalesce(a.items, 0) AS volume,
      CASE WHEN a.orders_with_due_date > 0 THEN a.orders_paid_on_time::float8 / a.orders_with_due_date END AS punctuality,
      greatest(0, ${day} - least((c.created_at AT TIME ZONE ${at.timezone})::date, f.first_day)) AS seniority_days,
      CASE WHEN coalesce(a.orders, 0) > 0 THEN ${day} - f.last_day END AS recency_days,
      CASE WHEN coalesce(a.orders, 0) > 0 THEN f.x END AS x,
      CASE WHEN coalesce(a.orders, 0) > 0 THEN f.last_day - f.first_day END AS tx,
      CASE WHEN coalesce(a.orders, 0) > 0 THEN ${day} - f.first_day END AS age,
      CASE WHEN f.x > 0 THEN (f.spend - f.first_spend) / f.x END AS mean_repeat_spend,
      coalesce(i.interactions, 0) AS interactions_90, coalesce(i.inbound, 0) AS inbound_90,
      coalesce(fb.n, 0) AS feedback_90,
      coalesce(ref.n, 0) AS referrals, coalesce(ref.revenue, 0)::bigint AS referral_revenue,
      coalesce(k.complaints, 0) AS complaints,
      coalesce(k.recoveries, 0) AS recoveries,
      coalesce(h.n, 0) AS reactivations
    FROM customers c
    LEFT JOIN customer_aggregates a ON a.tenant_id = c.tenant_id AND a.customer_id = c.id
    LEFT JOIN score_features f ON f.customer_id = c.id
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
    LEFT JOIN (
      SELECT r.referred_by_customer_id AS customer_id, count(*)::int AS n, sum(ra.net_revenue) AS revenue
      FROM customers r
      LEFT JOIN customer_aggregates ra ON ra.tenant_id = r.tenant_id AND ra.customer_id = r.id
      WHERE r.tenant_id = vinculo_current_tenant() AND r.referred_by_customer_id IS NOT NULL
        ${only('r.referred_by_customer_id', ids)}
      GROUP BY 1
    ) ref ON ref.customer_id = c.id
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
      WHERE tenant_id = vinculo_current_tenant() AND from_status = 'inactive' AND to_status IN ('active', 'at_risk')
        ${only('customer_id', ids)}
      GROUP BY 1
    ) h ON h.customer_id = c.id
    WHERE c.tenant_id = vinculo_current_tenant() ${only('c.id', ids)}`;
}

/** The weighted mean of the available normalized dimensions, 0–100 (null for non-buyers). */
function valueScoreSql(w: ScoreSettings['weights']): SQL {
  const terms: [keyof typeof w, string][] = [
    ['volume', 'n_volume'],
    ['frequency', 'n_frequency'],
    ['amount', 'n_amount'],
    ['punctuality', 'n_punctuality'],
    ['seniority', 'n_seniority'],
  ];
  const num = terms.map(([k, c]) => `${w[k]}::float8 * coalesce(${c}, 0)`).join(' + ');
  const den = terms.map(([k, c]) => `CASE WHEN ${c} IS NULL THEN 0 ELSE ${w[k]}::float8 END`).join(' + ');
  return sql.raw(`CASE WHEN frequency > 0 AND (${den}) > 0 THEN 100 * (${num}) / (${den}) END`);
}

/** 1 + floor(5 × (rank − 1) / n): the quintile of the share of buyers strictly below (ties share it). */
const quintile = (order: string) =>
  sql.raw(`CASE WHEN frequency > 0 THEN 1 + floor(5.0 * (rank() OVER (PARTITION BY frequency > 0 ORDER BY ${order}) - 1)
    / count(*) OVER (PARTITION BY frequency > 0))::int END`);
const cumeDist = (column: string, partition = 'frequency > 0') =>
  sql.raw(
    `CASE WHEN frequency > 0 AND ${column} IS NOT NULL THEN cume_dist() OVER (PARTITION BY ${partition}, ${column} IS NOT NULL ORDER BY ${column}) END`,
  );

const STAGE_COLUMNS = `customer_id uuid, frequency int, monetary bigint, volume int, punctuality float8,
  seniority_days int, recency_days int, x int, tx int, age int, mean_repeat_spend float8, interactions_90 int,
  inbound_90 int, feedback_90 int, referrals int, referral_revenue bigint, complaints int, recoveries int,
  reactivations int, r int, f int, m int, n_volume float8, n_frequency float8, n_amount float8,
  n_punctuality float8, n_seniority float8, value_score float8, tier text, p_alive float8, expected_90 float8,
  expected_spend float8, clv float8`;

const rfmCellSql = sql.raw(
  `CASE WHEN s.r IS NULL THEN NULL ELSE (ARRAY[${RFM_GRID.flat()
    .map((c) => `'${c.replaceAll("'", "''")}'`)
    .join(',')}])[(s.r - 1) * 5 + s.f] END`,
);

/** Status, phase and the reason of a change, from a staged row `s` and the customer `c`. */
function statusSql(rules: ScoreSettings['status']): { status: SQL; reason: SQL } {
  const atRisk = `s.recency_days > ${rules.atRiskAfterDays}
    OR (s.p_alive IS NOT NULL AND s.p_alive < ${rules.atRiskProbability})
    OR (s.x > 0 AND s.recency_days > ${rules.atRiskGapMultiple}::float8 * s.tx / s.x)`;
  const status = `CASE WHEN s.frequency = 0 THEN 'potential'
    WHEN s.recency_days > ${rules.inactiveAfterDays} THEN 'inactive'
    WHEN ${atRisk} THEN 'at_risk' ELSE 'active' END`;
  const reason = `CASE
    WHEN n.status = 'potential' THEN 'no_counted_orders'
    WHEN n.status = c.status AND s.frequency >= 2 THEN 'repeat_purchase'
    WHEN n.status = c.status THEN 'orders_changed'
    WHEN c.status = 'potential' THEN 'first_order'
    WHEN n.status = 'inactive' THEN 'inactivity'
    WHEN n.status = 'at_risk' AND c.status = 'inactive' THEN 'reactivated'
    WHEN n.status = 'at_risk' AND s.recency_days > ${rules.atRiskAfterDays} THEN 'silence'
    WHEN n.status = 'at_risk' AND s.p_alive IS NOT NULL AND s.p_alive < ${rules.atRiskProbability} THEN 'low_probability_alive'
    WHEN n.status = 'at_risk' THEN 'longer_than_usual_gap'
    WHEN s.recoveries > 0 AND s.complaints > 0 AND c.status IN ('at_risk', 'inactive') THEN 'recovered'
    WHEN c.status = 'inactive' THEN 'reactivated'
    ELSE 'purchased_again' END`;
  return { status: sql.raw(status), reason: sql.raw(reason) };
}

const phaseOf = (status: string) =>
  `CASE WHEN ${status} = 'inactive' THEN 'recovery' WHEN ${status} <> 'potential' AND s.frequency >= 2 THEN 'retention' ELSE 'acquisition' END`;

export const scoresRepository = {
  /** The full recompute's sorts and hash tables stay in memory (its transaction only). */
  useRecomputeMemory(tx: Tx) {
    return tx.execute(sql.raw(`SET LOCAL work_mem = '${RECOMPUTE_WORK_MEM}'`));
  },

  createFeatures(tx: Tx, at: AsOf, ids?: string[]) {
    return tx.execute(featuresStatement(at, ids));
  },

  /** The BG/NBD data, compressed into unique (x, tx, T) tuples (days). */
  async purchaseTuples(tx: Tx, at: AsOf) {
    const result = await tx.execute<{ x: number; tx: number; age: number; count: number }>(sql`
      SELECT x, last_day - first_day AS tx, ${at.day}::date - first_day AS age, count(*)::int AS count
      FROM score_features GROUP BY 1, 2, 3`);
    return result.rows;
  },

  /** The Gamma-Gamma data: repeat buyers' mean repeat spend (minor units), compressed. */
  async spendRows(tx: Tx) {
    const result = await tx.execute<{ x: number; mx: number; count: number }>(sql`
      SELECT x, round((spend - first_spend) / x)::float8 AS mx, count(*)::int AS count
      FROM score_features WHERE x > 0 AND spend - first_spend > 0 GROUP BY 1, 2`);
    return result.rows;
  },

  async window(tx: Tx) {
    const result = await tx.execute<{ from: string | null }>(
      sql`SELECT min(first_day)::text AS "from" FROM score_features`,
    );
    return result.rows[0]?.from ?? null;
  },

  /** The model outputs of each tuple, computed in Node, as a temporary table. */
  async createTupleOutputs(tx: Tx, outputs: TupleOutput[]) {
    await tx.execute(sql`
      CREATE TEMP TABLE score_tuples ON COMMIT DROP AS
      SELECT * FROM json_to_recordset(${JSON.stringify(outputs)}::json)
        AS t(x int, tx int, age int, p_alive float8, e90 float8, det float8)`);
    await tx.execute(sql`CREATE INDEX ON score_tuples (x, tx, age)`);
  },

  /**
   * Every customer's new row, computed set-based: inputs, model outputs from the tuples, quintiles
   * and percentiles among the buyers, the value score and the tier (by rank among the buyers).
   */
  async stageAll(tx: Tx, at: AsOf, settings: ScoreSettings, gg: ModelFit['gammaGamma'] | null) {
    const expectedSpend = gg
      ? sql.raw(`CASE WHEN b.frequency = 0 THEN NULL
          WHEN b.x > 0 AND b.mean_repeat_spend > 0 THEN (${gg.p} * (${gg.gamma} + b.x * b.mean_repeat_spend)) / (${gg.p} * b.x + ${gg.q} - 1)
          ELSE ${gg.p} * ${gg.gamma} / (${gg.q} - 1) END`)
      : sql.raw('NULL::float8');
    const tiers = settings.tiers;
    // the window sorts see only the metrics: narrow rows sort several times faster than whole rows
    await tx.execute(sql`
      CREATE TEMP TABLE score_staged ON COMMIT DROP AS
      WITH b AS MATERIALIZED (
        SELECT b.*, t.p_alive, t.e90 AS expected_90, ${expectedSpend} AS expected_spend, t.det
        FROM (${baseQuery(at)}) b LEFT JOIN score_tuples t ON t.x = b.x AND t.tx = b.tx AND t.age = b.age
      ), ranked AS (
        SELECT customer_id, frequency,
          ${quintile('recency_days DESC')} AS r, ${quintile('frequency')} AS f, ${quintile('monetary')} AS m,
          ${cumeDist('volume')} AS n_volume, ${cumeDist('frequency')} AS n_frequency,
          ${cumeDist('monetary')} AS n_amount, ${cumeDist('punctuality')} AS n_punctuality,
          ${cumeDist('seniority_days')} AS n_seniority
        FROM b
      ), scored AS (
        SELECT ranked.*, ${valueScoreSql(settings.weights)} AS value_score FROM ranked
      ), tiered AS (
        SELECT scored.*,
          CASE WHEN value_score IS NULL THEN NULL
            WHEN rank() OVER w - 1 < ceil(${tiers.vip}::float8 * count(*) OVER p) THEN 'vip'
            WHEN rank() OVER w - 1 < ceil(${tiers.gold}::float8 * count(*) OVER p) THEN 'gold'
            WHEN rank() OVER w - 1 < ceil(${tiers.silver}::float8 * count(*) OVER p) THEN 'silver'
            ELSE 'bronze' END AS tier
        FROM scored
        WINDOW p AS (PARTITION BY value_score IS NOT NULL),
          w AS (PARTITION BY value_score IS NOT NULL ORDER BY value_score DESC)
      )
      SELECT b.customer_id, b.frequency, b.monetary, b.volume, b.punctuality, b.seniority_days, b.recency_days,
        b.x, b.tx, b.age, b.mean_repeat_spend, b.interactions_90, b.inbound_90, b.feedback_90, b.referrals,
        b.referral_revenue, b.complaints, b.recoveries, b.reactivations, t.r, t.f, t.m, t.n_volume, t.n_frequency,
        t.n_amount, t.n_punctuality, t.n_seniority, t.value_score, t.tier, b.p_alive, b.expected_90,
        b.expected_spend, b.det * b.expected_spend AS clv
      FROM b JOIN tiered t USING (customer_id)`);
  },

  /** The inputs of these customers' rows (the incremental path); the features table must exist. */
  async bases(tx: Tx, at: AsOf, ids: string[]): Promise<ScoreBase[]> {
    const result = await tx.execute<ScoreBase>(baseQuery(at, ids));
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
      CREATE TEMP TABLE score_staged ON COMMIT DROP AS
      SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::json) AS s(${sql.raw(STAGE_COLUMNS)})`);
  },

  /**
   * Sorted samples of the staged buyers' distributions: every value when there are at most `size` + 1
   * buyers, else `size` + 1 evenly spaced quantiles.
   */
  async cutpoints(tx: Tx, size: number): Promise<Cutpoints> {
    const counts = await tx.execute<{ n: number; np: number }>(sql`
      SELECT count(*)::int AS n, count(punctuality)::int AS np FROM score_staged WHERE frequency > 0`);
    const { n, np } = counts.rows[0]!;
    const sample = (column: string, count: number) =>
      sql.raw(
        count <= size + 1
          ? `coalesce(array_agg(${column}::float8 ORDER BY ${column}) FILTER (WHERE ${column} IS NOT NULL), '{}')`
          : `percentile_disc((SELECT array_agg(i::float8 / ${size}) FROM generate_series(0, ${size}) i))
              WITHIN GROUP (ORDER BY ${column}::float8)`,
      );
    const result = await tx.execute<Record<string, number[]>>(sql`
      SELECT ${sample('recency_days', n)} AS recency, ${sample('frequency', n)} AS frequency,
        ${sample('monetary', n)} AS monetary, ${sample('volume', n)} AS volume,
        ${sample('seniority_days', n)} AS seniority, ${sample('value_score', n)} AS score
      FROM score_staged WHERE frequency > 0`);
    const punctuality = await tx.execute<{ v: number[] }>(sql`
      SELECT ${sample('punctuality', np)} AS v FROM score_staged WHERE frequency > 0 AND punctuality IS NOT NULL`);
    const r = result.rows[0]!;
    const arr = (v: number[] | undefined | null) => (v ?? []).map(Number);
    return {
      buyers: n,
      punctualityCount: np,
      recency: arr(r.recency),
      frequency: arr(r.frequency),
      monetary: arr(r.monetary),
      volume: arr(r.volume),
      punctuality: arr(punctuality.rows[0]?.v),
      seniority: arr(r.seniority),
      score: arr(r.score),
    };
  },

  /**
   * Applies the staged rows: status and phase changes (customers, their history, events), tier
   * changes (history, events), then the scores themselves, rewriting only rows whose values changed.
   */
  async apply(
    tx: Tx,
    at: AsOf,
    options: { settings: ScoreSettings; modelVersion: number | null; rewriteAll: boolean; emit: Emit },
  ) {
    const { settings, modelVersion, rewriteAll, emit } = options;
    const { status, reason } = statusSql(settings.status);
    const moved = await tx.execute<{ n: number }>(sql`
      WITH n AS (
        SELECT s.customer_id, ${status} AS status FROM score_staged s
      ), next AS (
        SELECT s.customer_id, n.status, ${sql.raw(phaseOf('n.status'))} AS phase, c.status AS from_status,
          c.lifecycle_phase AS from_phase, ${reason} AS reason
        FROM score_staged s JOIN n USING (customer_id)
        JOIN customers c ON c.tenant_id = vinculo_current_tenant() AND c.id = s.customer_id
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
        UPDATE score_staged s SET reactivations = s.reactivations + 1 FROM history h
        WHERE s.customer_id = h.customer_id AND h.from_status = 'inactive' AND h.to_status IN ('active', 'at_risk')
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
        FROM score_staged s
        LEFT JOIN customer_scores o ON o.tenant_id = vinculo_current_tenant() AND o.customer_id = s.customer_id
        WHERE o.tier IS DISTINCT FROM s.tier AND NOT (o.customer_id IS NULL AND s.tier IS NULL)
        RETURNING customer_id, from_tier, to_tier, changed_at
      ), emitted AS (
        ${emit(
          'customer.tier_changed',
          sql`SELECT h.changed_at AS occurred_at, jsonb_build_object('customerId', h.customer_id,
            'fromTier', h.from_tier, 'toTier', h.to_tier, 'valueScore', s.value_score,
            'changedAt', ${isoUtc(sql`h.changed_at`)}) AS data
            FROM history h JOIN score_staged s USING (customer_id)`,
        )}
      )
      SELECT count(*)::int AS n FROM emitted`);
    const columns = `as_of, recency_days, frequency, monetary, r, f, m, rfm_cell, volume, punctuality,
      seniority_days, n_volume, n_frequency, n_amount, n_punctuality, n_seniority, value_score, tier, x, tx, age,
      mean_repeat_spend, p_alive, expected_90, expected_spend, clv, model_version, interactions_90, inbound_90,
      feedback_90, referrals, referral_revenue, complaints, recoveries, reactivations, aggregates_at`;
    const list = columns.split(',').map((c) => c.trim());
    // the as-of day alone is no change: a re-run on another day with the same values rewrites nothing
    const compared = list.filter((c) => c !== 'as_of' && c !== 'aggregates_at');
    const written = await tx.execute<{ customer_id: string }>(sql`
      INSERT INTO customer_scores AS cs (tenant_id, customer_id, ${sql.raw(columns)}, computed_at)
      SELECT vinculo_current_tenant(), s.customer_id, ${at.day}::date, s.recency_days, s.frequency, s.monetary,
        s.r, s.f, s.m, ${rfmCellSql}, s.volume, s.punctuality, s.seniority_days, s.n_volume, s.n_frequency,
        s.n_amount, s.n_punctuality, s.n_seniority, s.value_score, s.tier, s.x, s.tx, s.age, s.mean_repeat_spend,
        s.p_alive, s.expected_90, s.expected_spend, s.clv, ${modelVersion}::int, s.interactions_90, s.inbound_90,
        s.feedback_90, s.referrals, s.referral_revenue, s.complaints, s.recoveries, s.reactivations,
        a.updated_at, ${at.now}
      FROM score_staged s
      LEFT JOIN customer_aggregates a ON a.tenant_id = vinculo_current_tenant() AND a.customer_id = s.customer_id
      ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
        ${sql.raw(list.map((c) => `${c} = EXCLUDED.${c}`).join(', '))}, computed_at = EXCLUDED.computed_at
      ${
        rewriteAll
          ? sql``
          : sql`WHERE (${sql.raw(compared.map((c) => `cs.${c}`).join(', '))})
        IS DISTINCT FROM (${sql.raw(compared.map((c) => `EXCLUDED.${c}`).join(', '))})
        OR cs.aggregates_at IS DISTINCT FROM EXCLUDED.aggregates_at`
      }
      RETURNING customer_id`);
    return { statusChanges: moved.rows[0]!.n, tierChanges: tiers.rows[0]!.n, written: written.rows.length };
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
      LEFT JOIN customer_scores s ON s.tenant_id = a.tenant_id AND s.customer_id = a.customer_id
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
