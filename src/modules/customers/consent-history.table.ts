import { boolean, index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference } from '../../platform/tenancy.ts';
import { CONSENT_CHANNELS } from './customers.schemas.ts';
import { customers } from './customers.table.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/** Every consent given or withdrawn: which channel, when, how, and which client recorded it. */
export const customerConsentHistory = pgTable(
  'customer_consent_history',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    customerId: uuid('customer_id').notNull(),
    channel: text('channel', { enum: CONSENT_CHANNELS }).notNull(),
    granted: boolean('granted').notNull(),
    at: at('at').notNull(),
    source: text('source'),
    recordedBy: text('recorded_by').notNull(),
    recordedAt: at('recorded_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference('customer_consent_history_customer_fk', [t.tenantId, t.customerId], customers),
    index('customer_consent_history_customer_idx').on(t.tenantId, t.customerId, t.at),
    tenantIsolation(),
  ],
);
