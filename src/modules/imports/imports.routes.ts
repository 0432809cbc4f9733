import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireScopes, requireTenant } from '../../platform/auth.ts';
import { AppError } from '../../platform/errors.ts';
import { problems } from '../../platform/openapi.ts';
import { IdParams } from '../../platform/schemas.ts';
import type { Services } from '../services.ts';
import {
  CreateImportQuery,
  ImportErrorPage,
  ImportSchema,
  ListImportErrorsQuery,
} from './imports.schemas.ts';

const FORMATS = { 'text/csv': 'csv', 'application/x-ndjson': 'ndjson' } as const;

export const importsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { imports } = services;
  // the body is handed over as a stream, of any size: the service stores it chunk by chunk
  app.addContentTypeParser(Object.keys(FORMATS), (_request, payload, done) => done(null, payload));

  app.post('/imports', {
    config: { scopes: [] },
    schema: {
      tags: ['imports'],
      summary: 'Upload a CSV or NDJSON file of customers or orders; it is processed in the background',
      description:
        'Send the file, in UTF-8, as the body with `Content-Type: text/csv` (a header row; nested fields by dotted names such as `address.city`, `customer.email`; `items` as JSON) or `application/x-ndjson` (one JSON body of POST /v1/customers or /v1/orders per line). Needs `customers:write` for customers and `orders:write` for orders. Answers 202 with the import; follow it at /v1/imports/{id}.',
      querystring: CreateImportQuery,
      response: { 202: ImportSchema, ...problems(408, 409, 413, 415, 503) },
    },
    handler: async (request, reply) => {
      const actor = requireTenant(request.actor!);
      const { type } = request.query;
      requireScopes(actor, [type === 'orders' ? 'orders:write' : 'customers:write']);
      const mime = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      // another type that has a parser (application/json) arrives parsed, not as a file
      const format = Object.hasOwn(FORMATS, mime) ? FORMATS[mime as keyof typeof FORMATS] : undefined;
      if (!format)
        throw new AppError('unsupported_media_type', 'send the file as text/csv or application/x-ndjson');
      // files are read as UTF-8 (ASCII is UTF-8): another declared charset is refused, not misread
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
      if (charset && !['utf-8', 'utf8', 'us-ascii'].includes(charset.toLowerCase()))
        throw new AppError(
          'unsupported_media_type',
          `the file must be UTF-8 (charset=${charset} was declared): convert it, e.g. iconv -f ${charset} -t UTF-8`,
        );
      const created = await imports.upload(actor, type, format, request.body as Readable);
      return reply.code(202).header('location', `/v1/imports/${created.id}`).send(created);
    },
  });

  app.get('/imports/:id', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['imports'],
      summary: 'An import’s status and progress',
      params: IdParams,
      response: { 200: ImportSchema, ...problems(404) },
    },
    handler: (request) => imports.get(requireTenant(request.actor!), request.params.id),
  });

  app.get('/imports/:id/errors', {
    config: { scopes: ['customers:read'] },
    schema: {
      tags: ['imports'],
      summary: 'The rows an import refused, with their line numbers',
      params: IdParams,
      querystring: ListImportErrorsQuery,
      response: { 200: ImportErrorPage, ...problems(404) },
    },
    handler: (request) =>
      imports.errors(
        requireTenant(request.actor!),
        request.params.id,
        request.query.limit,
        request.query.cursor,
      ),
  });
};
