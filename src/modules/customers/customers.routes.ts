import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { sendStored } from '../../platform/http.ts';
import { problems } from '../../platform/openapi.ts';
import { etagOf, IdempotencyHeaders, IdParams, IfMatchHeaders } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  BatchUpsertBody,
  BatchUpsertBodyLoose,
  BatchUpsertResponse,
  ConsentHistoryResponse,
  CreateCustomerBody,
  CustomerPage,
  CustomerSchema,
  ListCustomersQuery,
  StatusHistoryResponse,
  UpdateCustomerBody,
} from './customers.schemas.ts';

export const customersRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { customers } = services;

  app.post('/customers', {
    config: { scopes: ['customers:write'] },
    schema: {
      tags: ['customers'],
      summary: 'Create a customer',
      description:
        'With an `Idempotency-Key`, a retry replays the first response (keys are kept 24 h). A key is bound to whether the caller sees personal data (`customers:pii`).',
      headers: IdempotencyHeaders,
      body: CreateCustomerBody,
      response: { 201: CustomerSchema, ...problems(409, 422) },
    },
    handler: async (request, reply) =>
      sendStored(
        reply,
        await customers.create(
          requireTenant(request.actor!),
          request.body,
          request.headers['idempotency-key'],
        ),
      ),
  });

  app.get('/customers', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['customers'],
      summary: 'List customers (cursor-paginated, oldest first)',
      querystring: ListCustomersQuery,
      response: { 200: CustomerPage, ...problems() },
    },
    handler: (request) => {
      const { limit, cursor, ...filter } = request.query;
      return customers.list(requireTenant(request.actor!), filter, limit, cursor);
    },
  });

  app.get('/customers/:id', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['customers'],
      summary: 'Get a customer (with ETag)',
      params: IdParams,
      response: { 200: CustomerSchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const customer = await customers.get(requireTenant(request.actor!), request.params.id);
      return reply.header('etag', etagOf(customer.version)).send(customer);
    },
  });

  app.patch('/customers/:id', {
    config: { scopes: ['customers:write'] },
    schema: {
      tags: ['customers'],
      summary: 'Update a customer (If-Match for optimistic concurrency)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateCustomerBody,
      response: { 200: CustomerSchema, ...problems(404, 409, 412, 422) },
    },
    handler: async (request, reply) => {
      const actor = requireTenant(request.actor!);
      const customer = await customers.update(
        actor,
        request.params.id,
        request.body,
        request.headers['if-match'],
      );
      return reply.header('etag', etagOf(customer.version)).send(customer);
    },
  });

  app.get('/customers/:id/status-history', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['customers'],
      summary: 'Every change of the customer’s status and lifecycle phase, oldest first',
      params: IdParams,
      response: { 200: StatusHistoryResponse, ...problems(404) },
    },
    handler: async (request) => ({
      data: await customers.statusHistory(requireTenant(request.actor!), request.params.id),
    }),
  });

  app.get('/customers/:id/consent-history', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['customers'],
      summary: 'Every consent given or withdrawn: channel, when, how and by which client, oldest first',
      params: IdParams,
      response: { 200: ConsentHistoryResponse, ...problems(404) },
    },
    handler: async (request) => ({
      data: await customers.consentHistory(requireTenant(request.actor!), request.params.id),
    }),
  });

  app.post('/customers/batch', {
    config: { scopes: ['customers:write'], documentedBody: BatchUpsertBody, checksItems: true },
    schema: {
      tags: ['customers'],
      summary: 'Create or update up to 1,000 customers, one result per item',
      body: BatchUpsertBodyLoose,
      response: { 200: BatchUpsertResponse, ...problems(413) },
    },
    handler: async (request) => {
      const results = await customers.batchUpsert(requireTenant(request.actor!), request.body.items, {
        nulFree: request.nulFreeBody,
      });
      const count = (s: string) => results.filter((r) => r.status === s).length;
      return {
        results,
        summary: { created: count('created'), updated: count('updated'), errors: count('error') },
      };
    },
  });
};
