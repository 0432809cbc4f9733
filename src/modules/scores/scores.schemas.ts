import { z } from 'zod';
import { MoneySchema } from '../../platform/money.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';
import { CUSTOMER_STATUSES, LIFECYCLE_PHASES } from '../customers/customers.schemas.ts';
import { TIERS, VALUE_DIMENSIONS } from '../tenants/tenants.schemas.ts';
import { RFM_CELLS } from './scores.rfm.ts';

const Dimension = z.object({
  raw: z.number().nullable().describe('The raw value (see `unit`); null when unknown (no due dates yet)'),
  unit: z.string().describe('What the raw value counts'),
  normalized: z
    .number()
    .min(0)
    .max(1)
    .nullable()
    .describe('Percentile within the tenant’s buyers (cume_dist, 0–1); null when left out'),
  weight: z.number().describe('The tenant’s weight for this dimension'),
  contribution: z.number().describe('Points of the 0–100 score this dimension contributes'),
});

export const CustomerScoresSchema = z
  .object({
    customerId: uuid().describe('The customer'),
    asOf: z.iso.date().nullable().describe('The day (tenant time zone) the time-relative values refer to'),
    computedAt: timestampOut('When these values were last computed').nullable(),
    modelVersion: z
      .number()
      .int()
      .nullable()
      .describe('The fit these model outputs come from (GET /v1/scores/model)'),
    rfm: z.object({
      recencyDays: z.number().int().nullable().describe('Days since the last counted order'),
      frequency: z.number().int().describe('Counted orders (neither cancelled nor refunded)'),
      monetary: MoneySchema.describe('Net revenue, tenant currency'),
      r: z
        .number()
        .int()
        .min(1)
        .max(5)
        .nullable()
        .describe('Recency quintile within the tenant’s buyers, 5 = most recent'),
      f: z.number().int().min(1).max(5).nullable().describe('Frequency quintile, 5 = most orders'),
      m: z.number().int().min(1).max(5).nullable().describe('Monetary quintile, 5 = most revenue'),
      cell: z
        .enum(RFM_CELLS)
        .nullable()
        .describe('The named RFM cell of (r, f); see the README for the grid'),
    }),
    value: z.object({
      score: z
        .number()
        .min(0)
        .max(100)
        .nullable()
        .describe('Weighted mean of the normalized dimensions × 100'),
      tier: z
        .enum(TIERS)
        .nullable()
        .describe('From the score’s rank among the buyers and the tenant’s tier shares'),
      dimensions: z.object(
        Object.fromEntries(VALUE_DIMENSIONS.map((d) => [d, Dimension])) as Record<
          (typeof VALUE_DIMENSIONS)[number],
          typeof Dimension
        >,
      ),
      explanation: z.string().describe('How the score was made, in words'),
    }),
    status: z.object({
      status: z.enum(CUSTOMER_STATUSES).describe('Behavioural status'),
      lifecyclePhase: z.enum(LIFECYCLE_PHASES).describe('Relationship phase'),
    }),
    model: z.object({
      fitted: z.boolean().describe('Whether the tenant’s BG/NBD model is fitted'),
      reason: z.string().nullable().describe('Why model values are null, if they are'),
      probabilityAlive: z
        .number()
        .min(0)
        .max(1)
        .nullable()
        .describe('BG/NBD probability the customer is still active'),
      churnRisk: z.number().min(0).max(1).nullable().describe('1 − probabilityAlive'),
      expectedPurchases: z
        .object({ days: z.number().int(), value: z.number() })
        .nullable()
        .describe('Expected purchase days in the next `days` days (90, or `horizonDays`)'),
      expectedOrderValue: MoneySchema.nullable().describe('Gamma-Gamma expected average order value'),
      clv: MoneySchema.nullable().describe('Expected net revenue over 12 months, discounted monthly'),
      inputs: z
        .object({
          x: z.number().int().describe('Repeat purchase days'),
          tx: z.number().int().describe('Days from the first to the last purchase day'),
          T: z.number().int().describe('Days from the first purchase day to asOf'),
          meanRepeatSpend: z
            .number()
            .nullable()
            .describe('Mean spend of the repeat purchase days (minor units)'),
        })
        .nullable(),
    }),
    sixR: z.object({
      relationship: z.object({
        interactions90d: z.number().int().describe('Interactions in the last 90 days'),
        inbound90d: z.number().int().describe('Of which the customer started'),
        feedback90d: z.number().int().describe('Feedback given in the last 90 days'),
        twoWay: z.boolean().describe('Both the customer and the tenant spoke in the last 90 days'),
      }),
      retention: z.object({ probabilityAlive: z.number().nullable().describe('As in `model`') }),
      profitability: z.object({ netRevenue: MoneySchema, clv: MoneySchema.nullable() }),
      referral: z.object({
        referredCustomers: z.number().int().describe('Customers this customer referred'),
        referredRevenue: MoneySchema.describe('Their net revenue'),
      }),
      recovery: z.object({
        complaints: z.number().int().describe('Complaints and claims made'),
        recovered: z.number().int().describe('Of which the customer bought again afterwards'),
      }),
      reactivation: z.object({
        times: z.number().int().describe('Times the customer came back after being inactive'),
      }),
    }),
  })
  .meta({ id: 'CustomerScores' });
export type CustomerScores = z.infer<typeof CustomerScoresSchema>;

export const CustomerScoresQuery = z.strictObject({
  horizonDays: z.coerce
    .number()
    .int()
    .min(1)
    .max(3650)
    .optional()
    .describe('Expected purchases over this many days instead of 90'),
});

export const ScoreModelSchema = z
  .object({
    fitted: z.boolean().describe('Whether BG/NBD is fitted'),
    reason: z.string().nullable().describe('Why not, or why Gamma-Gamma is left out'),
    modelVersion: z.number().int().describe('Increases with each refit that changes the parameters'),
    timeUnit: z.literal('days').describe('The unit of t_x, T and alpha'),
    bgnbd: z
      .object({ r: z.number(), alpha: z.number(), a: z.number(), b: z.number(), logLikelihood: z.number() })
      .nullable(),
    gammaGamma: z
      .object({ p: z.number(), q: z.number(), gamma: z.number(), logLikelihood: z.number() })
      .nullable(),
    customersUsed: z.number().int().describe('Buyers in the fit'),
    repeatBuyers: z.number().int().describe('Of which bought on more than one day'),
    tuples: z.number().int().describe('Unique (x, t_x, T) the buyers compress into'),
    fitMs: z.number().int().describe('Fit time, milliseconds'),
    window: z.object({
      from: z.iso.date().nullable().describe('First purchase day in the data'),
      to: z.iso.date().nullable().describe('The as-of day of the fit'),
    }),
    fittedAt: timestampOut('When fitted').nullable(),
    recomputedAt: timestampOut('Last full recompute').nullable(),
  })
  .meta({ id: 'ScoreModel' });
export type ScoreModel = z.infer<typeof ScoreModelSchema>;

export const RecomputeBody = z
  .strictObject({
    refit: z.boolean().optional().describe('Refit the models (default true) or keep the current fit'),
    rebuild: z
      .boolean()
      .optional()
      .describe(
        'Read every customer’s purchase days from the orders (default false: kept from the scores rows whose orders did not change)',
      ),
  })
  .meta({ id: 'RecomputeRequest', examples: [{ refit: true }, { refit: false }, { rebuild: true }] });

export const TierChangeSchema = z.object({
  fromTier: z.enum(TIERS).nullable(),
  toTier: z.enum(TIERS).nullable(),
  changedAt: timestampOut('When'),
});
