import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { ProblemSchema } from '../../platform/problem.ts';
import { isoDateTime, pastTimestamp, timestampOut, uuid } from '../../platform/schemas.ts';

export const CUSTOMER_STATUSES = ['potential', 'active', 'at_risk', 'inactive'] as const;
export const LIFECYCLE_PHASES = ['acquisition', 'retention', 'recovery'] as const;
export const CONSENT_CHANNELS = ['email', 'sms', 'phone', 'mail', 'partnerSharing'] as const;

const text = (max: number, what: string) => z.string().trim().min(1).max(max).describe(what);

export const EmailField = z.email().max(254).describe('Email; stored lower-cased, unique per tenant');
export const PhoneField = z
  .string()
  .regex(/^\+?[0-9][0-9 ().-]{5,24}$/, 'must be a phone number such as +34 600 123 456')
  .describe('Phone number, preferably E.164');

const BirthDate = z.iso
  .date()
  .refine((d) => d <= new Date().toISOString().slice(0, 10), 'must not be in the future')
  .refine((d) => d >= '1900-01-01', 'must be after 1900-01-01')
  .describe('Birth date (YYYY-MM-DD)');

const Locale = z
  .string()
  .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 tag such as es-ES')
  .describe('Preferred language, BCP 47 (e.g. `es-ES`)');

export const AddressSchema = z
  .strictObject({
    line: text(200, 'Street and number').nullish(),
    city: text(100, 'City').nullish(),
    region: text(100, 'Region or province').nullish(),
    postalCode: text(20, 'Postal code').nullish(),
    country: z
      .string()
      .regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as ES')
      .nullish()
      .describe('Country, ISO 3166-1 alpha-2'),
  })
  .describe('Postal address');

const ConsentInput = z.strictObject({
  granted: z.boolean().describe('Whether consent is given (true) or withdrawn (false)'),
  at: pastTimestamp('When; defaults to the time of the request').optional(),
  source: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .optional()
    .describe(
      'How it was given or withdrawn, e.g. `web_form`, `store`, `unsubscribe_link` (kept in the history)',
    ),
});

export const ConsentInputSchema = z
  .strictObject(
    Object.fromEntries(CONSENT_CHANNELS.map((c) => [c, ConsentInput.optional()])) as Record<
      (typeof CONSENT_CHANNELS)[number],
      z.ZodOptional<typeof ConsentInput>
    >,
  )
  .describe('Consent per channel; only the channels sent change');

const AttributeValue = z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]);
export const AttributesInput = z
  .record(z.string().max(64), AttributeValue)
  .refine((r) => Object.keys(r).length <= 100, 'at most 100 attributes')
  .describe('Custom attributes, checked against the definitions in /v1/attributes; null removes one');

export const ReferredBySchema = z
  .strictObject({
    kind: z.enum(['customer', 'intermediary']).describe('Who referred the customer'),
    id: uuid().describe('The referring customer or intermediary'),
  })
  .describe('Who referred this customer');

const Tags = z.array(text(50, 'A tag')).max(50).describe('Free tags (at most 50; duplicates are dropped)');

const customerFields = {
  externalId: text(200, 'Your system’s id for the customer; unique per tenant').nullish(),
  email: EmailField.nullish(),
  phone: PhoneField.nullish(),
  firstName: text(100, 'First name').nullish(),
  lastName: text(100, 'Last name').nullish(),
  birthDate: BirthDate.nullish(),
  locale: Locale.nullish(),
  address: AddressSchema.nullish(),
  attributes: AttributesInput.optional(),
  tags: Tags.optional(),
  consent: ConsentInputSchema.optional(),
  source: text(100, 'Acquisition channel, e.g. `instagram`, `store`').nullish(),
  referredBy: ReferredBySchema.nullish(),
  accountManagerId: uuid().nullish().describe('An intermediary of kind `employee`'),
};

