import { sql } from 'drizzle-orm';
import { char, jsonb, pgPolicy, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { timestamps } from '../../platform/tenancy.ts';

export const tenants = pgTable(
  'tenants',
  {
    id: uuid('id').primaryKey(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    timezone: text('timezone').notNull(),
    settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('tenants_slug_key').on(t.slug),
    // A tenant sees its own row; the platform operator (app.platform) sees them all.
    pgPolicy('tenant_self_or_platform', {
      as: 'permissive',
      for: 'all',
      to: 'public',
      using: sql`id = vinculo_current_tenant() OR current_setting('app.platform', true) = 'on'`,
      withCheck: sql`id = vinculo_current_tenant() OR current_setting('app.platform', true) = 'on'`,
    }),
  ],
);
