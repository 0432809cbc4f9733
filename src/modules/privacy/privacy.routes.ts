import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { IdParams } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import { AuditPage, ListAuditQuery } from './audit.schemas.ts';
import { auditedOf } from './audit.service.ts';
import { CustomerExportSchema, ErasureSchema } from './privacy.schemas.ts';

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
      const actor = requireTenant(request.actor!);
      // the entry is written before the document is sent (a failed export is logged after, as usual)
      const document = await services.privacy.export(actor, request.params.id, auditedOf(request, 200));
      request.audited = true;
      return reply
        .header('content-disposition', `attachment; filename="customer-${request.params.id}.json"`)
        .header('cache-control', 'no-store')
        .send(document);
    },
  });

  app.delete('/customers/:id', {
    config: { scopes: ['privacy:manage'] },
    schema: {
      tags: ['privacy'],
      summary: 'Erase the customer (GDPR erasure): personal data removed everywhere, orders kept without it',
      params: IdParams,
      response: { 200: ErasureSchema, ...problems(404) },
    },
    handler: async (request) => {
      const actor = requireTenant(request.actor!);
      // the entry is written in the erasure's transaction (a refused erasure is logged after, as usual)
      const erasure = await services.privacy.erase(actor, request.params.id, auditedOf(request, 200));
      request.audited = true;
      return erasure;
    },
  });

  app.get('/audit-log', {
    config: { scopes: ['admin'] },
    schema: {
      tags: ['privacy'],
      summary: 'The audit log, newest first: writes, partner reads, exports, erasures, refused requests',
      querystring: ListAuditQuery,
      response: { 200: AuditPage, ...problems() },
    },
    handler: (request) => services.audit.list(requireTenant(request.actor!), request.query),
  });
};
