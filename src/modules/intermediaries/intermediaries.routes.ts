import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { etagOf, IdParams, IfMatchHeaders } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  CreateIntermediaryBody,
  IntermediaryPage,
  IntermediarySchema,
  ListIntermediariesQuery,
  UpdateIntermediaryBody,
} from './intermediaries.schemas.ts';

export const intermediariesRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (
  app,
  { services },
) => {
  const { intermediaries } = services;

  app.post('/intermediaries', {
    config: { scopes: ['customers:write'] },
    schema: {
      tags: ['intermediaries'],
      summary: 'Create an intermediary',
      body: CreateIntermediaryBody,
      response: { 201: IntermediarySchema, ...problems(409) },
    },
    handler: async (request, reply) => {
      const created = await intermediaries.create(requireTenant(request.actor!), request.body);
      return reply.code(201).header('etag', etagOf(created.version)).send(created);
    },
  });

  app.get('/intermediaries', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['intermediaries'],
      summary: 'List intermediaries',
      querystring: ListIntermediariesQuery,
      response: { 200: IntermediaryPage, ...problems() },
    },
    handler: (request) => {
      const { limit, cursor, ...filter } = request.query;
      return intermediaries.list(requireTenant(request.actor!), filter, limit, cursor);
    },
  });

  app.get('/intermediaries/:id', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['intermediaries'],
      summary: 'Get an intermediary',
      params: IdParams,
      response: { 200: IntermediarySchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const found = await intermediaries.get(requireTenant(request.actor!), request.params.id);
      return reply.header('etag', etagOf(found.version)).send(found);
    },
  });

  app.patch('/intermediaries/:id', {
    config: { scopes: ['customers:write'] },
    schema: {
      tags: ['intermediaries'],
      summary: 'Update an intermediary',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateIntermediaryBody,
      response: { 200: IntermediarySchema, ...problems(404, 409, 412) },
    },
    handler: async (request, reply) => {
      const actor = requireTenant(request.actor!);
      const updated = await intermediaries.update(
        actor,
        request.params.id,
        request.body,
        request.headers['if-match'],
      );
      return reply.header('etag', etagOf(updated.version)).send(updated);
    },
  });
};
