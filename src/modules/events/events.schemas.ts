import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';

/** The event catalogue: each type, what its `data` holds. Version 1 of every payload. */
export const EVENT_CATALOGUE = {
  'customer.created': 'The customer, as GET /v1/customers/{id} returns it',
  'customer.updated': 'The customer after the change',
  'customer.erased': '{ customerId } (the id only: the personal data is gone, from earlier events too)',
  'customer.status_changed': '{ customerId, fromStatus, toStatus, fromPhase, toPhase, reason, changedAt }',
  'customer.tier_changed':
    '{ customerId, fromTier, toTier, valueScore, changedAt } (tiers: vip, gold, silver, bronze)',
  'order.recorded':
    '{ id, source, externalId, customerId, status, placedAt, total, baseTotal, sourceUpdatedAt }',
  'order.updated': 'The same fields as order.recorded, after the update',
  'interaction.created': 'The interaction, as GET /v1/interactions/{id} returns it',
  'case.opened': 'The interaction that opened the case, with its case',
  'case.resolved': 'The interaction with its resolved case',
  'case.sla_breached': '{ interactionId, customerId, type, firstResponseDueAt, dueAt }',
  'feedback.received': 'The feedback, as GET /v1/feedback/{id} returns it',
  'import.completed': 'The import, as GET /v1/imports/{id} returns it',
  'segment.entered':
    '{ segmentId, customerId, reason, at } (reason: change — incremental, refresh — a full refresh, manual — a static list edit)',
  'segment.exited': '{ segmentId, customerId, reason, at }',
  'campaign.message':
    '{ messageId, campaignId, campaignName, kind, channel, customerId, to, variant, subject, body, offer } (a queued message, rendered, for the sending system)',
  'webhook.disabled':
    '{ webhookId, url, reason, failingSince } (a subscription was switched off: 410 Gone, or failing for days)',
  'webhook.test': '{ webhookId, message } (POST /v1/webhooks/{id}/test: delivered to that subscription only)',
} as const;
export type EventType = keyof typeof EVENT_CATALOGUE;
export const EVENT_TYPES = Object.keys(EVENT_CATALOGUE) as EventType[];

/** How long events are kept for consumers that poll. */
export const EVENT_RETENTION_DAYS = 30;

export const EventSchema = z
  .object({
    id: uuid().describe('Event id (UUIDv7: time-ordered)'),
    type: z.string().describe('Event type, e.g. `order.recorded`'),
    version: z.number().int().describe('Payload version (1)'),
    occurredAt: timestampOut('When it happened'),
    data: z.record(z.string(), z.unknown()).describe('The payload; see the catalogue'),
  })
  .meta({
    id: 'Event',
    examples: [
      {
        id: '01936f0e-c1b2-7c3d-8e4f-5a6b7c8d9e0f',
        type: 'customer.status_changed',
        version: 1,
        occurredAt: '2026-03-01T10:15:00.000Z',
        data: {
          customerId: '01936f0e-8c2a-7d3e-9f10-3b5a2c1d4e5f',
          fromStatus: 'potential',
          toStatus: 'active',
          fromPhase: 'acquisition',
          toPhase: 'acquisition',
          reason: 'first_order',
          changedAt: '2026-03-01T10:15:00.000Z',
        },
      },
    ],
  });
export type Event = z.infer<typeof EventSchema>;

export const ListEventsQuery = z.strictObject({
  type: z
    .string()
    .regex(
      /^[a-z_]+(\.[a-z_]+|\.\*)?$/,
      'must be an event type such as order.recorded, or a prefix such as customer.*',
    )
    .optional()
    .describe('Only this type, or a prefix such as `customer.*`'),
  after: z
    .uuid()
    .optional()
    .describe('Only events after this one, in feed order (the last event id a poller saw)'),
  limit: limitParam,
  cursor: cursorParam,
});
export type ListEventsFilter = Omit<z.output<typeof ListEventsQuery>, 'limit' | 'cursor'>;
export const EventPage = pageOf(EventSchema).meta({ id: 'EventPage' });
