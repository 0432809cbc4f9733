import { sql } from 'drizzle-orm';
import { type AnyPgColumn, foreignKey, pgPolicy, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * Row-level security shared by every tenant-owned table: a row is visible and writable only while
 * the transaction's `app.tenant_id` names its tenant (see Database.withTenant). The policy applies
 * to every role; FORCE (in the hand-written migration) makes it bind the owner too.
 */
export const tenantIsolation = () =>
  pgPolicy('tenant_isolation', {
    as: 'permissive',
    for: 'all',
    to: 'public',
    using: sql`tenant_id = vinculo_current_tenant()`,
    withCheck: sql`tenant_id = vinculo_current_tenant()`,
  });

export const tenantId = () => uuid('tenant_id').notNull();

export const timestamps = () => ({
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});

/**
 * A foreign key that carries the tenant: (tenant_id, column) → (tenant_id, id) of the target, so a
 * row can never point into another tenant.
 */
export const tenantReference = (
  name: string,
  from: [tenantId: AnyPgColumn, column: AnyPgColumn],
  to: { tenantId: AnyPgColumn; id: AnyPgColumn },
) => foreignKey({ name, columns: from, foreignColumns: [to.tenantId, to.id] });
