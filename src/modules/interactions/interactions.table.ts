import { sql } from 'drizzle-orm';
import {
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference, timestamps } from '../../platform/tenancy.ts';
import { customers } from '../customers/customers.table.ts';
import { intermediaries } from '../intermediaries/intermediaries.table.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const INTERACTION_CHANNELS = [
  'email',
  'phone',
  'sms',
  'chat',
  'web_form',
  'social',
  'in_person',
  'mail',
  'focus_group',
  'suggestion_box',
  'survey',
] as const;
export const INTERACTION_TYPES = [
  'complaint',
  'claim',
  'suggestion',
  'inquiry',
  'praise',
  'note',
  'call',
  'meeting',
  'message',
] as const;
export const CASE_STATUSES = ['open', 'in_progress', 'resolved', 'closed', 'reopened'] as const;
export const RESOLUTION_OUTCOMES = ['resolved', 'rejected', 'compensated'] as const;

/**
 * Every touchpoint with a customer. An inbound complaint, claim, suggestion or inquiry is also a
 * case (the case_* columns); replies are outbound interactions pointing at their case.
 */
export const interactions = pgTable(
  'interactions',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    customerId: uuid('customer_id').notNull(),
    channel: text('channel', { enum: INTERACTION_CHANNELS }).notNull(),
    direction: text('direction', { enum: ['inbound', 'outbound'] }).notNull(),
    type: text('type', { enum: INTERACTION_TYPES }).notNull(),
    subject: text('subject'),
    body: text('body'),
    occurredAt: at('occurred_at').notNull(),
    intermediaryId: uuid('intermediary_id'),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    sentiment: real('sentiment'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    replyTo: uuid('reply_to'),
    caseStatus: text('case_status', { enum: CASE_STATUSES }),
    firstResponseDueAt: at('first_response_due_at'),
    dueAt: at('due_at'),
    firstResponseAt: at('first_response_at'),
    resolvedAt: at('resolved_at'),
    closedAt: at('closed_at'),
    resolutionOutcome: text('resolution_outcome', { enum: RESOLUTION_OUTCOMES }),
    resolutionNote: text('resolution_note'),
    slaBreached: boolean('sla_breached').notNull().default(false),
    version: integer('version').notNull().default(1),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference('interactions_customer_fk', [t.tenantId, t.customerId], customers),
    tenantReference('interactions_intermediary_fk', [t.tenantId, t.intermediaryId], intermediaries),
    tenantReference('interactions_reply_to_fk', [t.tenantId, t.replyTo], t),
    index('interactions_customer_occurred_idx').on(t.tenantId, t.customerId, t.occurredAt),
    index('interactions_occurred_idx').on(t.tenantId, t.occurredAt),
    index('interactions_open_cases_idx')
      .on(t.tenantId, t.caseStatus, t.dueAt)
      .where(sql`${t.caseStatus} IS NOT NULL AND ${t.caseStatus} NOT IN ('resolved', 'closed')`),
    index('interactions_reply_to_idx').on(t.tenantId, t.replyTo),
    index('interactions_intermediary_idx')
      .on(t.tenantId, t.intermediaryId)
      .where(sql`${t.intermediaryId} IS NOT NULL`),
    tenantIsolation(),
  ],
);
