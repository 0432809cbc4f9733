import { sql } from 'drizzle-orm';
import {
  boolean,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference, timestamps } from '../../platform/tenancy.ts';
import { tenants } from '../tenants/tenants.table.ts';
import { events } from './events.table.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    url: text('url').notNull(),
    // event names, prefixes such as `customer.*`, or `*`
    events: text('events').array().notNull(),
    description: text('description'),
    enabled: boolean('enabled').notNull().default(true),
    disabledReason: text('disabled_reason'),
    // the signing secret, and the secrets it replaced, each signing beside it until its `until`
    // (a second rotation inside the window keeps the first one's secret live: nothing is dropped early)
    secret: text('secret').notNull(),
    retiringSecrets: jsonb('retiring_secrets')
      .$type<{ secret: string; until: string }[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    // the first failure of the current run of failures (cleared by a success)
    failingSince: at('failing_since'),
    version: integer('version').notNull().default(1),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }),
    tenantIsolation(),
  ],
);

/**
 * One event for one subscription: created with the event (a trigger, same transaction), attempted
 * until it succeeds or the schedule runs out. The body is built from the event at each attempt, so
 * an erased customer's data leaves the delivery log with the event.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    subscriptionId: uuid('subscription_id').notNull(),
    eventId: uuid('event_id').notNull(),
    eventType: text('event_type').notNull(),
    status: text('status', { enum: ['pending', 'succeeded', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: at('next_attempt_at').notNull().defaultNow(),
    // while a worker holds the delivery (its attempt in flight): the claim's lease, cleared when the
    // attempt is recorded; an attempt whose lease was taken over records nothing
    leasedUntil: at('leased_until'),
    lastAttemptAt: at('last_attempt_at'),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    lastLatencyMs: integer('last_latency_ms'),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference(
      'webhook_deliveries_subscription_fk',
      [t.tenantId, t.subscriptionId],
      webhookSubscriptions,
    ).onDelete('cascade'),
    tenantReference('webhook_deliveries_event_fk', [t.tenantId, t.eventId], events).onDelete('cascade'),
    index('webhook_deliveries_due_idx').on(t.tenantId, t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    // each webhook's own due deliveries (the claim takes a few of each)
    index('webhook_deliveries_subscription_due_idx')
      .on(t.tenantId, t.subscriptionId, t.nextAttemptAt)
      .where(sql`${t.status} = 'pending'`),
    index('webhook_deliveries_subscription_idx').on(t.tenantId, t.subscriptionId, t.id),
    index('webhook_deliveries_event_idx').on(t.tenantId, t.eventId),
    tenantIsolation(),
  ],
);
