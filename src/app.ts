import { randomUUID } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { IResolvers, MercuriusLoaders } from 'mercurius';
import { type DestinationStream, stdSerializers } from 'pino';
import { type Config, isProduction, webhookOptions } from './config.ts';
import { webhooksDocument } from './modules/events/webhooks.document.ts';
import { modules } from './modules/index.ts';
import { auditedOf } from './modules/privacy/audit.service.ts';
import { CRONTAB, createServices, listenAll, type Services, tasksOf } from './modules/services.ts';
import { createVerifier, type Verifier } from './platform/auth.ts';
import { type Clock, systemClock } from './platform/clock.ts';
import { type Database, loggableError } from './platform/db.ts';
import { AppError } from './platform/errors.ts';
import { registerGraphql } from './platform/graphql.ts';
import { httpPlatform, refuseAfterRateLimit } from './platform/http.ts';
import { Jobs } from './platform/jobs.ts';
import { registerOpenApi } from './platform/openapi.ts';
import { registerMetrics, registerOperations } from './platform/operations.ts';
import { Cursors } from './platform/pagination.ts';

export type AppDeps = {
  config: Config;
  db: Database;
  clock?: Clock;
  /** Overrides the verifier built from the config (tests of JWKS). */
  verify?: Verifier;
  /** Background jobs: the owner's connection string; workers run here unless runWorkers is false. */
  jobs?: { connectionString: string; runWorkers: boolean; concurrency: number };
  /** Where logs go (default: stdout). */
  logStream?: DestinationStream;
  /** The Redis client for shared rate-limit counters (several instances). */
  redis?: Redis;
};

export type App = FastifyInstance & { services: Services; routeList: { method: string; url: string }[] };

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.email',
  '*.phone',
  '*.*.email',
  '*.*.phone',
];

/** Query parameters whose values are logged; any other value (email, phone, q, externalId, …) is not. */
const LOGGED_QUERY_PARAMS = new Set([
  'limit',
  'type',
  'status',
  'source',
  'kinds',
  'groupBy',
  'from',
  'to',
  'placedFrom',
  'placedTo',
  'horizonDays',
]);

/** A request's URL for the log: the path, and the query with the values of other parameters redacted. */
export function loggedUrl(url: string): string {
  const at = url.indexOf('?');
  if (at === -1) return url;
  const query = new URLSearchParams(url.slice(at + 1));
  const shown = [...query].map(
    ([k, v]) => `${k}=${LOGGED_QUERY_PARAMS.has(k) ? encodeURIComponent(v) : '[redacted]'}`,
  );
  return `${url.slice(0, at)}?${shown.join('&')}`;
}

function mergeResolvers(parts: IResolvers[]): IResolvers {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const part of parts) {
    for (const [type, fields] of Object.entries(part))
      merged[type] = { ...merged[type], ...(fields as object) };
  }
  return merged as IResolvers;
}

