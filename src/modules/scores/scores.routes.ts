import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { IdParams } from '../../platform/schemas.ts';
import { JobRunSchema } from '../jobs/jobs.schemas.ts';
import type { Services } from '../services.ts';
import {
  LifecycleInsightsSchema,
  LifecycleQuery,
  RfmInsightsSchema,
  SixRInsightsSchema,
} from './insights.schemas.ts';
import {
  CustomerScoresQuery,
  CustomerScoresSchema,
  RecomputeBody,
  ScoreModelSchema,
  TierChangeSchema,
} from './scores.schemas.ts';

export const scoresRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { scores, insights } = services;

  app.get('/customers/:id/scores', {
    config: { scopes: ['scores:read'] },
    schema: {
      tags: ['scores'],
      summary: 'The customer’s RFM, value score and tier, status, model outputs (CLV) and 6R, explained',
      params: IdParams,
      querystring: CustomerScoresQuery,
      response: { 200: CustomerScoresSchema, ...problems(404) },
    },
    handler: (request) =>
      scores.customerScores(requireTenant(request.actor!), request.params.id, request.query.horizonDays),
  });

  app.get('/customers/:id/tier-history', {
    config: { scopes: ['scores:read'] },
    schema: {
      tags: ['scores'],
      summary: 'Every change of the customer’s tier, oldest first',
      params: IdParams,
      response: { 200: z.object({ data: z.array(TierChangeSchema) }), ...problems(404) },
    },
    handler: async (request) => ({
      data: await scores.tierHistory(requireTenant(request.actor!), request.params.id),
    }),
  });

  app.get('/scores/model', {
    config: { scopes: ['scores:read'] },
    schema: {
      tags: ['scores'],
      summary: 'The tenant’s fitted BG/NBD and Gamma-Gamma models',
      response: { 200: ScoreModelSchema },
    },
    handler: (request) => scores.model(requireTenant(request.actor!)),
  });

  app.post('/scores/recompute', {
    // documented as the object; an empty body is accepted too
    config: { scopes: ['admin'], documentedBody: RecomputeBody },
    schema: {
      tags: ['scores'],
      summary:
        'Start a full recompute (refit, quintiles, percentiles, every customer); follow it at /v1/jobs/:id',
      body: RecomputeBody.nullish(),
      response: { 202: JobRunSchema, ...problems(503) },
    },
    handler: async (request, reply) =>
      reply
        .code(202)
        .send(
          await scores.requestRecompute(
            requireTenant(request.actor!),
            request.body?.refit ?? true,
            request.body?.rebuild ?? false,
          ),
        ),
  });

  app.get('/insights/rfm', {
    config: { scopes: ['scores:read'] },
    schema: {
      tags: ['insights'],
      summary: 'The 5 × 5 recency × frequency grid and the named RFM cells',
      response: { 200: RfmInsightsSchema },
    },
    handler: (request) => insights.rfm(requireTenant(request.actor!)),
  });

  app.get('/insights/lifecycle', {
    config: { scopes: ['scores:read'] },
    schema: {
      tags: ['insights'],
      summary: 'Customers per status and phase, and the flows between them in a period',
      querystring: LifecycleQuery,
      response: { 200: LifecycleInsightsSchema, ...problems(400) },
    },
    handler: (request) => insights.lifecycle(requireTenant(request.actor!), request.query),
  });

  app.get('/insights/6r', {
    config: { scopes: ['scores:read'] },
    schema: {
      tags: ['insights'],
      summary: 'The tenant’s 6R scorecard',
      response: { 200: SixRInsightsSchema },
    },
    handler: (request) => insights.sixR(requireTenant(request.actor!)),
  });
};
