import { z } from 'zod';
import { CurrencyCode } from '../../platform/money.ts';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { timestampOut } from '../../platform/schemas.ts';

const TIME_ZONES = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC']);

export const CurrencyField = CurrencyCode.describe('ISO 4217 currency of the tenant’s reports');
export const TimezoneField = z
  .string()
  .refine((tz) => TIME_ZONES.has(tz), 'must be an IANA time zone such as Europe/Madrid')
  .describe('IANA time zone for schedules and reports');
const NameField = z.string().trim().min(1).max(200).describe('Display name');

export const CreateTenantBody = z
  .strictObject({
    name: NameField,
    slug: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'must be 2–63 lower-case letters, digits or dashes')
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
    id: z.uuid().describe('Tenant id (the `tid` claim of its tokens)'),
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

/** The tenant's settings. Later modules add their sections here, each validated and defaulted. */
export const SettingsSchema = z
  .object({
    tenantId: z.uuid().describe('The tenant'),
    name: z.string().describe('Display name'),
    currency: z.string().describe('ISO 4217 currency; orders in another currency must carry `baseTotal`'),
    timezone: z.string().describe('IANA time zone for schedules and reports'),
    sla: SlaSettings,
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
  })
  .meta({
    id: 'SettingsPatch',
    examples: [
      { timezone: 'America/Mexico_City', currency: 'MXN' },
      { sla: { complaint: { firstResponseHours: 8, resolutionHours: 48 } } },
    ],
  });
export type UpdateSettingsInput = z.output<typeof UpdateSettingsBody>;
