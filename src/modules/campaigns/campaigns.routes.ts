import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant, type TenantActor } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { etagOf, IdParams, IfMatchHeaders } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  ActionParams,
  CampaignPage,
  CampaignSchema,
  CreateCampaignBody,
  ListCampaignsQuery,
  ListMessagesQuery,
  MessageEventsBody,
  MessageEventsResult,
  MessagePage,
  PreviewBody,
  RenderedSchema,
  ReportSchema,
  UpdateCampaignBody,
} from './campaigns.schemas.ts';

const tags = ['campaigns'];
const read = { scopes: ['campaigns:read'] as const };
const write = { scopes: ['campaigns:write'] as const };

export const campaignsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { campaigns } = services;
  const actor = (request: { actor?: unknown }) => requireTenant(request.actor as TenantActor);

  app.post('/campaigns', {
    config: write,
    schema: {
      tags,
      summary: 'Create a campaign (a draft)',
      body: CreateCampaignBody,
      response: { 201: CampaignSchema, ...problems(400) },
    },
    handler: async (request, reply) => {
      const created = await campaigns.create(actor(request), request.body);
      return reply.code(201).header('etag', etagOf(created.version)).send(created);
    },
  });

  app.get('/campaigns', {
    config: read,
    schema: {
      tags,
      summary: 'List campaigns',
      querystring: ListCampaignsQuery,
      response: { 200: CampaignPage },
    },
    handler: (request) =>
      campaigns.list(actor(request), request.query.status, request.query.limit, request.query.cursor),
  });

  app.get('/campaigns/:id', {
    config: read,
    schema: {
      tags,
      summary: 'Get a campaign',
      params: IdParams,
      response: { 200: CampaignSchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const found = await campaigns.get(actor(request), request.params.id);
      return reply.header('etag', etagOf(found.version)).send(found);
    },
  });

  app.patch('/campaigns/:id', {
    config: write,
    schema: {
      tags,
      summary: 'Change a campaign (not once completed or archived)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateCampaignBody,
      response: { 200: CampaignSchema, ...problems(400, 404, 409, 412) },
    },
    handler: async (request, reply) => {
      const updated = await campaigns.update(
        actor(request),
        request.params.id,
        request.body,
        request.headers['if-match'],
      );
      return reply.header('etag', etagOf(updated.version)).send(updated);
    },
  });

  app.post('/campaigns/:id/:action', {
    config: write,
    schema: {
      tags,
      summary: 'launch, pause, resume, complete or archive (an illegal transition is a 409)',
      params: ActionParams,
      response: { 200: CampaignSchema, ...problems(404, 409) },
    },
    handler: (request) => campaigns.act(actor(request), request.params.id, request.params.action),
  });

  app.post('/campaigns/:id/preview', {
    config: read,
    schema: {
      tags,
      summary: 'What this customer would get: the decision and the rendered message',
      params: IdParams,
      body: PreviewBody,
      response: { 200: RenderedSchema, ...problems(404) },
    },
    handler: (request) => campaigns.preview(actor(request), request.params.id, request.body.customerId),
  });

  app.get('/campaigns/:id/messages', {
    config: read,
    schema: {
      tags,
      summary: 'Every decision and message, newest first',
      params: IdParams,
      querystring: ListMessagesQuery,
      response: { 200: MessagePage, ...problems(404) },
    },
    handler: (request) =>
      campaigns.messages(
        actor(request),
        request.params.id,
        request.query.status,
        request.query.limit,
        request.query.cursor,
      ),
  });

  app.get('/campaigns/:id/report', {
    config: read,
    schema: {
      tags,
      summary: 'Funnel, conversions, revenue, and lift over the holdout with its 95 % interval',
      params: IdParams,
      response: { 200: ReportSchema, ...problems(404) },
    },
    handler: (request) => campaigns.report(actor(request), request.params.id),
  });

  app.post('/message-events', {
    config: write,
    schema: {
      tags,
      summary: 'The sending system reports what happened to messages (batch, one result per item)',
      body: MessageEventsBody,
      response: { 200: MessageEventsResult, ...problems(400) },
    },
    handler: (request) => campaigns.messageEvents(actor(request), request.body.items),
  });
};
