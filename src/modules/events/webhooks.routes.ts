import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireTenant, type TenantActor } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { etagOf, IdParams, IfMatchHeaders } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  CreateWebhookBody,
  DeliveryPage,
  DeliveryParams,
  DeliverySchema,
  ListDeliveriesQuery,
  ListWebhooksQuery,
  UpdateWebhookBody,
  WebhookPage,
  WebhookSchema,
  WebhookWithSecretSchema,
} from './webhooks.schemas.ts';

const tags = ['webhooks'];
// a subscription receives the events, personal data included: managing one needs the scope that
// shows it (else a token without it could point a subscription at itself)
const config = { scopes: ['webhooks:manage', 'customers:pii'] as const };

export const webhooksRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { webhooks } = services;
  const actor = (request: { actor?: unknown }) => requireTenant(request.actor as TenantActor);

  app.post('/webhooks', {
    config,
    schema: {
      tags,
      summary: 'Subscribe a URL to events; the signing secret is shown in this response only',
      body: CreateWebhookBody,
      response: { 201: WebhookWithSecretSchema, ...problems(422) },
    },
    handler: async (request, reply) =>
      reply.code(201).send(await webhooks.create(actor(request), request.body)),
  });

  app.get('/webhooks', {
    config,
    schema: {
      tags,
      summary: 'List webhook subscriptions',
      querystring: ListWebhooksQuery,
      response: { 200: WebhookPage },
    },
    handler: (request) => webhooks.list(actor(request), request.query.limit, request.query.cursor),
  });

  app.get('/webhooks/:id', {
    config,
    schema: {
      tags,
      summary: 'Get a webhook subscription',
      params: IdParams,
      response: { 200: WebhookSchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const found = await webhooks.get(actor(request), request.params.id);
      return reply.header('etag', etagOf(found.version)).send(found);
    },
  });

  app.patch('/webhooks/:id', {
    config,
    schema: {
      tags,
      summary: 'Change the URL, the events, the description, or enable it again',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateWebhookBody,
      response: { 200: WebhookSchema, ...problems(404, 412, 422) },
    },
    handler: async (request, reply) => {
      const updated = await webhooks.update(
        actor(request),
        request.params.id,
        request.body,
        request.headers['if-match'],
      );
      return reply.header('etag', etagOf(updated.version)).send(updated);
    },
  });

  app.delete('/webhooks/:id', {
    config,
    schema: {
      tags,
      summary: 'Delete a subscription and its delivery log',
      params: IdParams,
      response: { 204: z.undefined(), ...problems(404) },
    },
    handler: async (request, reply) => {
      await webhooks.remove(actor(request), request.params.id);
      return reply.code(204).send();
    },
  });

  app.post('/webhooks/:id/rotate-secret', {
    config,
    schema: {
      tags,
      summary: 'Start a secret rotation: the new secret (shown once) and the old one both sign for 24 hours',
      params: IdParams,
      response: { 200: WebhookWithSecretSchema, ...problems(404) },
    },
    handler: (request) => webhooks.rotateSecret(actor(request), request.params.id),
  });

  app.get('/webhooks/:id/deliveries', {
    config,
    schema: {
      tags,
      summary: 'Deliveries, newest first: status, attempts, last response code, latency, next attempt',
      params: IdParams,
      querystring: ListDeliveriesQuery,
      response: { 200: DeliveryPage, ...problems(404) },
    },
    handler: (request) =>
      webhooks.deliveries(
        actor(request),
        request.params.id,
        request.query.status,
        request.query.limit,
        request.query.cursor,
      ),
  });

  app.post('/webhooks/:id/deliveries/:deliveryId/redeliver', {
    config,
    schema: {
      tags,
      summary: 'Send a delivery again now (same webhook-id)',
      description:
        'Its attempt count goes on. 409 `webhook_disabled` while the webhook is disabled, 409 `delivery_in_flight` while an attempt of it is under way.',
      params: DeliveryParams,
      response: { 202: DeliverySchema, ...problems(404, 409) },
    },
    handler: async (request, reply) =>
      reply
        .code(202)
        .send(await webhooks.redeliver(actor(request), request.params.id, request.params.deliveryId)),
  });

  app.post('/webhooks/:id/test', {
    config,
    schema: {
      tags,
      summary: 'Send a webhook.test event to this subscription only',
      params: IdParams,
      response: { 202: DeliverySchema, ...problems(404, 409) },
    },
    handler: async (request, reply) =>
      reply.code(202).send(await webhooks.test(actor(request), request.params.id)),
  });
};
