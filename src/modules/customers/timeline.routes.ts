import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireScopes, requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { IdParams } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import { TimelinePage, TimelineQuery } from './timeline.ts';

/** Kinds that show the voice of the customer need `interactions:read` on top of `customers:read`. */
export const KINDS_NEEDING_INTERACTIONS = new Set(['interaction', 'feedback']);

export const timelineRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get('/customers/:id/timeline', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['customers'],
      summary: 'Everything that happened with the customer, newest first (filter with kinds)',
      params: IdParams,
      querystring: TimelineQuery,
      response: { 200: TimelinePage, ...problems(404) },
    },
    handler: (request) => {
      const actor = requireTenant(request.actor!);
      const asked = request.query.kinds?.split(',');
      if (asked?.some((k) => KINDS_NEEDING_INTERACTIONS.has(k))) requireScopes(actor, ['interactions:read']);
      const kinds =
        asked ??
        services.timeline.kinds.filter(
          (k) => actor.scopes.has('interactions:read') || !KINDS_NEEDING_INTERACTIONS.has(k),
        );
      return services.timeline.timeline(actor, request.params.id, {
        kinds,
        limit: request.query.limit,
        cursor: request.query.cursor,
      });
    },
  });
};
