import { sql } from 'drizzle-orm';
import {
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation } from '../../platform/tenancy.ts';

/** A 64-bit transaction id (PostgreSQL's xid8), read as its decimal text. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

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
    /**
     * The writing transaction. The feed is ordered by (tx, id) and serves only events of transactions
     * older than every one still running, so an event committed late never lands behind a position
     * a consumer has already passed (ids alone are assigned before commit, in no commit order).
     */
    tx: xid8('tx').notNull().default(sql`pg_current_xact_id()`),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    index('events_feed_idx').on(t.tenantId, t.tx, t.id),
    index('events_type_idx').on(t.tenantId, t.type, t.tx, t.id),
    tenantIsolation(),
  ],
);
