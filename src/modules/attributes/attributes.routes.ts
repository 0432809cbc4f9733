import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { etagOf, IdParams, IfMatchHeaders } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  AttributePage,
  AttributeSchema,
  CreateAttributeBody,
  ListAttributesQuery,
  UpdateAttributeBody,
} from './attributes.schemas.ts';

export const attributesRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { attributes } = services;

  app.post('/attributes', {
    config: { scopes: ['admin'] },
    schema: {
      tags: ['attributes'],
      summary: 'Define a custom attribute',
      body: CreateAttributeBody,
      response: { 201: AttributeSchema, ...problems(409) },
    },
    handler: async (request, reply) => {
      const created = await attributes.create(requireTenant(request.actor!), request.body);
      return reply.code(201).header('etag', etagOf(created.version)).send(created);
    },
  });

  app.get('/attributes', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['attributes'],
      summary: 'List attribute definitions',
      querystring: ListAttributesQuery,
      response: { 200: AttributePage, ...problems() },
    },
    handler: (request) =>
      attributes.list(requireTenant(request.actor!), request.query.limit, request.query.cursor),
  });

  app.get('/attributes/:id', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['attributes'],
      summary: 'Get an attribute definition (with ETag)',
      params: IdParams,
      response: { 200: AttributeSchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const attribute = await attributes.get(requireTenant(request.actor!), request.params.id);
      return reply.header('etag', etagOf(attribute.version)).send(attribute);
    },
  });

  app.patch('/attributes/:id', {
    config: { scopes: ['admin'] },
    schema: {
      tags: ['attributes'],
      summary: 'Change an attribute definition’s label, description or enum values (If-Match)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateAttributeBody,
      response: { 200: AttributeSchema, ...problems(404, 409, 412) },
    },
    handler: async (request, reply) => {
      const attribute = await attributes.update(
        requireTenant(request.actor!),
        request.params.id,
        request.body,
        request.headers['if-match'],
      );
      return reply.header('etag', etagOf(attribute.version)).send(attribute);
    },
  });

  app.delete('/attributes/:id', {
    config: { scopes: ['admin'] },
    schema: {
      tags: ['attributes'],
      summary: 'Delete an attribute definition no customer uses (If-Match)',
      params: IdParams,
      headers: IfMatchHeaders,
      response: { 204: z.undefined().describe('Deleted'), ...problems(404, 409, 412) },
    },
    handler: async (request, reply) => {
      await attributes.remove(requireTenant(request.actor!), request.params.id, request.headers['if-match']);
      return reply.code(204).send();
    },
  });
};
