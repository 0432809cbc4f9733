import { index, integer, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation } from '../../platform/tenancy.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/** Each erasure: which customer, when, at whose request (no personal data: the id only). */
export const customerErasures = pgTable(
  'customer_erasures',
  {
    tenantId: tenantId(),
    customerId: uuid('customer_id').notNull(),
    erasedAt: at('erased_at').notNull(),
    requestedBy: text('requested_by').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.customerId] }), tenantIsolation()],
);

/** Who did what, when: writes, partner reads, exports, erasures, refused requests. Never data or tokens. */
export const auditLog = pgTable(
  'audit_log',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    at: at('at').notNull(),
    actor: text('actor'),
    kind: text('kind', { enum: ['write', 'read', 'export', 'erasure', 'auth_failure'] }).notNull(),
    action: text('action').notNull(),
    resource: text('resource'),
    status: integer('status').notNull(),
    requestId: text('request_id').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    index('audit_log_actor_idx').on(t.tenantId, t.actor, t.id),
    index('audit_log_resource_idx').on(t.tenantId, t.resource, t.id),
    tenantIsolation(),
  ],
);
