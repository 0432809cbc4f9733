import { sql } from 'drizzle-orm';
import {
  check,
  date,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference, timestamps } from '../../platform/tenancy.ts';
import { intermediaries } from '../intermediaries/intermediaries.table.ts';
import { tenants } from '../tenants/tenants.table.ts';

export type ConsentRecord = { granted: boolean; at: string };
export type ConsentMap = Partial<
  Record<'email' | 'sms' | 'phone' | 'mail' | 'partnerSharing', ConsentRecord>
>;

export const customers = pgTable(
  'customers',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    externalId: text('external_id'),
    // stored trimmed and lower-cased: unique per tenant, case-insensitive
    email: text('email'),
    phone: text('phone'),
    firstName: text('first_name'),
    lastName: text('last_name'),
    birthDate: date('birth_date'),
    locale: text('locale'),
    addressLine: text('address_line'),
    city: text('city'),
    region: text('region'),
    postalCode: text('postal_code'),
    country: text('country'),
    attributes: jsonb('attributes').$type<Record<string, unknown>>().notNull().default({}),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    consent: jsonb('consent').$type<ConsentMap>().notNull().default({}),
    source: text('source'),
    referredByCustomerId: uuid('referred_by_customer_id'),
    referredByIntermediaryId: uuid('referred_by_intermediary_id'),
    accountManagerId: uuid('account_manager_id'),
    status: text('status', { enum: ['potential', 'active', 'at_risk', 'inactive'] })
      .notNull()
      .default('potential'),
    lifecyclePhase: text('lifecycle_phase', { enum: ['acquisition', 'retention', 'recovery'] })
      .notNull()
      .default('acquisition'),
    version: integer('version').notNull().default(1),
    // an erased customer stays as a row without personal data (its orders keep their aggregates);
    // a restrictive policy hides it from every read (migrations/0022)
    erasedAt: timestamp('erased_at', { withTimezone: true, precision: 3 }),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }),
    tenantReference('customers_account_manager_fk', [t.tenantId, t.accountManagerId], intermediaries),
    tenantReference(
      'customers_referred_by_intermediary_fk',
      [t.tenantId, t.referredByIntermediaryId],
      intermediaries,
    ),
    tenantReference('customers_referred_by_customer_fk', [t.tenantId, t.referredByCustomerId], t),
    check(
      'customers_one_referrer',
      sql`${t.referredByCustomerId} IS NULL OR ${t.referredByIntermediaryId} IS NULL`,
    ),
    uniqueIndex('customers_email_key').on(t.tenantId, t.email),
    uniqueIndex('customers_external_id_key').on(t.tenantId, t.externalId),
    index('customers_updated_at_idx').on(t.tenantId, t.updatedAt),
    // phones match by their digits and a leading + (phoneKey in customers.fields.ts)
    index('customers_phone_idx').on(t.tenantId, sql`regexp_replace(${t.phone}, '[^0-9+]', '', 'g')`),
    // the referencing side of each foreign key, so deleting a referenced row never scans the tenant
    index('customers_referred_by_customer_idx')
      .on(t.tenantId, t.referredByCustomerId)
      .where(sql`${t.referredByCustomerId} IS NOT NULL`),
    index('customers_referred_by_intermediary_idx')
      .on(t.tenantId, t.referredByIntermediaryId)
      .where(sql`${t.referredByIntermediaryId} IS NOT NULL`),
    index('customers_account_manager_idx')
      .on(t.tenantId, t.accountManagerId)
      .where(sql`${t.accountManagerId} IS NOT NULL`),
    index('customers_status_idx').on(t.tenantId, t.status),
    index('customers_tags_idx').using('gin', t.tags),
    index('customers_first_name_idx').on(t.tenantId, sql`lower(${t.firstName}) text_pattern_ops`),
    index('customers_last_name_idx').on(t.tenantId, sql`lower(${t.lastName}) text_pattern_ops`),
    index('customers_email_prefix_idx').on(t.tenantId, sql`${t.email} text_pattern_ops`),
    tenantIsolation(),
  ],
);
