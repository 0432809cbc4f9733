import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { ProblemSchema } from './problem.ts';

export const API_VERSION = '0.1.0';

/** The OpenAPI 3.1 document, generated from the routes' zod schemas; served at /docs. */
export async function registerOpenApi(
  app: FastifyInstance,
  extra: { webhooks?: Record<string, unknown> } = {},
): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      // OpenAPI 3.1's top-level webhooks: the requests Vínculo sends to subscribers
      ...(extra.webhooks ? { webhooks: extra.webhooks } : {}),
      info: {
        title: 'Vínculo API',
        version: API_VERSION,
        description:
          'Headless relationship-marketing API: customers, intermediaries, segments, interactions, scores and campaigns. Errors are RFC 9457 problem+json with a stable `code`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'tenants', description: 'Tenants (platform operator) and tenant settings' },
        { name: 'customers', description: 'Customers, real and potential' },
        { name: 'orders', description: 'Orders pushed by e-commerce platforms, and purchase aggregates' },
        {
          name: 'interactions',
          description: 'Interactions on every channel, cases with SLAs, the voice of the customer',
        },
        { name: 'feedback', description: 'Satisfaction: perception minus expectation, NPS, CSAT' },
        { name: 'events', description: 'The event stream (transactional outbox), for consumers that poll' },
        { name: 'imports', description: 'Bulk imports of customers and orders' },
        { name: 'intermediaries', description: 'Employees, prescribers, suppliers and distributors' },
        { name: 'attributes', description: 'Definitions of typed custom attributes' },
        { name: 'segments', description: 'Segments: the segment language, live membership, partners' },
        {
          name: 'webhooks',
          description: 'Signed webhook subscriptions (Standard Webhooks) and their deliveries',
        },
        { name: 'operations', description: 'Health and metrics' },
      ],
    },
    // only our zod-described routes are documented; Mercurius and the docs' own routes keep JSON schemas
    transform: (args) => {
      if (!isZodSchema(args.schema)) return { schema: { hide: true }, url: args.url };
      // a batch route validates each item on its own, so its body schema is loose: document the strict one
      const documented = args.route?.config?.documentedBody;
      return jsonSchemaTransform(
        documented ? { ...args, schema: { ...args.schema, body: documented } } : args,
      );
    },
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}

function isZodSchema(schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return false;
  const s = schema as Record<string, unknown>;
  const parts = [s.body, s.querystring, s.params, s.headers, ...Object.values((s.response as object) ?? {})];
  return parts.some((p) => p && typeof p === 'object' && '_zod' in p) || (!!s.tags && !parts.some(Boolean));
}

const describedProblem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/** The error responses a route documents, problem+json each. */
export function problems(
  ...statuses: (400 | 401 | 403 | 404 | 408 | 409 | 412 | 413 | 415 | 422 | 429 | 503)[]
) {
  const text: Record<number, string> = {
    400: 'Invalid request: `errors` lists each failing path',
    401: 'Missing or invalid bearer token',
    403: 'The token lacks a required scope',
    404: 'Not found in this tenant',
    408: 'The upload stopped sending data',
    409: 'Conflict with the current state',
    412: 'If-Match does not match the current ETag',
    413: 'Body too large',
    415: 'Unsupported content type',
    422: 'A reference points outside this tenant',
    429: 'Rate limit exceeded; see Retry-After',
    503: 'Unavailable: retry later',
  };
  const all = [400, 401, 403, 429, ...statuses] as const;
  return Object.fromEntries([...new Set(all)].map((s) => [s, describedProblem(text[s]!)])) as Record<
    number,
    ReturnType<typeof describedProblem>
  >;
}