/** Builds the Fastify application; it never listens (main.ts does, tests use inject). */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, db } = deps;
  const clock = deps.clock ?? systemClock;
  const production = isProduction(config);
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      // search filters (an email, a phone, a name) travel in the query string: it is logged without them
      serializers: {
        // a failed query's parameters (emails, phones, names) never reach the log
        err: (error: Error) => stdSerializers.err(loggableError(error) as Error),
        req: (req: FastifyRequest) => ({
          method: req.method,
          url: loggedUrl(req.url),
          host: req.host,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort,
        }),
      },
      ...(deps.logStream ? { stream: deps.logStream } : {}),
      ...(!deps.logStream && process.stdout.isTTY && !production && config.NODE_ENV !== 'test'
        ? {
            transport: {
              target: 'pino-pretty',
              options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' },
            },
          }
        : {}),
    },
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    trustProxy: production,
  });

  const routeList: App['routeList'] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routeList.push({ method, url: route.url });
  });

  const cursorSecret = config.CURSOR_SECRET;
  if (!cursorSecret) throw new Error('CURSOR_SECRET is not set');
  let jobs: Jobs | undefined;
  const services = createServices({
    db,
    cursors: new Cursors(cursorSecret),
    clock,
    jobs: () => jobs,
    webhooks: webhookOptions(config),
    eventsSettleMs: config.EVENTS_SETTLE_MS,
    uploadIdleMs: config.UPLOAD_IDLE_MS,
  });
  if (deps.jobs) {
    jobs = await Jobs.start({
      ...deps.jobs,
      tasks: tasksOf(services),
      crontab: CRONTAB,
      log: (level, message) => app.log[level === 'error' ? 'error' : 'warn']({ jobs: true }, message),
      onTaskError: (task, error) => app.log.error({ jobs: true, task, err: error }, 'background task failed'),
    });
    app.addHook('onClose', async () => jobs?.stop());
    // database triggers notify when a pass is due (segments, webhooks, campaigns): it is enqueued at once
    const stopListening = await listenAll(services, (channel, error) =>
      app.log.warn({ err: error }, `${channel} listener: reconnecting`),
    );
    app.addHook('onClose', stopListening);
  }
  const verifySignature =
    deps.verify ??
    createVerifier({
      secret: config.AUTH_JWT_SECRET,
      jwksUrl: config.AUTH_JWKS_URL,
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      algorithms: config.AUTH_ALGORITHMS?.split(','),
      clockToleranceSeconds: config.AUTH_CLOCK_TOLERANCE_SECONDS,
    });
  // a well-signed token whose `tid` names no tenant here is refused as such (it met foreign keys
  // later: a 422 or a 500); tenants found are remembered, unknown ones looked up again
  const knownTenants = new LRUCache<string, true>({ max: 10_000, ttl: 300_000 });
  const verify: Verifier = async (token) => {
    const actor = await verifySignature(token);
    if (actor.tenantId && !knownTenants.has(actor.tenantId)) {
      if (!(await services.tenants.find(actor.tenantId)))
        throw new AppError('invalid_token', 'the token names a tenant (tid) that does not exist');
      knownTenants.set(actor.tenantId, true);
    }
    return actor;
  };

  await app.register(httpPlatform, { verify });
  // probes and scrapes are never rate-limited (this hook must run before the rate limiter's own)
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/health') || route.url === '/metrics')
      route.config = { ...route.config, rateLimit: false };
  });
  await app.register(rateLimit, {
    global: true,
    // a route hook, so after the authentication hooks: the limit is per client (token subject, a
    // refused token's too), else per address; and before the body is read
    hook: 'onRequest',
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    keyGenerator: (request) =>
      request.actor ? `${request.actor.tenantId ?? 'platform'}:${request.actor.sub}` : `ip:${request.ip}`,
    ...(deps.redis ? { redis: deps.redis, nameSpace: 'vinculo-rate-limit:' } : {}),
    errorResponseBuilder: (_request, context) =>
      new AppError(
        'rate_limited',
        `rate limit of ${context.max} requests exceeded; retry after ${context.after}`,
      ),
  });
  refuseAfterRateLimit(app);
  await registerOpenApi(app, { webhooks: webhooksDocument() });
  await registerMetrics(app);
  // zod validates and serializes our routes; Mercurius and the docs keep Fastify's JSON-schema compilers
  await app.register(async (zodScope) => {
    zodScope.setValidatorCompiler(validatorCompiler);
    zodScope.setSerializerCompiler(serializerCompiler);
    await registerOperations(zodScope, db);
    await zodScope.register(
      async (v1) => {
        for (const module of modules) await v1.register(module.routes, { services });
      },
      { prefix: '/v1' },
    );
  });

  // the audit log: recorded once the answer is sent (the request's own work is never held up by it),
  // except for the requests whose work records their entry itself (exports, erasures)
  app.addHook('onResponse', async (request, reply) => {
    if (request.audited) return;
    try {
      const recorded = await services.audit.record(auditedOf(request, reply.statusCode));
      if (!recorded && (reply.statusCode === 401 || reply.statusCode === 403))
        request.log.warn(
          { audit: 'auth_failure', status: reply.statusCode },
          'refused request without a known tenant',
        );
    } catch (error) {
      request.log.error({ err: error }, 'audit log write failed');
    }
  });

  await registerGraphql(app, {
    verify,
    schemaFiles: modules.flatMap((m) => (m.schema ? [m.schema] : [])),
    resolvers: mergeResolvers(modules.flatMap((m) => (m.resolvers ? [m.resolvers(services)] : []))),
    loaders: mergeResolvers(
      modules.flatMap((m) => (m.loaders ? [m.loaders(services) as IResolvers] : [])),
    ) as MercuriusLoaders,
    production,
    graphiql: config.GRAPHIQL ?? !production,
    maxDepth: config.GRAPHQL_MAX_DEPTH,
    maxCost: config.GRAPHQL_MAX_COST,
  });

  return Object.assign(app, { services, routeList }) as unknown as App;
}
