import { sql } from 'drizzle-orm';
import {
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference } from '../../platform/tenancy.ts';
import { customers } from '../customers/customers.table.ts';
import { interactions } from '../interactions/interactions.table.ts';
import { orders } from '../orders/orders.table.ts';

export const FEEDBACK_DIMENSIONS = [
  'overall',
  'reliability',
  'responsiveness',
  'assurance',
  'empathy',
  'tangibles',
] as const;

/** Satisfaction: what the customer expected and what they perceived (SERVQUAL), NPS and CSAT. */
export const feedback = pgTable(
  'feedback',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    customerId: uuid('customer_id').notNull(),
    interactionId: uuid('interaction_id'),
    orderId: uuid('order_id'),
    dimension: text('dimension', { enum: FEEDBACK_DIMENSIONS }).notNull(),
    expectation: smallint('expectation').notNull(),
    perception: smallint('perception').notNull(),
    // derived, never sent: perception − expectation (negative: worse than expected)
    gap: integer('gap').generatedAlwaysAs(sql`perception - expectation`),
    nps: smallint('nps'),
    csat: smallint('csat'),
    comment: text('comment'),
    channel: text('channel'),
    occurredAt: timestamp('occurred_at', { withTimezone: true, precision: 3 }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference('feedback_customer_fk', [t.tenantId, t.customerId], customers),
    tenantReference('feedback_interaction_fk', [t.tenantId, t.interactionId], interactions),
    tenantReference('feedback_order_fk', [t.tenantId, t.orderId], orders),
    check(
      'feedback_scales',
      sql`expectation BETWEEN 1 AND 7 AND perception BETWEEN 1 AND 7 AND (nps IS NULL OR nps BETWEEN 0 AND 10) AND (csat IS NULL OR csat BETWEEN 1 AND 5)`,
    ),
    index('feedback_customer_idx').on(t.tenantId, t.customerId, t.occurredAt),
    index('feedback_occurred_idx').on(t.tenantId, t.occurredAt),
    index('feedback_interaction_idx')
      .on(t.tenantId, t.interactionId)
      .where(sql`${t.interactionId} IS NOT NULL`),
    index('feedback_order_idx').on(t.tenantId, t.orderId).where(sql`${t.orderId} IS NOT NULL`),
    tenantIsolation(),
  ],
);
