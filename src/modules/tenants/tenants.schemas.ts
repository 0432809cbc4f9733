import { z } from 'zod';
import { UUID } from '../../platform/ids.ts';
import { CurrencyCode } from '../../platform/money.ts';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';

const TIME_ZONES = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC']);
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/**
 * An IANA zone name. Intl lists each zone once, under CLDR's name (Asia/Calcutta, Europe/Kiev), so
 * the current names (Asia/Kolkata, Europe/Kyiv, Etc/UTC) are taken when Intl can use them too (as
 * PostgreSQL can); an offset such as +01:00 is not a zone.
 */
function isTimeZone(tz: string): boolean {
  if (TIME_ZONES.has(tz)) return true;
  if (!ZONE_NAME.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const CurrencyField = CurrencyCode.describe('ISO 4217 currency of the tenant’s reports');
export const TimezoneField = z
  .string()
  .max(64)
  .refine(isTimeZone, 'must be an IANA time zone such as Europe/Madrid')
  .describe('IANA time zone for schedules and reports');
const NameField = z.string().trim().min(1).max(200).describe('Display name');

export const CreateTenantBody = z
  .strictObject({
    name: NameField,
    slug: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'must be 2–63 lower-case letters, digits or dashes')
      .refine((slug) => !UUID.test(slug), 'must not have the form of a UUID (tenant ids are UUIDs)')
      .describe('Unique short name, usable with `npm run token -- --tenant <slug>`'),
    currency: CurrencyField.default('EUR'),
    timezone: TimezoneField.default('Europe/Madrid'),
  })
  .meta({
    id: 'NewTenant',
    examples: [{ name: 'Zapatería Lola', slug: 'lola', currency: 'EUR', timezone: 'Europe/Madrid' }],
  });
export type CreateTenantInput = z.output<typeof CreateTenantBody>;

export const TenantSchema = z
  .object({
    id: uuid().describe('Tenant id (the `tid` claim of its tokens)'),
    slug: z.string().describe('Unique short name'),
    name: z.string().describe('Display name'),
    currency: z.string().describe('ISO 4217 currency'),
    timezone: z.string().describe('IANA time zone'),
    createdAt: timestampOut('Created'),
  })
  .meta({
    id: 'Tenant',
    examples: [
      {
        id: '01936f0e-0000-7000-8000-000000000001',
        slug: 'lola',
        name: 'Zapatería Lola',
        currency: 'EUR',
        timezone: 'Europe/Madrid',
        createdAt: '2026-01-10T09:30:00.000Z',
      },
    ],
  });
export type Tenant = z.infer<typeof TenantSchema>;

export const ListTenantsQuery = z.strictObject({ limit: limitParam, cursor: cursorParam });
export const TenantPage = pageOf(TenantSchema).meta({ id: 'TenantPage' });

export const CASE_TYPES = ['complaint', 'claim', 'suggestion', 'inquiry'] as const;
export type CaseType = (typeof CASE_TYPES)[number];

const SlaTerm = z
  .strictObject({
    firstResponseHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 30)
      .describe('Hours to the first reply'),
    resolutionHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 90)
      .describe('Hours to the resolution'),
  })
  .refine((t) => t.firstResponseHours <= t.resolutionHours, {
    message: 'firstResponseHours must not exceed resolutionHours',
    path: ['firstResponseHours'],
  });
export type SlaTerm = z.infer<typeof SlaTerm>;

/** Service levels per case type, in calendar hours (nights and weekends count). */
export const DEFAULT_SLA: Record<CaseType, SlaTerm> = {
  complaint: { firstResponseHours: 24, resolutionHours: 72 },
  claim: { firstResponseHours: 24, resolutionHours: 120 },
  suggestion: { firstResponseHours: 72, resolutionHours: 336 },
  inquiry: { firstResponseHours: 24, resolutionHours: 72 },
};

const SlaSettings = z
  .object(Object.fromEntries(CASE_TYPES.map((t) => [t, SlaTerm])) as Record<CaseType, typeof SlaTerm>)
  .describe('Service levels per case type, in calendar hours');
export const SlaPatch = z
  .strictObject(
    Object.fromEntries(CASE_TYPES.map((t) => [t, SlaTerm.optional()])) as Record<
      CaseType,
      z.ZodOptional<typeof SlaTerm>
    >,
  )
  .describe('Service levels to change, per case type (calendar hours)');

export const VALUE_DIMENSIONS = ['volume', 'frequency', 'amount', 'punctuality', 'seniority'] as const;
export type ValueDimension = (typeof VALUE_DIMENSIONS)[number];
export const TIERS = ['vip', 'gold', 'silver', 'bronze'] as const;
export type Tier = (typeof TIERS)[number];

const Weight = z.number().min(0).max(1000);
const Share = z.number().gt(0).lt(1);

/** How scores are made: value weights, tiers, status rules, CLV discounting, the nightly run. */
export const DEFAULT_SCORE_SETTINGS = {
  weights: { volume: 1, frequency: 1, amount: 1, punctuality: 1, seniority: 1 },
  tiers: { vip: 0.05, gold: 0.2, silver: 0.5 },
  status: { atRiskAfterDays: 180, inactiveAfterDays: 365, atRiskProbability: 0.3, atRiskGapMultiple: 3 },
  monthlyDiscountRate: 0.01,
  nightlyAt: '03:00',
};

