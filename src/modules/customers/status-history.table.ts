import { index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference } from '../../platform/tenancy.ts';
import { CUSTOMER_STATUSES, LIFECYCLE_PHASES } from './customers.schemas.ts';
import { customers } from './customers.table.ts';

/** Every change of a customer's status or lifecycle phase, with its time and reason. */
export const customerStatusHistory = pgTable(
  'customer_status_history',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    customerId: uuid('customer_id').notNull(),
    fromStatus: text('from_status', { enum: CUSTOMER_STATUSES }),
    toStatus: text('to_status', { enum: CUSTOMER_STATUSES }).notNull(),
    fromPhase: text('from_phase', { enum: LIFECYCLE_PHASES }),
    toPhase: text('to_phase', { enum: LIFECYCLE_PHASES }).notNull(),
    reason: text('reason').notNull(),
    changedAt: timestamp('changed_at', { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference('customer_status_history_customer_fk', [t.tenantId, t.customerId], customers),
    index('customer_status_history_customer_idx').on(t.tenantId, t.customerId, t.changedAt),
    tenantIsolation(),
  ],
);
