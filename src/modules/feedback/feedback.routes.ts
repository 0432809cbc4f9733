import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { sendStored } from '../../platform/http.ts';
import { problems } from '../../platform/openapi.ts';
import { IdempotencyHeaders, IdParams } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  CreateFeedbackBody,
  FeedbackPage,
  FeedbackSchema,
  ListFeedbackQuery,
  SatisfactionQuery,
  SatisfactionSchema,
} from './feedback.schemas.ts';

export const feedbackRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { feedback } = services;

  app.post('/feedback', {
    config: { scopes: ['interactions:write'] },
    schema: {
      tags: ['feedback'],
      summary: 'Record satisfaction: expectation and perception (1–7), NPS, CSAT',
      description: 'With an `Idempotency-Key`, a retry replays the first response (keys are kept 24 h).',
      headers: IdempotencyHeaders,
      body: CreateFeedbackBody,
      response: { 201: FeedbackSchema, ...problems(409, 422) },
    },
    handler: async (request, reply) =>
      sendStored(
        reply,
        await feedback.create(
          requireTenant(request.actor!),
          request.body,
          request.headers['idempotency-key'],
        ),
      ),
  });

  app.get('/feedback', {
    config: { scopes: ['interactions:read'] },
    schema: {
      tags: ['feedback'],
      summary: 'List feedback',
      querystring: ListFeedbackQuery,
      response: { 200: FeedbackPage, ...problems() },
    },
    handler: (request) => {
      const { limit, cursor, ...filter } = request.query;
      return feedback.list(requireTenant(request.actor!), filter, limit, cursor);
    },
  });

  app.get('/feedback/:id', {
    config: { scopes: ['interactions:read'] },
    schema: {
      tags: ['feedback'],
      summary: 'Get feedback',
      params: IdParams,
      response: { 200: FeedbackSchema, ...problems(404) },
    },
    handler: (request) => feedback.get(requireTenant(request.actor!), request.params.id),
  });

  app.get('/insights/satisfaction', {
    config: { scopes: ['interactions:read'] },
    schema: {
      tags: ['feedback'],
      summary:
        'Satisfaction by dimension, month, channel or intermediary: expectation, perception, gap, NPS, CSAT',
      querystring: SatisfactionQuery,
      response: { 200: SatisfactionSchema, ...problems() },
    },
    handler: (request) =>
      feedback.satisfaction(
        requireTenant(request.actor!),
        request.query.groupBy,
        request.query.from,
        request.query.to,
      ),
  });
};
