import type { FastifyInstance } from 'fastify';
import metrics from 'fastify-metrics';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from './db.ts';
import { AppError } from './errors.ts';
import { ProblemSchema } from './problem.ts';

const Health = z.object({ status: z.enum(['ok']).describe('Always `ok` when this answers') });

/** Prometheus metrics at /metrics (request histograms per route, process metrics). */
export async function registerMetrics(app: FastifyInstance): Promise<void> {
  await app.register(metrics.default ?? metrics, {
    endpoint: '/metrics',
    // one app per process in production; tests build several, each starting from a clean registry
    clearRegisterOnInit: true,
    routeMetrics: { enabled: true, routeBlacklist: ['/metrics', '/health/live', '/health/ready'] },
  });
}

/** Liveness and readiness (the database answers). */
export async function registerOperations(app: FastifyInstance, db: Database): Promise<void> {
  const routes: FastifyPluginAsyncZod = async (scope) => {
    scope.get('/health/live', {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        security: [],
        response: { 200: Health },
      },
      handler: async () => ({ status: 'ok' as const }),
    });
    scope.get('/health/ready', {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the database answers',
        security: [],
        response: { 200: Health, 503: ProblemSchema.describe('The database does not answer') },
      },
      handler: async (request) => {
        try {
          await db.ping();
        } catch (error) {
          request.log.warn({ err: error }, 'readiness check failed');
          throw new AppError('service_unavailable', 'the database does not answer');
        }
        return { status: 'ok' as const };
      },
    });
  };
  await app.register(routes);
}
