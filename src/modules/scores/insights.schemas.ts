import { z } from 'zod';
import { MoneySchema } from '../../platform/money.ts';
import { isoDateTime, periodInOrder, timestampOut } from '../../platform/schemas.ts';
import { CUSTOMER_STATUSES, LIFECYCLE_PHASES } from '../customers/customers.schemas.ts';
import { RFM_CELLS } from './scores.rfm.ts';

const Rate = z.number().min(0).max(1).nullable();

export const RfmInsightsSchema = z
  .object({
    grid: z
      .array(
        z.object({
          r: z.number().int().min(1).max(5),
          f: z.number().int().min(1).max(5),
          cell: z.enum(RFM_CELLS),
          customers: z.number().int(),
          revenue: MoneySchema,
        }),
      )
      .describe('The 25 recency × frequency cells, empty ones included'),
    cells: z.array(z.object({ cell: z.enum(RFM_CELLS), customers: z.number().int(), revenue: MoneySchema })),
    buyers: z.number().int().describe('Customers with a counted order (the rest are potential)'),
  })
  .meta({ id: 'RfmInsights' });

// both given: checked here like every period; `from` alone after now is the service's to refuse
export const LifecycleQuery = z
  .strictObject({
    from: isoDateTime().optional().describe('Start of the period (default: 30 days before `to`)'),
    to: isoDateTime().optional().describe('End of the period, exclusive (default: now)'),
  })
  .refine(...periodInOrder);

export const LifecycleInsightsSchema = z
  .object({
    from: timestampOut('Period start'),
    to: timestampOut('Period end (exclusive)'),
    current: z.array(
      z.object({
        status: z.enum(CUSTOMER_STATUSES),
        lifecyclePhase: z.enum(LIFECYCLE_PHASES),
        customers: z.number().int(),
      }),
    ),
    flows: z.object({
      acquired: z.number().int().describe('potential → active (first orders)'),
      atRisk: z.number().int().describe('→ at_risk'),
      lapsed: z.number().int().describe('→ inactive'),
      reactivated: z.number().int().describe('inactive → active or at_risk'),
      recovered: z.number().int().describe('back to active after a complaint (reason `recovered`)'),
    }),
    transitions: z.array(
      z.object({
        fromStatus: z.enum(CUSTOMER_STATUSES).nullable(),
        toStatus: z.enum(CUSTOMER_STATUSES),
        reason: z.string(),
        changes: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'LifecycleInsights' });

export const SixRInsightsSchema = z
  .object({
    customers: z.number().int(),
    buyers: z.number().int(),
    relationship: z.object({
      twoWayShare: Rate.describe('Share of customers with a two-way interaction in 90 days'),
    }),
    retention: z.object({
      repeatPurchaseRate: Rate.describe('Buyers with two or more orders / buyers'),
      retentionRate: Rate.describe('Buyers active or at risk (not inactive) / buyers'),
      meanProbabilityAlive: Rate.describe('Mean BG/NBD probability alive of the buyers'),
    }),
    profitability: z.object({
      revenuePerBuyer: MoneySchema.nullable(),
      clvPerBuyer: MoneySchema.nullable().describe('Mean 12-month CLV (null without a fit)'),
    }),
    referral: z.object({
      referralRate: Rate.describe('Customers referred by another customer / customers'),
      referredRevenue: MoneySchema.describe('Net revenue of referred customers'),
    }),
    recovery: z.object({
      recoveryRate: Rate.describe(
        'Complaints and claims after which the customer bought again / all of them',
      ),
      complaints: z.number().int(),
    }),
    reactivation: z.object({
      reactivationRate: Rate.describe('Customers who came back / customers who were ever inactive'),
      reactivated: z.number().int(),
    }),
  })
  .meta({ id: 'SixRInsights' });

export type RfmInsights = z.infer<typeof RfmInsightsSchema>;
export type LifecycleInsights = z.infer<typeof LifecycleInsightsSchema>;
export type SixRInsights = z.infer<typeof SixRInsightsSchema>;
