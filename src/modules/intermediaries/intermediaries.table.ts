import {
  boolean,
  foreignKey,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, timestamps } from '../../platform/tenancy.ts';
import { tenants } from '../tenants/tenants.table.ts';

export const intermediaries = pgTable(
  'intermediaries',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    kind: text('kind', { enum: ['employee', 'prescriber', 'supplier', 'distributor'] }).notNull(),
    name: text('name').notNull(),
    email: text('email'),
    phone: text('phone'),
    externalId: text('external_id'),
    active: boolean('active').notNull().default(true),
    version: integer('version').notNull().default(1),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }),
    uniqueIndex('intermediaries_external_id_key').on(t.tenantId, t.externalId),
    index('intermediaries_kind_idx').on(t.tenantId, t.kind),
    tenantIsolation(),
  ],
);