export const CreateCustomerBody = z.strictObject(customerFields).meta({
  id: 'NewCustomer',
  description: 'A customer to create; every field is optional (a prospect may be known by little)',
  examples: [
    {
      externalId: 'shop-1042',
      email: 'lucia.garcia@example.com',
      firstName: 'Lucía',
      lastName: 'García',
      birthDate: '1988-04-12',
      locale: 'es-ES',
      address: { city: 'Sevilla', country: 'ES' },
      attributes: { children: 2, car: 'SUV' },
      tags: ['newsletter'],
      consent: { email: { granted: true } },
      source: 'instagram',
    },
  ],
});
export type CreateCustomerInput = z.output<typeof CreateCustomerBody>;

export const UpdateCustomerBody = z.strictObject(customerFields).meta({
  id: 'CustomerPatch',
  description:
    'Fields to change; null clears a field; `attributes` and `consent` merge key by key; `tags` replaces the list',
  examples: [{ lastName: 'García Pérez', attributes: { children: 3 } }],
});
export type UpdateCustomerInput = z.output<typeof UpdateCustomerBody>;

const ConsentOut = z.object({
  granted: z.boolean().describe('Given (true) or withdrawn (false)'),
  at: timestampOut('When it was given or withdrawn'),
});

export const CustomerSchema = z
  .object({
    id: uuid().describe('Customer id'),
    externalId: z.string().nullable().describe('Your system’s id'),
    email: z.string().nullable().optional().describe('Email (only with the `customers:pii` scope)'),
    phone: z.string().nullable().optional().describe('Phone (only with `customers:pii`)'),
    firstName: z.string().nullable().describe('First name'),
    lastName: z.string().nullable().describe('Last name'),
    birthDate: z.string().nullable().optional().describe('Birth date (only with `customers:pii`)'),
    locale: z.string().nullable().describe('Preferred language'),
    address: z
      .object({
        line: z.string().nullable(),
        city: z.string().nullable(),
        region: z.string().nullable(),
        postalCode: z.string().nullable(),
        country: z.string().nullable(),
      })
      .optional()
      .describe('Postal address (only with `customers:pii`)'),
    attributes: z.record(z.string(), z.unknown()).describe('Custom attributes'),
    tags: z.array(z.string()).describe('Tags'),
    consent: z
      .object(Object.fromEntries(CONSENT_CHANNELS.map((c) => [c, ConsentOut.optional()])))
      .describe('Consent per channel, with the time it was given or withdrawn'),
    source: z.string().nullable().describe('Acquisition channel'),
    referredBy: z
      .object({ kind: z.enum(['customer', 'intermediary']), id: uuid() })
      .nullable()
      .describe('Who referred the customer'),
    accountManagerId: uuid().nullable().describe('The employee who manages the account'),
    status: z.enum(CUSTOMER_STATUSES).describe('Behavioural status; `potential` until the first order'),
    lifecyclePhase: z.enum(LIFECYCLE_PHASES).describe('Relationship phase'),
    version: z.number().int().describe('Row version; the ETag is `"v<version>"`'),
    createdAt: timestampOut('Created'),
    updatedAt: timestampOut('Last changed'),
  })
  .meta({
    id: 'Customer',
    examples: [
      {
        id: '01936f0e-8c2a-7d3e-9f10-3b5a2c1d4e5f',
        externalId: 'shop-1042',
        email: 'lucia.garcia@example.com',
        phone: '+34 600 123 456',
        firstName: 'Lucía',
        lastName: 'García',
        birthDate: '1988-04-12',
        locale: 'es-ES',
        address: {
          line: 'Calle Sierpes 12',
          city: 'Sevilla',
          region: 'Andalucía',
          postalCode: '41004',
          country: 'ES',
        },
        attributes: { children: 2, car: 'SUV' },
        tags: ['newsletter'],
        consent: { email: { granted: true, at: '2026-01-10T09:30:00.000Z' } },
        source: 'instagram',
        referredBy: null,
        accountManagerId: null,
        status: 'potential',
        lifecyclePhase: 'acquisition',
        version: 1,
        createdAt: '2026-01-10T09:30:00.000Z',
        updatedAt: '2026-01-10T09:30:00.000Z',
      },
    ],
  });
