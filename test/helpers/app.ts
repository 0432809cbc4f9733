import { randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { DestinationStream } from 'pino';
import { inject } from 'vitest';
import { type App, buildApp } from '../../src/app.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { mintToken, TENANT_SCOPES } from '../../src/platform/auth.ts';
import type { Clock } from '../../src/platform/clock.ts';
import { createPool, Database } from '../../src/platform/db.ts';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123';
export const TEST_CURSOR_SECRET = 'cursor-secret-cursor-secret-cursor-secret';
export const ISSUER = 'vinculo';
export const AUDIENCE = 'vinculo-api';

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    AUTH_JWT_SECRET: TEST_SECRET,
    CURSOR_SECRET: TEST_CURSOR_SECRET,
    DATABASE_URL: inject('ownerUrl'),
    RATE_LIMIT_MAX: '100000',
    // other test files' transactions on the same server hold the events feed back while they run
    EVENTS_SETTLE_MS: '15000',
    ...env,
  });
}

export type Tenant = { id: string; slug: string };

export type Client = {
  get: (url: string, headers?: Record<string, string>) => Promise<LightMyRequestResponse>;
  post: (url: string, body?: unknown, headers?: Record<string, string>) => Promise<LightMyRequestResponse>;
  patch: (url: string, body?: unknown, headers?: Record<string, string>) => Promise<LightMyRequestResponse>;
  delete: (url: string, headers?: Record<string, string>) => Promise<LightMyRequestResponse>;
  graphql: (
    query: string,
    variables?: Record<string, unknown>,
  ) => Promise<{ status: number; body: GraphqlBody }>;
};

export type GraphqlBody = {
  data?: Record<string, any> | null;
  errors?: { message: string; path?: string[]; extensions?: { code?: string; [k: string]: unknown } }[];
};

export type TestApp = {
  app: App;
  db: Database;
  /** A client sending this bearer token (or none). */
  as: (token?: string) => Client;
  token: (
    tenant: Tenant | null,
    scopes?: readonly string[],
    extra?: { segments?: string[]; expiresIn?: string },
  ) => Promise<string>;
  /** A fresh tenant and a client holding every tenant scope for it. */
  newTenant: () => Promise<Tenant & { client: Client; token: string }>;
  close: () => Promise<void>;
};

/** The real app on the test database, connected as the application role (RLS applies). */
export async function createTestApp(
  options: {
    env?: Record<string, string>;
    clock?: Clock;
    logStream?: DestinationStream;
    jobs?: boolean;
  } = {},
): Promise<TestApp> {
  const config = testConfig(options.env);
  const db = new Database(createPool(inject('appUrl'), 5));
  const app = await buildApp({
    config,
    db,
    clock: options.clock,
    logStream: options.logStream,
    jobs: options.jobs
      ? { connectionString: inject('ownerUrl'), runWorkers: true, concurrency: 2 }
      : undefined,
  });
  await app.ready();

  const send = async (token: string | undefined, opts: InjectOptions) =>
    app.inject({
      ...opts,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(opts.headers ?? {}) },
    });

  const as = (token?: string): Client => ({
    get: (url, headers) => send(token, { method: 'GET', url, headers }),
    post: (url, body, headers) => send(token, { method: 'POST', url, payload: body as never, headers }),
    patch: (url, body, headers) => send(token, { method: 'PATCH', url, payload: body as never, headers }),
    delete: (url, headers) => send(token, { method: 'DELETE', url, headers }),
    graphql: async (query, variables) => {
      const res = await send(token, { method: 'POST', url: '/graphql', payload: { query, variables } });
      return { status: res.statusCode, body: res.json() as GraphqlBody };
    },
  });

  const token: TestApp['token'] = (tenant, scopes = TENANT_SCOPES, extra = {}) =>
    mintToken({
      secret: TEST_SECRET,
      issuer: ISSUER,
      audience: AUDIENCE,
      sub: `test-${randomUUID().slice(0, 8)}`,
      tenantId: tenant?.id,
      scopes,
      segments: extra.segments,
      expiresIn: extra.expiresIn,
    });

  const newTenant = async () => {
    const slug = `t-${randomUUID().slice(0, 12)}`;
    const created = await app.services.tenants.create({
      name: `Tenant ${slug}`,
      slug,
      currency: 'EUR',
      timezone: 'Europe/Madrid',
    });
    const t = await token(created);
    return { id: created.id, slug, token: t, client: as(t) };
  };

  return {
    app,
    db,
    as,
    token,
    newTenant,
    close: async () => {
      await app.close();
      await db.close();
    },
  };
}
