import {
  bigint,
  date,
  doublePrecision,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  smallint,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference } from '../../platform/tenancy.ts';
import { customers } from '../customers/customers.table.ts';
import type { ScoreSettings } from '../tenants/tenants.schemas.ts';
import { TIERS } from '../tenants/tenants.schemas.ts';
import { tenants } from '../tenants/tenants.table.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/**
 * Every customer's scores, as of a day in the tenant's time zone. Raw values, model outputs and
 * status follow each order write; the relative positions (quintiles, percentiles, tier) are placed
 * against the tenant's distribution of the last full recompute (`score_state.cutpoints`).
 */
export const customerScores = pgTable(
  'customer_scores',
  {
    tenantId: tenantId(),
    customerId: uuid('customer_id').notNull(),
    asOf: date('as_of').notNull(),
    // RFM (null for customers who never bought)
    recencyDays: integer('recency_days'),
    frequency: integer('frequency').notNull(),
    monetary: bigint('monetary', { mode: 'number' }).notNull(),
    r: smallint('r'),
    f: smallint('f'),
    m: smallint('m'),
    rfmCell: text('rfm_cell'),
    // the value dimensions: raw, then normalized 0–1 within the tenant
    volume: bigint('volume', { mode: 'number' }).notNull(),
    punctuality: real('punctuality'),
    seniorityDays: integer('seniority_days').notNull(),
    nVolume: real('n_volume'),
    nFrequency: real('n_frequency'),
    nAmount: real('n_amount'),
    nPunctuality: real('n_punctuality'),
    nSeniority: real('n_seniority'),
    valueScore: real('value_score'),
    tier: text('tier', { enum: TIERS }),
    // BG/NBD inputs (days) and outputs, Gamma-Gamma, CLV
    x: integer('x'),
    tx: integer('tx'),
    age: integer('age'),
    meanRepeatSpend: doublePrecision('mean_repeat_spend'),
    pAlive: doublePrecision('p_alive'),
    expected90: doublePrecision('expected_90'),
    expectedSpend: doublePrecision('expected_spend'),
    clv: doublePrecision('clv'),
    modelVersion: integer('model_version'),
    // the 6R inputs that the purchase aggregates do not hold
    interactions90: integer('interactions_90').notNull(),
    inbound90: integer('inbound_90').notNull(),
    feedback90: integer('feedback_90').notNull(),
    referrals: integer('referrals').notNull(),
    referralRevenue: bigint('referral_revenue', { mode: 'number' }).notNull(),
    complaints: integer('complaints').notNull(),
    recoveries: integer('recoveries').notNull(),
    reactivations: integer('reactivations').notNull(),
    // the purchase aggregates' updated_at these scores were computed from (the refresh's change test)
    aggregatesAt: at('aggregates_at'),
    // a hash of the written values: a full recompute compares it rather than every column
    digest: bigint('digest', { mode: 'bigint' }),
    computedAt: at('computed_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.customerId] }),
    tenantReference('customer_scores_customer_fk', [t.tenantId, t.customerId], customers),
    tenantIsolation(),
  ],
);

/** Every change of a customer's tier, with its time. */
export const customerTierHistory = pgTable(
  'customer_tier_history',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    customerId: uuid('customer_id').notNull(),
    fromTier: text('from_tier', { enum: TIERS }),
    toTier: text('to_tier', { enum: TIERS }),
    changedAt: at('changed_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference('customer_tier_history_customer_fk', [t.tenantId, t.customerId], customers),
    index('customer_tier_history_customer_idx').on(t.tenantId, t.customerId, t.changedAt),
    tenantIsolation(),
  ],
);

export type ModelFit = {
  bgnbd: { r: number; alpha: number; a: number; b: number; logLikelihood: number; iterations: number } | null;
  gammaGamma: { p: number; q: number; gamma: number; logLikelihood: number; iterations: number } | null;
  customers: number;
  repeatBuyers: number;
  tuples: number;
  fitMs: number;
  reason: string | null;
  window: { from: string | null; to: string };
  /** A digest of the fit's inputs (tuples, spend rows, window): the same inputs keep this fit. */
  inputDigest?: string;
};

/** Sorted samples of each distribution of the last full recompute, for placing one customer between runs. */
export type Cutpoints = {
  buyers: number;
  recency: number[];
  frequency: number[];
  monetary: number[];
  volume: number[];
  punctuality: number[];
  punctualityCount: number;
  seniority: number[];
  score: number[];
};

/** One row per tenant: the current fit and the distributions of the last full recompute. */
export const scoreState = pgTable(
  'score_state',
  {
    tenantId: tenantId().primaryKey(),
    modelVersion: integer('model_version').notNull().default(0),
    fit: jsonb('fit').$type<ModelFit>(),
    fittedAt: at('fitted_at'),
    cutpoints: jsonb('cutpoints').$type<Cutpoints>(),
    asOf: date('as_of'),
    // the time zone of the purchase days kept in the scores rows (another one rebuilds them)
    timezone: text('timezone'),
    recomputedAt: at('recomputed_at'),
    // the score settings the last full recompute used: the refresh places customers with the same
    // ones, and responses explain scores with them, until the next recompute adopts a change
    settings: jsonb('settings').$type<ScoreSettings>(),
    // when the last nightly run (with its refit) was made: the schedule's own mark, which an on-demand
    // or settings-triggered recompute does not move
    nightlyAt: at('nightly_at'),
    // the incremental refresh's high-water mark over customer_aggregates.updated_at
    watermark: at('watermark'),
  },
  (t) => [foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }), tenantIsolation()],
);
