import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { sendStored } from '../../platform/http.ts';
import { problems } from '../../platform/openapi.ts';
import { etagOf, IdempotencyHeaders, IdParams } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  CustomerOrdersQuery,
  ListOrdersQuery,
  OrderPage,
  OrderSchema,
  PurchasesSchema,
  RecordOrderBody,
  RecordOrderResponse,
  RecordOrdersBody,
  RecordOrdersBodyLoose,
  RecordOrdersResponse,
} from './orders.schemas.ts';

export const ordersRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { orders } = services;

  app.post('/orders', {
    config: { scopes: ['orders:write'] },
    schema: {
      tags: ['orders'],
      summary: 'Record an order (created, updated when newer, or unchanged)',
      description:
        'Deduplicated by (source, externalId): a newer `sourceUpdatedAt` updates the order, an older or equal one changes nothing and says so. With an `Idempotency-Key`, a retry replays the first response (keys are kept 24 h).',
      headers: IdempotencyHeaders,
      body: RecordOrderBody,
      response: { 200: RecordOrderResponse, 201: RecordOrderResponse, ...problems(409, 422) },
    },
    handler: async (request, reply) =>
      sendStored(
        reply,
        await orders.record(requireTenant(request.actor!), request.body, request.headers['idempotency-key']),
      ),
  });

  app.post('/orders/batch', {
    config: { scopes: ['orders:write'], documentedBody: RecordOrdersBody, checksItems: true },
    schema: {
      tags: ['orders'],
      summary: 'Record up to 1,000 orders, one result per item',
      headers: IdempotencyHeaders,
      body: RecordOrdersBodyLoose,
      response: { 200: RecordOrdersResponse, ...problems(409, 413, 422) },
    },
    handler: async (request, reply) =>
      sendStored(
        reply,
        await orders.recordMany(
          requireTenant(request.actor!),
          request.body.items,
          request.headers['idempotency-key'],
          { nulFree: request.nulFreeBody },
        ),
      ),
  });

  app.get('/orders', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['orders'],
      summary: 'List orders (cursor-paginated, oldest first)',
      querystring: ListOrdersQuery,
      response: { 200: OrderPage, ...problems(404) },
    },
    handler: (request) => {
      const { limit, cursor, ...filter } = request.query;
      return orders.list(requireTenant(request.actor!), filter, limit, cursor);
    },
  });

  app.get('/orders/:id', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['orders'],
      summary: 'Get an order',
      params: IdParams,
      response: { 200: OrderSchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const order = await orders.get(requireTenant(request.actor!), request.params.id);
      return reply.header('etag', etagOf(order.version)).send(order);
    },
  });

  app.get('/customers/:id/orders', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['orders'],
      summary: 'List a customer’s orders',
      params: IdParams,
      querystring: CustomerOrdersQuery,
      response: { 200: OrderPage, ...problems(404) },
    },
    handler: (request) => {
      const { limit, cursor, ...filter } = request.query;
      return orders.list(
        requireTenant(request.actor!),
        { ...filter, customerId: request.params.id },
        limit,
        cursor,
      );
    },
  });

  app.get('/customers/:id/purchases', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['orders'],
      summary: 'A customer’s purchase aggregates (orders, net revenue, items, payment punctuality)',
      params: IdParams,
      response: { 200: PurchasesSchema, ...problems(404) },
    },
    handler: async (request) => {
      const [purchases] = await orders.purchases(requireTenant(request.actor!), [request.params.id], true);
      return purchases!;
    },
  });
};
