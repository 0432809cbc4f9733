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
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference, timestamps } from '../../platform/tenancy.ts';
import { customers } from '../customers/customers.table.ts';
import { tenants } from '../tenants/tenants.table.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const CAMPAIGN_KINDS = [
  'retention',
  'reactivation',
  'recovery',
  'loyalty',
  'referral',
  'welcome',
  'birthday',
  'custom',
] as const;
export const CHANNELS = ['email', 'sms', 'push', 'whatsapp', 'mail', 'phone', 'webhook'] as const;
export const CAMPAIGN_STATUSES = [
  'draft',
  'scheduled',
  'running',
  'paused',
  'completed',
  'archived',
] as const;
export const MESSAGE_STATUSES = [
  'queued',
  'skipped',
  'held_out',
  'failed',
  'delivered',
  'opened',
  'clicked',
  'bounced',
  'complained',
  'unsubscribed',
] as const;

export type Trigger =
  | { type: 'scheduled'; at?: string; every?: string }
  | { type: 'segment_entered'; segmentId: string }
  | { type: 'status_changed'; from?: string; to?: string }
  | { type: 'case_resolved' }
  | { type: 'first_order' }
  | { type: 'birthday'; daysBefore: number }
  | { type: 'tier_changed'; to?: string };

export type Variant = {
  key: string;
  name?: string;
  segmentId?: string;
  subject?: string;
  body: string;
  offer?: { code?: string; description?: string };
};

export const campaigns = pgTable(
  'campaigns',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    name: text('name').notNull(),
    kind: text('kind', { enum: CAMPAIGN_KINDS }).notNull(),
    channel: text('channel', { enum: CHANNELS }).notNull(),
    segmentIds: uuid('segment_ids').array().notNull().default(sql`'{}'::uuid[]`),
    excludeSegmentIds: uuid('exclude_segment_ids').array().notNull().default(sql`'{}'::uuid[]`),
    trigger: jsonb('trigger').$type<Trigger>().notNull(),
    variants: jsonb('variants').$type<Variant[]>().notNull(),
    holdoutPercent: integer('holdout_percent').notNull().default(0),
    attributionWindowDays: integer('attribution_window_days').notNull().default(7),
    startsAt: at('starts_at'),
    endsAt: at('ends_at'),
    status: text('status', { enum: CAMPAIGN_STATUSES }).notNull().default('draft'),
    launchedAt: at('launched_at'),
    // the next run of a scheduled trigger (one-off or recurring)
    nextRunAt: at('next_run_at'),
    version: integer('version').notNull().default(1),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }),
    index('campaigns_status_idx').on(t.tenantId, t.status),
    tenantIsolation(),
  ],
);

/**
 * One customer's entry into a campaign, for one occurrence of its trigger: every decision (skipped
 * and why, held out, failed and why, queued) and then what the sender reports.
 */
export const campaignMessages = pgTable(
  'campaign_messages',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    campaignId: uuid('campaign_id').notNull(),
    customerId: uuid('customer_id').notNull(),
    occurrence: text('occurrence').notNull(),
    status: text('status', { enum: MESSAGE_STATUSES }).notNull(),
    reason: text('reason'),
    variant: text('variant'),
    subject: text('subject'),
    body: text('body'),
    // whether the template it was rendered from can show personal data (its text is then shown only
    // to customers:pii); rows from before this was recorded count as showing it
    showsPersonalData: boolean('shows_personal_data').notNull().default(true),
    // the customer's status when they entered (reactivation and recovery reports)
    statusAtEntry: text('status_at_entry').notNull(),
    // the channel it went out on (the campaign's may change later: an unsubscribe is from this one)
    channel: text('channel', { enum: CHANNELS }),
    enteredAt: at('entered_at').notNull(),
    deliveredAt: at('delivered_at'),
    openedAt: at('opened_at'),
    clickedAt: at('clicked_at'),
    bouncedAt: at('bounced_at'),
    complainedAt: at('complained_at'),
    unsubscribedAt: at('unsubscribed_at'),
    failedAt: at('failed_at'),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference('campaign_messages_campaign_fk', [t.tenantId, t.campaignId], campaigns).onDelete(
      'cascade',
    ),
    tenantReference('campaign_messages_customer_fk', [t.tenantId, t.customerId], customers),
    uniqueIndex('campaign_messages_occurrence_key').on(t.tenantId, t.campaignId, t.customerId, t.occurrence),
    index('campaign_messages_customer_idx').on(t.tenantId, t.customerId, t.enteredAt),
    index('campaign_messages_campaign_idx').on(t.tenantId, t.campaignId, t.id),
    tenantIsolation(),
  ],
);

/** Events that may start a campaign, queued by a trigger on the outbox in the event's transaction. */
export const campaignInbox = pgTable(
  'campaign_inbox',
  {
    tenantId: tenantId(),
    eventId: uuid('event_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.eventId] }), tenantIsolation()],
);
