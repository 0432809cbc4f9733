import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { IdParams } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import { JobRunSchema } from './jobs.schemas.ts';

export const jobsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get('/jobs/:id', {
    config: { scopes: [] },
    schema: {
      tags: ['jobs'],
      summary: 'Follow a background job: status, progress, result',
      description:
        'Jobs started by the API (e.g. `POST /v1/scores/recompute`); each kind needs the scope of what it computes (`scores:read`).',
      params: IdParams,
      response: { 200: JobRunSchema, ...problems(404) },
    },
    handler: (request) => services.jobRuns.get(requireTenant(request.actor!), request.params.id),
  });
};
