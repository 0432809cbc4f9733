import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { IdParams } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import { CustomerExportSchema } from './privacy.schemas.ts';

export const privacyRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get('/customers/:id/export', {
    config: { scopes: ['privacy:manage'] },
    schema: {
      tags: ['privacy'],
      summary: 'Everything held about the customer, as one JSON document (GDPR access and portability)',
      params: IdParams,
      response: { 200: CustomerExportSchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const document = await services.privacy.export(requireTenant(request.actor!), request.params.id);
      return reply
        .header('content-disposition', `attachment; filename="customer-${request.params.id}.json"`)
        .header('cache-control', 'no-store')
        .send(document);
    },
  });
};
