import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireTenant, type TenantActor } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import { etagOf, IdParams, IfMatchHeaders } from '../../platform/schemas.ts';
import { canSeePii } from '../customers/customers.fields.ts';
import { JobRunSchema } from '../jobs/jobs.schemas.ts';
import type { Services } from '../services.ts';
import {
  CreateSegmentBody,
  CustomerSegmentList,
  HistoryPage,
  HistoryQuery,
  ListSegmentsQuery,
  type Member,
  MemberPage,
  MembersBody,
  MembersChangedSchema,
  MembersQuery,
  PreviewBody,
  PreviewSchema,
  SegmentPage,
  SegmentReadPage,
  SegmentSchema,
  UpdateSegmentBody,
} from './segments.schemas.ts';
import type { ExportFormat, SegmentsService } from './segments.service.ts';

const tags = ['segments'];

/** The export format a request asks for with Accept, if any. */
function exportFormat(accept: string | undefined): ExportFormat | undefined {
  if (!accept) return undefined;
  if (accept.includes('text/csv')) return 'csv';
  if (accept.includes('application/x-ndjson')) return 'ndjson';
  return undefined;
}

function exportStream(
  segments: SegmentsService,
  actor: TenantActor,
  id: string,
  format: ExportFormat,
): Readable {
  const members = segments.export(actor, id, format);
  if (format === 'ndjson') {
    return Readable.from(
      (async function* () {
        for await (const member of members) yield `${JSON.stringify(member)}\n`;
      })(),
    );
  }
  const pii = canSeePii(actor);
  const columns = [
    'id',
    'externalId',
    'firstName',
    'lastName',
    ...(pii ? ['email', 'phone', 'birthDate', 'city', 'country'] : []),
    'locale',
    'status',
    'lifecyclePhase',
    'tags',
    'enteredAt',
  ];
  const row = ({ customer: c, enteredAt }: Member) => ({
    ...c,
    city: c.address?.city,
    country: c.address?.country,
    tags: c.tags.join(';'),
    enteredAt,
  });
  return Readable.from(
    (async function* () {
      for await (const member of members) yield row(member);
    })(),
  ).pipe(stringify({ header: true, columns }));
}

