import { index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation } from '../../platform/tenancy.ts';

/**
 * The transactional outbox: an event is written in the same transaction as the change that causes
 * it, so a rolled-back change emits nothing and a committed one is always there to deliver.
 */
export const events = pgTable(
  'events',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    type: text('type').notNull(),
    version: integer('version').notNull().default(1),
    occurredAt: timestamp('occurred_at', { withTimezone: true, precision: 3 }).notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    index('events_type_idx').on(t.tenantId, t.type, t.id),
    tenantIsolation(),
  ],
);
