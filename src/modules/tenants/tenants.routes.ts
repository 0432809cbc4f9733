import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireTenant } from '../../platform/auth.ts';
import { problems } from '../../platform/openapi.ts';
import type { Services } from '../services.ts';
import {
  CreateTenantBody,
  ListTenantsQuery,
  SettingsSchema,
  TenantPage,
  TenantSchema,
  UpdateSettingsBody,
} from './tenants.schemas.ts';

export const tenantsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const platform = { scopes: ['platform:admin'], tenant: false } as const;

  app.post('/tenants', {
    config: platform,
    schema: {
      tags: ['tenants'],
      summary: 'Create a tenant (platform token)',
      body: CreateTenantBody,
      response: { 201: TenantSchema, ...problems(409) },
    },
    handler: async (request, reply) => reply.code(201).send(await services.tenants.create(request.body)),
  });

  app.get('/tenants', {
    config: platform,
    schema: {
      tags: ['tenants'],
      summary: 'List tenants (platform token)',
      querystring: ListTenantsQuery,
      response: { 200: TenantPage, ...problems() },
    },
    handler: (request) => services.tenants.list(request.actor!, request.query.limit, request.query.cursor),
  });

  app.get('/settings', {
    config: { scopes: ['admin'] },
    schema: {
      tags: ['tenants'],
      summary: 'Read the tenant’s settings',
      response: { 200: SettingsSchema, ...problems(404) },
    },
    handler: (request) => services.tenants.getSettings(requireTenant(request.actor!)),
  });

  app.patch('/settings', {
    config: { scopes: ['admin'] },
    schema: {
      tags: ['tenants'],
      summary: 'Change the tenant’s settings',
      description:
        'Each section merges into what is stored. The currency cannot change once orders are recorded (409 `currency_in_use`).',
      body: UpdateSettingsBody,
      response: { 200: SettingsSchema, ...problems(404, 409) },
    },
    handler: (request) => services.tenants.updateSettings(requireTenant(request.actor!), request.body),
  });
};
