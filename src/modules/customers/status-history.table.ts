import { sql } from 'drizzle-orm';
import { index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference } from '../../platform/tenancy.ts';
import { CUSTOMER_STATUSES, LIFECYCLE_PHASES } from './customers.schemas.ts';
import { customers } from './customers.table.ts';

/**
 * The status changes that count as a reactivation (the 6R `reactivation`, the lifecycle insight): from
 * inactive because the customer bought again — not because the rules or the model changed. The
 * condition is also the predicate of a partial index below: a query must spell it the same way.
 */
export const REACTIVATION_REASONS = ['reactivated', 'recovered'] as const;
export const isReactivation = (h: string) =>
  `${h}from_status = 'inactive' AND ${h}reason IN (${REACTIVATION_REASONS.map((r) => `'${r}'`).join(', ')})`;

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
    // the reactivations per customer (the 6R, every score row): a few rows of a large history, read
    // in one index scan instead of the whole tenant's history on each recompute
    index('customer_status_history_reactivation_idx')
      .on(t.tenantId, t.customerId)
      .where(sql.raw(isReactivation(''))),
    tenantIsolation(),
  ],
);
