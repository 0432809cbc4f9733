import { foreignKey, integer, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, timestamps } from '../../platform/tenancy.ts';
import { tenants } from '../tenants/tenants.table.ts';

export const attributeDefinitions = pgTable(
  'attribute_definitions',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    key: text('key').notNull(),
    label: text('label').notNull(),
    type: text('type', { enum: ['string', 'number', 'boolean', 'date', 'enum'] }).notNull(),
    enumValues: text('enum_values').array(),
    description: text('description'),
    version: integer('version').notNull().default(1),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }),
    uniqueIndex('attribute_definitions_key_key').on(t.tenantId, t.key),
    tenantIsolation(),
  ],
);
