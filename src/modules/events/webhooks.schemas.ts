import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';
import { EVENT_TYPES } from './events.schemas.ts';

const EventPattern = z
  .string()
  .regex(/^(\*|[a-z_]+\.\*|[a-z_]+\.[a-z_]+)$/, 'must be an event type, a prefix such as customer.*, or *')
  .refine(
    (p) =>
      p === '*' || p.endsWith('.*')
        ? EVENT_TYPES.some((t) => t.startsWith(p.slice(0, -1)))
        : EVENT_TYPES.includes(p as never),
    'matches no event type (see GET /v1/events)',
  );

/** Well-formed http(s) URLs only (a 400); where it may point is the SSRF guard's call (a 422). */
const WebhookUrl = z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).max(2000);

export const WebhookSchema = z
  .object({
    id: uuid().describe('Subscription id'),
    url: z.string().describe('Where deliveries go (POST)'),
    events: z.array(z.string()).describe('Event types or prefixes (`customer.*`, `*`)'),
    description: z.string().nullable().describe('What it is for'),
    enabled: z.boolean().describe('Deliveries are made only while enabled'),
    disabledReason: z
      .string()
      .nullable()
      .describe(
        'Why it was switched off: `gone` (the receiver answered 410) or `failing` (failing for days)',
      ),
    failingSince: timestampOut('The first failure of the current run of failures').nullable(),
    rotationEndsAt: timestampOut(
      'While a rotation lasts, the replaced secrets sign too: the last of them until then',
    ).nullable(),
    version: z.number().int().describe('Row version (ETag)'),
    createdAt: timestampOut('Created'),
    updatedAt: timestampOut('Last changed'),
  })
  .meta({ id: 'Webhook' });
export type Webhook = z.infer<typeof WebhookSchema>;

export const WebhookWithSecretSchema = WebhookSchema.extend({
  secret: z.string().describe('The signing secret (`whsec_…`): shown once, keep it'),
}).meta({ id: 'WebhookWithSecret' });

export const CreateWebhookBody = z
  .object({
    url: WebhookUrl.describe('https URL (http only where allowed: development, the allow-list)'),
    events: z.array(EventPattern).min(1).max(50).describe('Event types or prefixes'),
    description: z.string().max(500).nullable().optional().describe('What it is for'),
    enabled: z.boolean().default(true).describe('Start enabled (default)'),
  })
  .strict()
  .meta({
    id: 'CreateWebhook',
    examples: [{ url: 'https://example.com/hooks/vinculo', events: ['customer.*', 'order.recorded'] }],
  });
export type CreateWebhookInput = z.infer<typeof CreateWebhookBody>;

export const UpdateWebhookBody = z
  .object({
    url: WebhookUrl.optional(),
    events: z.array(EventPattern).min(1).max(50).optional(),
    description: z.string().max(500).nullable().optional(),
    enabled: z.boolean().optional().describe('Re-enabling clears the reason it was switched off'),
  })
  .strict()
  .meta({ id: 'UpdateWebhook', examples: [{ enabled: true }] });
export type UpdateWebhookInput = z.infer<typeof UpdateWebhookBody>;

export const ListWebhooksQuery = z.object({ limit: limitParam, cursor: cursorParam });
export const WebhookPage = pageOf(WebhookSchema).meta({ id: 'WebhookPage' });

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;

export const DeliverySchema = z
  .object({
    id: uuid().describe('Delivery id; the `webhook-id` header is `msg_<id>`, the same on every attempt'),
    webhookId: uuid(),
    eventId: uuid(),
    eventType: z.string(),
    status: z.enum(DELIVERY_STATUSES).describe('pending (more attempts to come), succeeded, failed'),
    attempts: z.number().int(),
    lastAttemptAt: timestampOut('Last attempt').nullable(),
    lastStatusCode: z.number().int().nullable().describe('The receiver’s last HTTP status'),
    lastError: z
      .string()
      .nullable()
      .describe('Why the last attempt failed (timeout, redirect, refused address…)'),
    lastLatencyMs: z.number().int().nullable(),
    nextAttemptAt: timestampOut('Next attempt (pending only)').nullable(),
    createdAt: timestampOut('Created'),
  })
  .meta({ id: 'WebhookDelivery' });
export type Delivery = z.infer<typeof DeliverySchema>;

export const ListDeliveriesQuery = z.object({
  status: z.enum(DELIVERY_STATUSES).optional().describe('Only deliveries in this status'),
  limit: limitParam,
  cursor: cursorParam,
});
export const DeliveryPage = pageOf(DeliverySchema).meta({ id: 'WebhookDeliveryPage' });
export const DeliveryParams = z.object({ id: uuid(), deliveryId: uuid() });
