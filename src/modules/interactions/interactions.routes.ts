import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { sendStored } from '../../platform/http.ts';
import { problems } from '../../platform/openapi.ts';
import { etagOf, IdempotencyHeaders, IdParams, IfMatchHeaders } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  CreateInteractionBody,
  CustomerVoiceSchema,
  InteractionPage,
  InteractionSchema,
  ListInteractionsQuery,
  ReplyBody,
  TransitionBody,
  UpdateInteractionBody,
  VoiceInsightsQuery,
  VoiceInsightsSchema,
} from './interactions.schemas.ts';

export const interactionsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (
  app,
  { services },
) => {
  const { interactions } = services;

  app.post('/interactions', {
    config: { scopes: ['interactions:write'] },
    schema: {
      tags: ['interactions'],
      summary: 'Record an interaction (an inbound complaint, claim, suggestion or inquiry opens a case)',
      description: 'With an `Idempotency-Key`, a retry replays the first response (keys are kept 24 h).',
      headers: IdempotencyHeaders,
      body: CreateInteractionBody,
      response: { 201: InteractionSchema, ...problems(409, 422) },
    },
    handler: async (request, reply) =>
      sendStored(
        reply,
        await interactions.create(
          requireTenant(request.actor!),
          request.body,
          request.headers['idempotency-key'],
        ),
      ),
  });

  app.get('/interactions', {
    config: { scopes: ['interactions:read'] },
    schema: {
      tags: ['interactions'],
      summary: 'List interactions and cases',
      querystring: ListInteractionsQuery,
      response: { 200: InteractionPage, ...problems() },
    },
    handler: (request) => {
      const { limit, cursor, ...filter } = request.query;
      return interactions.list(requireTenant(request.actor!), filter, limit, cursor);
    },
  });

  app.get('/interactions/:id', {
    config: { scopes: ['interactions:read'] },
    schema: {
      tags: ['interactions'],
      summary: 'Get an interaction (and its case)',
      params: IdParams,
      response: { 200: InteractionSchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const found = await interactions.get(requireTenant(request.actor!), request.params.id);
      return reply.header('etag', etagOf(found.version)).send(found);
    },
  });

  app.patch('/interactions/:id', {
    config: { scopes: ['interactions:write'] },
    schema: {
      tags: ['interactions'],
      summary: 'Update an interaction’s subject, body, tags, sentiment, metadata or handler',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateInteractionBody,
      response: { 200: InteractionSchema, ...problems(404, 412, 422) },
    },
    handler: async (request, reply) => {
      const actor = requireTenant(request.actor!);
      const updated = await interactions.update(
        actor,
        request.params.id,
        request.body,
        request.headers['if-match'],
      );
      return reply.header('etag', etagOf(updated.version)).send(updated);
    },
  });

  app.post('/interactions/:id/replies', {
    config: { scopes: ['interactions:write'] },
    schema: {
      tags: ['interactions'],
      summary: 'Reply: records an outbound message; the first reply to a case sets its first-response time',
      description: 'With an `Idempotency-Key`, a retry replays the first response (keys are kept 24 h).',
      headers: IdempotencyHeaders,
      params: IdParams,
      body: ReplyBody,
      response: { 201: InteractionSchema, ...problems(404, 409, 422) },
    },
    handler: async (request, reply) =>
      sendStored(
        reply,
        await interactions.reply(
          requireTenant(request.actor!),
          request.params.id,
          request.body,
          request.headers['idempotency-key'],
        ),
      ),
  });

  app.post('/interactions/:id/transitions', {
    config: { scopes: ['interactions:write'] },
    schema: {
      tags: ['interactions'],
      summary: 'Move a case: in_progress, resolved (with its resolution), closed or reopened',
      params: IdParams,
      body: TransitionBody,
      response: { 200: InteractionSchema, ...problems(404, 409) },
    },
    handler: (request) =>
      interactions.transition(requireTenant(request.actor!), request.params.id, request.body),
  });

  app.get('/customers/:id/voice', {
    config: { scopes: ['interactions:read'] },
    schema: {
      tags: ['interactions'],
      summary: 'A customer’s open cases and last interaction time',
      params: IdParams,
      response: { 200: CustomerVoiceSchema, ...problems(404) },
    },
    handler: async (request) => {
      const [voice] = await interactions.voiceOf(requireTenant(request.actor!), [request.params.id], true);
      return voice!;
    },
  });

  app.get('/insights/voice', {
    config: { scopes: ['interactions:read'] },
    schema: {
      tags: ['interactions'],
      summary:
        'Cases by type, channel and month; answers within SLA; median response and resolution times; backlog',
      querystring: VoiceInsightsQuery,
      response: { 200: VoiceInsightsSchema, ...problems() },
    },
    handler: (request) =>
      interactions.insights(requireTenant(request.actor!), request.query.from, request.query.to),
  });
};