const ScoreSettingsFields = {
  weights: z
    .strictObject(
      Object.fromEntries(VALUE_DIMENSIONS.map((d) => [d, Weight])) as Record<ValueDimension, typeof Weight>,
    )
    .refine((w) => Object.values(w).some((v) => v > 0), 'at least one weight must be above 0')
    .describe(
      'Weight of each value dimension (≥ 0, and one of volume, frequency, amount or seniority above 0); the score is their weighted mean',
    ),
  tiers: z
    .strictObject({
      vip: Share.describe('Top share of buyers by value score that is `vip`'),
      gold: Share.describe('Top share that is `gold` or better'),
      silver: Share.describe('Top share that is `silver` or better; the rest is `bronze`'),
    })
    .refine((t) => t.vip < t.gold && t.gold < t.silver, 'tiers must be ordered: vip < gold < silver')
    .describe('Tier thresholds, as cumulative top shares of the buyers ranked by value score'),
  status: z
    .strictObject({
      atRiskAfterDays: z
        .number()
        .int()
        .min(1)
        .max(3650)
        .describe('Silence (days) after which a buyer is at risk'),
      inactiveAfterDays: z
        .number()
        .int()
        .min(2)
        .max(3650)
        .describe('Silence (days) after which a buyer is inactive'),
      atRiskProbability: z
        .number()
        .min(0)
        .max(1)
        .describe('At risk when the BG/NBD probability alive falls below this'),
      atRiskGapMultiple: z
        .number()
        .min(1)
        .max(100)
        .describe(
          'At risk when the silence exceeds this multiple of the customer’s usual time between orders',
        ),
    })
    .refine((s) => s.atRiskAfterDays < s.inactiveAfterDays, {
      message: 'atRiskAfterDays must be below inactiveAfterDays',
      path: ['atRiskAfterDays'],
    })
    .describe('Status rules'),
  monthlyDiscountRate: z.number().min(0).max(1).describe('Monthly discount rate of the 12-month CLV'),
  nightlyAt: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM, 24-hour')
    .describe('Local time (tenant time zone) of the nightly full recompute'),
};

export const ScoreSettings = z.object(ScoreSettingsFields).describe('How scores are made');
export type ScoreSettings = z.infer<typeof ScoreSettings>;
export const ScoreSettingsPatch = z
  .strictObject({
    // on a change only (weights stored before this rule still read): punctuality is unknown for a
    // buyer without due dates, so on its own it would leave most buyers without a score
    weights: ScoreSettingsFields.weights
      .refine(
        (w) => VALUE_DIMENSIONS.some((d) => d !== 'punctuality' && w[d] > 0),
        'at least one weight other than punctuality must be above 0 (punctuality is unknown for buyers without due dates)',
      )
      .optional(),
    tiers: ScoreSettingsFields.tiers.optional(),
    status: ScoreSettingsFields.status.optional(),
    monthlyDiscountRate: ScoreSettingsFields.monthlyDiscountRate.optional(),
    nightlyAt: ScoreSettingsFields.nightlyAt.optional(),
  })
  .describe(
    'Score settings to change (each given part replaces its whole part); a change starts a recompute',
  );

/** Campaigns: the frequency cap across every campaign of the tenant. */
export const DEFAULT_CAMPAIGN_SETTINGS = { frequencyCap: { messages: 3, days: 7 } };
export const CampaignSettings = z
  .strictObject({
    frequencyCap: z
      .strictObject({
        messages: z.number().int().min(1).max(1000).describe('At most this many messages per customer…'),
        days: z.number().int().min(1).max(365).describe('…in any window of this many days'),
      })
      .describe('Messages beyond it are skipped with reason frequency_cap'),
  })
  .describe('Campaign rules shared by every campaign');
export type CampaignSettings = z.infer<typeof CampaignSettings>;

/** The tenant's settings. Later modules add their sections here, each validated and defaulted. */
export const SettingsSchema = z
  .object({
    tenantId: uuid().describe('The tenant'),
    name: z.string().describe('Display name'),
    currency: z.string().describe('ISO 4217 currency; orders in another currency must carry `baseTotal`'),
    timezone: z.string().describe('IANA time zone for schedules and reports'),
    sla: SlaSettings,
    scores: ScoreSettings,
    campaigns: CampaignSettings,
    updatedAt: timestampOut('Last changed'),
  })
  .meta({
    id: 'Settings',
    examples: [
      {
        tenantId: '01936f0e-0000-7000-8000-000000000001',
        name: 'Zapatería Lola',
        currency: 'EUR',
        timezone: 'Europe/Madrid',
        sla: DEFAULT_SLA,
        scores: DEFAULT_SCORE_SETTINGS,
        campaigns: DEFAULT_CAMPAIGN_SETTINGS,
        updatedAt: '2026-01-10T09:30:00.000Z',
      },
    ],
  });
export type Settings = z.infer<typeof SettingsSchema>;

export const UpdateSettingsBody = z
  .strictObject({
    name: NameField.optional(),
    currency: CurrencyField.optional(),
    timezone: TimezoneField.optional(),
    sla: SlaPatch.optional(),
    scores: ScoreSettingsPatch.optional(),
    campaigns: CampaignSettings.partial().optional(),
  })
  .meta({
    id: 'SettingsPatch',
    examples: [
      { timezone: 'America/Mexico_City', currency: 'MXN' },
      { sla: { complaint: { firstResponseHours: 8, resolutionHours: 48 } } },
      { scores: { weights: { volume: 1, frequency: 2, amount: 3, punctuality: 1, seniority: 0.5 } } },
    ],
  });
export type UpdateSettingsInput = z.output<typeof UpdateSettingsBody>;