export const segmentsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const { segments } = services;
  const actor = (request: { actor?: unknown }) => requireTenant(request.actor as TenantActor);

  app.get('/segments/schema', {
    config: { scopes: ['segments:read'] },
    schema: {
      tags,
      summary: 'The segment language as a JSON Schema, with this tenant’s custom attributes',
      response: { 200: z.record(z.string(), z.unknown()).describe('A JSON Schema (draft 2020-12)') },
    },
    handler: (request) => segments.schema(actor(request)),
  });

  app.post('/segments/preview', {
    config: { scopes: ['segments:write'] },
    schema: {
      tags,
      summary: 'Count and sample the customers a definition selects (admin: the SQL and its plan too)',
      body: PreviewBody,
      response: { 200: PreviewSchema, ...problems(400) },
    },
    handler: (request) => segments.preview(actor(request), request.body.definition, request.body.sampleSize),
  });

  app.post('/segments', {
    config: { scopes: ['segments:write'] },
    schema: {
      tags,
      summary: 'Create a segment (a dynamic one is built before the response)',
      body: CreateSegmentBody,
      response: { 201: SegmentSchema, ...problems(400, 409) },
    },
    handler: async (request, reply) => {
      const created = await segments.create(actor(request), request.body);
      return reply.code(201).header('etag', etagOf(created.version)).send(created);
    },
  });

  app.get('/segments', {
    config: { scopes: ['segments:read'] },
    schema: {
      tags,
      summary: 'List segments (a partner token: only its own)',
      querystring: ListSegmentsQuery,
      response: { 200: SegmentPage, ...problems() },
    },
    handler: (request) => segments.list(actor(request), request.query.limit, request.query.cursor),
  });

  app.get('/segments/:id', {
    config: { scopes: ['segments:read'] },
    schema: {
      tags,
      summary: 'Get a segment with its member count and last refresh',
      params: IdParams,
      response: { 200: SegmentSchema, ...problems(404) },
    },
    handler: async (request, reply) => {
      const found = await segments.get(actor(request), request.params.id);
      return reply.header('etag', etagOf(found.version)).send(found);
    },
  });

  app.patch('/segments/:id', {
    config: { scopes: ['segments:write'] },
    schema: {
      tags,
      summary: 'Update a segment (a new definition recomputes its members)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateSegmentBody,
      response: { 200: SegmentSchema, ...problems(400, 404, 409, 412) },
    },
    handler: async (request, reply) => {
      const updated = await segments.update(
        actor(request),
        request.params.id,
        request.body,
        request.headers['if-match'],
      );
      return reply.header('etag', etagOf(updated.version)).send(updated);
    },
  });

  app.delete('/segments/:id', {
    config: { scopes: ['segments:write'] },
    schema: {
      tags,
      summary: 'Delete a segment no other segment refers to',
      params: IdParams,
      response: { 204: z.undefined().describe('Deleted'), ...problems(404, 409) },
    },
    handler: async (request, reply) => {
      await segments.remove(actor(request), request.params.id);
      return reply.code(204).send();
    },
  });

  app.get('/segments/:id/members', {
    config: { scopes: ['segments:read'] },
    schema: {
      tags,
      summary:
        'Members, cursor-paginated; with Accept: text/csv or application/x-ndjson the whole membership streams as an export',
      params: IdParams,
      querystring: MembersQuery,
      response: { 200: MemberPage, ...problems(404) },
    },
    handler: async (request, reply) => {
      const format = exportFormat(request.headers.accept);
      if (!format)
        return segments.members(actor(request), request.params.id, request.query.limit, request.query.cursor);
      // the segment is checked (404) before the stream starts
      await segments.get(actor(request), request.params.id);
      return (
        reply
          .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
          .header('content-disposition', `attachment; filename="segment-${request.params.id}.${format}"`)
          // a stream is sent as it is (the JSON response schema does not apply)
          .send(exportStream(segments, actor(request), request.params.id, format) as never)
      );
    },
  });

  for (const [method, add] of [
    ['post', true],
    ['delete', false],
  ] as const) {
    app[method]('/segments/:id/members', {
      config: { scopes: ['segments:write'] },
      schema: {
        tags,
        summary: add ? 'Add customers to a static segment' : 'Remove customers from a static segment',
        params: IdParams,
        body: MembersBody,
        response: { 200: MembersChangedSchema, ...problems(400, 404, 409, 422) },
      },
      handler: (request) =>
        segments.changeMembers(actor(request), request.params.id, request.body.customerIds, add),
    });
  }

  app.get('/segments/:id/history', {
    config: { scopes: ['segments:read'] },
    schema: {
      tags,
      summary: 'Every entry and exit, newest first',
      params: IdParams,
      querystring: HistoryQuery,
      response: { 200: HistoryPage, ...problems(404) },
    },
    handler: (request) =>
      segments.history(actor(request), request.params.id, request.query.limit, request.query.cursor),
  });

  app.post('/segments/:id/refresh', {
    config: { scopes: ['segments:write'] },
    schema: {
      tags,
      summary: 'Start a full refresh of the segment; follow it at /v1/jobs/:id',
      params: IdParams,
      response: { 202: JobRunSchema, ...problems(404, 503) },
    },
    handler: async (request, reply) =>
      reply.code(202).send(await segments.requestRefresh(actor(request), request.params.id)),
  });

  app.get('/segments/:id/reads', {
    config: { scopes: ['admin'] },
    schema: {
      tags,
      summary: 'Partner reads of the members: who, how many rows, when (newest first)',
      params: IdParams,
      querystring: HistoryQuery,
      response: { 200: SegmentReadPage, ...problems(404) },
    },
    handler: (request) =>
      segments.reads(actor(request), request.params.id, request.query.limit, request.query.cursor),
  });

  app.get('/customers/:id/segments', {
    config: { scopes: ['segments:read'] },
    schema: {
      tags,
      summary: 'The segments a customer is in',
      params: IdParams,
      response: { 200: CustomerSegmentList, ...problems(404) },
    },
    handler: async (request) => ({ data: await segments.segmentsOf(actor(request), request.params.id) }),
  });
};
