import { sql } from 'drizzle-orm';
import {
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
import { customers } from '../customers/customers.table.ts';
import { tenants } from '../tenants/tenants.table.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const segments = pgTable(
  'segments',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    name: text('name').notNull(),
    description: text('description'),
    kind: text('kind', { enum: ['dynamic', 'static'] }).notNull(),
    definition: jsonb('definition').$type<Record<string, unknown>>(),
    // the segments its definition refers to: cycles are refused, refreshes follow this order
    dependsOn: uuid('depends_on').array().notNull().default(sql`'{}'::uuid[]`),
    // a full refresh this often (minutes) besides the nightly one and the one after each score recompute
    refreshEveryMinutes: integer('refresh_every_minutes'),
    memberCount: integer('member_count').notNull().default(0),
    refreshedAt: at('refreshed_at'),
    lastError: text('last_error'),
    version: integer('version').notNull().default(1),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }),
    uniqueIndex('segments_name_key').on(t.tenantId, t.name),
    tenantIsolation(),
  ],
);

/** The materialized membership of every segment. */
export const segmentMembers = pgTable(
  'segment_members',
  {
    tenantId: tenantId(),
    segmentId: uuid('segment_id').notNull(),
    customerId: uuid('customer_id').notNull(),
    enteredAt: at('entered_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.segmentId, t.customerId] }),
    tenantReference('segment_members_segment_fk', [t.tenantId, t.segmentId], segments).onDelete('cascade'),
    tenantReference('segment_members_customer_fk', [t.tenantId, t.customerId], customers).onDelete('cascade'),
    index('segment_members_customer_idx').on(t.tenantId, t.customerId),
    tenantIsolation(),
  ],
);

/** Every entry into and exit from a segment, with its time and what caused it. */
export const segmentHistory = pgTable(
  'segment_history',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    segmentId: uuid('segment_id').notNull(),
    customerId: uuid('customer_id').notNull(),
    change: text('change', { enum: ['entered', 'exited'] }).notNull(),
    reason: text('reason', { enum: ['change', 'refresh', 'manual'] }).notNull(),
    at: at('at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference('segment_history_segment_fk', [t.tenantId, t.segmentId], segments).onDelete('cascade'),
    tenantReference('segment_history_customer_fk', [t.tenantId, t.customerId], customers),
    index('segment_history_segment_idx').on(t.tenantId, t.segmentId, t.id),
    index('segment_history_customer_idx').on(t.tenantId, t.customerId, t.id),
    tenantIsolation(),
  ],
);

/**
 * Customers whose data changed since the last incremental evaluation: filled by triggers on the
 * tables segments read (customers, aggregates, scores, interactions, feedback, status history) in
 * the writing transaction itself, drained by the `segments_evaluate` job.
 */
export const segmentPending = pgTable(
  'segment_pending',
  {
    tenantId: tenantId(),
    customerId: uuid('customer_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.customerId] }), tenantIsolation()],
);

/** Each read of a segment's members by a partner token: who, which segment, how many rows, when. */
export const segmentReads = pgTable(
  'segment_reads',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    segmentId: uuid('segment_id').notNull(),
    actor: text('actor').notNull(),
    format: text('format').notNull(),
    rows: integer('rows').notNull(),
    at: at('at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    index('segment_reads_segment_idx').on(t.tenantId, t.segmentId, t.id),
    tenantIsolation(),
  ],
);