export type Customer = z.infer<typeof CustomerSchema>;

export const ListCustomersQuery = z.strictObject({
  q: z.string().trim().min(1).max(100).optional().describe('Prefix of first name, last name or email'),
  status: z.enum(CUSTOMER_STATUSES).optional().describe('Only this status'),
  tag: z.string().min(1).max(50).optional().describe('Only customers with this tag'),
  email: z
    .string()
    .min(1)
    .max(254)
    .optional()
    .describe('Exact email (case-insensitive; needs `customers:pii`)'),
  externalId: z.string().min(1).max(200).optional().describe('Exact externalId'),
  updatedSince: isoDateTime().optional().describe('Only customers changed at or after'),
  limit: limitParam,
  cursor: cursorParam,
});
export type ListCustomersFilter = Omit<z.output<typeof ListCustomersQuery>, 'limit' | 'cursor'>;

export const CustomerPage = pageOf(CustomerSchema).meta({ id: 'CustomerPage' });

export const BATCH_MAX = 1000;
/** What a batch route validates: each item is then validated on its own by the service. */
export const BatchUpsertBodyLoose = z.strictObject({
  items: z.array(z.unknown()).min(1).max(BATCH_MAX).describe('The items'),
});

export const BatchUpsertBody = z
  .strictObject({
    items: z
      .array(CreateCustomerBody)
      .min(1)
      .max(BATCH_MAX)
      .describe(
        `Up to ${BATCH_MAX} customers, matched by externalId, else by email. Each item is validated on its own: a bad item is reported in its result and never rejects the others`,
      ),
  })
  .meta({
    id: 'CustomerBatch',
    examples: [
      {
        items: [
          { externalId: 'shop-1', email: 'ana@example.com', firstName: 'Ana' },
          { externalId: 'shop-2', email: 'not-an-email' },
        ],
      },
    ],
  });

export const BatchItemResult = z.object({
  index: z.number().int().describe('Position of the item in the request'),
  status: z.enum(['created', 'updated', 'error']).describe('What happened to the item'),
  id: uuid().optional().describe('The customer id (created or updated)'),
  error: ProblemSchema.optional().describe('Why the item was rejected'),
});
export const BatchUpsertResponse = z.object({
  results: z.array(BatchItemResult),
  summary: z.object({ created: z.number().int(), updated: z.number().int(), errors: z.number().int() }),
});
export type BatchResult = z.infer<typeof BatchItemResult>;

export const StatusChangeSchema = z
  .object({
    fromStatus: z.enum(CUSTOMER_STATUSES).nullable().describe('Status before (null: the first record)'),
    toStatus: z.enum(CUSTOMER_STATUSES).describe('Status after'),
    fromPhase: z.enum(LIFECYCLE_PHASES).nullable().describe('Phase before'),
    toPhase: z.enum(LIFECYCLE_PHASES).describe('Phase after'),
    reason: z.string().describe('Why, e.g. `first_order`'),
    changedAt: timestampOut('When'),
  })
  .meta({ id: 'StatusChange' });
export const StatusHistoryResponse = z.object({ data: z.array(StatusChangeSchema) });

export const ConsentChangeSchema = z
  .object({
    channel: z.enum(CONSENT_CHANNELS).describe('The consent'),
    granted: z.boolean().describe('Given (true) or withdrawn (false)'),
    at: timestampOut('When it was given or withdrawn'),
    source: z.string().nullable().describe('How, as the client said'),
    recordedBy: z.string().describe('The client (token subject) that recorded it'),
    recordedAt: timestampOut('When it was recorded'),
  })
  .meta({ id: 'ConsentChange' });
export const ConsentHistoryResponse = z.object({ data: z.array(ConsentChangeSchema) });
