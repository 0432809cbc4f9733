import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import type { Services } from '../services.ts';
import { EVENT_CATALOGUE, EVENT_RETENTION_DAYS, EventPage, ListEventsQuery } from './events.schemas.ts';
import { EVENTS_SETTLE_MS } from './events.service.ts';

export const eventsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get('/events', {
    // the events carry the customers' personal data: the feed needs the scope that shows it
    config: { scopes: ['webhooks:manage', 'customers:pii'] },
    schema: {
      tags: ['events'],
      summary: 'Events, oldest first, for consumers that poll',
      description: `Kept ${EVENT_RETENTION_DAYS} days after they are written. Types: ${Object.entries(
        EVENT_CATALOGUE,
      )
        .map(([type, data]) => `\`${type}\` (${data})`)
        .join(
          '; ',
        )}. A consumer keeps the last id it saw and asks with \`after\`: the feed is in commit-safe order, so no event ever appears behind a position already served (a request may wait, by default up to ${EVENTS_SETTLE_MS / 1000} s, for transactions in flight). An \`after\` that names no event (one pruned after ${EVENT_RETENTION_DAYS} days, say) starts after that id.`,
      querystring: ListEventsQuery,
      response: { 200: EventPage, ...problems() },
    },
    handler: (request) => {
      const { limit, cursor, ...filter } = request.query;
      return services.events.list(requireTenant(request.actor!), filter, limit, cursor);
    },
  });
};
