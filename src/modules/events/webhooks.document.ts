import { EVENT_CATALOGUE } from './events.schemas.ts';
import { RETRY_SCHEDULE } from './webhooks.service.ts';

const schedule = RETRY_SCHEDULE.map((s) =>
  s < 60 ? `${s} s` : s < 3600 ? `${s / 60} min` : `${s / 3600} h`,
).join(', ');

/**
 * The OpenAPI `webhooks` section: one entry per event type, the request a subscriber receives.
 * Every body is the same envelope; `data` is the type's versioned payload.
 */
export function webhooksDocument(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(EVENT_CATALOGUE).map(([type, data]) => [
      type,
      {
        post: {
          summary: type,
          description: `Sent for each \`${type}\` event to the subscriptions that ask for it. Headers (Standard Webhooks): \`webhook-id\` (\`msg_<delivery id>\`, the same on every retry), \`webhook-timestamp\` (seconds), \`webhook-signature\` (\`v1,<base64 HMAC-SHA256 of id.timestamp.body>\`, space-separated while a secret rotation lasts). Answer 2xx within 15 s; anything else is retried after ${schedule} (± 20 % jitter), 429 and 503 after their Retry-After; 410 disables the subscription. Deliveries are at least once and not ordered: use \`timestamp\` and \`id\`.`,
          tags: ['webhooks'],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['id', 'type', 'version', 'timestamp', 'data'],
                  properties: {
                    id: { type: 'string', format: 'uuid', description: 'The event id (GET /v1/events)' },
                    type: { type: 'string', const: type },
                    version: { type: 'integer', const: 1, description: 'Payload version' },
                    timestamp: { type: 'string', format: 'date-time', description: 'When it happened' },
                    data: { type: 'object', description: data },
                  },
                },
              },
            },
          },
          responses: { '2XX': { description: 'Received; any other answer is retried' } },
        },
      },
    ]),
  );
}
