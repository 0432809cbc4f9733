import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { IResolvers, MercuriusLoaders } from 'mercurius';
import { attributesResolvers } from './attributes/attributes.resolvers.ts';
import { attributesRoutes } from './attributes/attributes.routes.ts';
import { campaignsResolvers } from './campaigns/campaigns.resolvers.ts';
import { campaignsRoutes } from './campaigns/campaigns.routes.ts';
import { customersLoaders, customersResolvers } from './customers/customers.resolvers.ts';
import { customersRoutes } from './customers/customers.routes.ts';
import { timelineResolvers } from './customers/timeline.resolvers.ts';
import { timelineRoutes } from './customers/timeline.routes.ts';
import { eventsRoutes } from './events/events.routes.ts';
import { webhooksRoutes } from './events/webhooks.routes.ts';
import { feedbackResolvers } from './feedback/feedback.resolvers.ts';
import { feedbackRoutes } from './feedback/feedback.routes.ts';
import { importsRoutes } from './imports/imports.routes.ts';
import { interactionsLoaders, interactionsResolvers } from './interactions/interactions.resolvers.ts';
import { interactionsRoutes } from './interactions/interactions.routes.ts';
import { intermediariesResolvers } from './intermediaries/intermediaries.resolvers.ts';
import { intermediariesRoutes } from './intermediaries/intermediaries.routes.ts';
import { jobsRoutes } from './jobs/jobs.routes.ts';
import { ordersLoaders, ordersResolvers } from './orders/orders.resolvers.ts';
import { ordersRoutes } from './orders/orders.routes.ts';
import { privacyRoutes } from './privacy/privacy.routes.ts';
import { scoresLoaders, scoresResolvers } from './scores/scores.resolvers.ts';
import { scoresRoutes } from './scores/scores.routes.ts';
import { segmentsLoaders, segmentsResolvers } from './segments/segments.resolvers.ts';
import { segmentsRoutes } from './segments/segments.routes.ts';
import type { Services } from './services.ts';
import { tenantsResolvers } from './tenants/tenants.resolvers.ts';
import { tenantsRoutes } from './tenants/tenants.routes.ts';

export type Module = {
  name: string;
  /** REST routes, mounted under /v1 */
  routes: FastifyPluginAsyncZod<{ services: Services }>;
  /** schema/<name>.graphql */
  schema?: string;
  resolvers?: (services: Services) => IResolvers;
  loaders?: (services: Services) => MercuriusLoaders;
};

/** The explicit list of modules (no autoload: grep-able and typed). Order matters for the SDL only. */
export const modules: Module[] = [
  { name: 'tenants', routes: tenantsRoutes, schema: 'tenants', resolvers: tenantsResolvers },
  {
    name: 'intermediaries',
    routes: intermediariesRoutes,
    schema: 'intermediaries',
    resolvers: intermediariesResolvers,
  },
  { name: 'attributes', routes: attributesRoutes, schema: 'attributes', resolvers: attributesResolvers },
  {
    name: 'customers',
    routes: customersRoutes,
    schema: 'customers',
    resolvers: customersResolvers,
    loaders: customersLoaders,
  },
  {
    name: 'orders',
    routes: ordersRoutes,
    schema: 'orders',
    resolvers: ordersResolvers,
    loaders: ordersLoaders,
  },
  { name: 'imports', routes: importsRoutes },
  {
    name: 'interactions',
    routes: interactionsRoutes,
    schema: 'interactions',
    resolvers: interactionsResolvers,
    loaders: interactionsLoaders,
  },
  { name: 'feedback', routes: feedbackRoutes, schema: 'feedback', resolvers: feedbackResolvers },
  { name: 'events', routes: eventsRoutes },
  { name: 'webhooks', routes: webhooksRoutes },
  { name: 'jobs', routes: jobsRoutes },
  { name: 'privacy', routes: privacyRoutes },
  {
    name: 'scores',
    routes: scoresRoutes,
    schema: 'scores',
    resolvers: scoresResolvers,
    loaders: scoresLoaders,
  },
  {
    name: 'segments',
    routes: segmentsRoutes,
    schema: 'segments',
    resolvers: segmentsResolvers,
    loaders: segmentsLoaders,
  },
  { name: 'campaigns', routes: campaignsRoutes, schema: 'campaigns', resolvers: campaignsResolvers },
  { name: 'timeline', routes: timelineRoutes, schema: 'timeline', resolvers: timelineResolvers },
];
