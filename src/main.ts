import closeWithGrace from 'close-with-grace';
import { Redis } from 'ioredis';
import { buildApp } from './app.ts';
import { ConfigError, isProduction, loadConfig } from './config.ts';
import { mintToken, TENANT_SCOPES } from './platform/auth.ts';
import { openRuntime } from './platform/runtime.ts';

async function main(): Promise<void> {
  const base = loadConfig(process.env);
  const runtime = await openRuntime(base, (line) => console.log(line));
  const { config } = runtime;
  // several instances share rate-limit counters through Redis; one instance keeps them in memory
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, { connectTimeout: 500, maxRetriesPerRequest: 1 })
    : undefined;
  const app = await buildApp({
    config,
    db: runtime.db,
    redis,
    jobs: {
      connectionString: runtime.ownerUrl,
      runWorkers: config.RUN_WORKERS,
      concurrency: config.JOBS_CONCURRENCY,
    },
  });
  const tenant = await app.services.tenants.ensure(config.DEFAULT_TENANT_SLUG, 'Default tenant');

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    await app.close(); // stops accepting, lets in-flight requests finish
    await runtime.close(); // closes the pool, stops the embedded server
    redis?.disconnect();
  });

  await app.listen({ port: config.PORT, host: config.HOST });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
  const url = config.PUBLIC_URL ?? `http://${host}:${port}`;
  const lines = [
    '',
    `Vínculo is ready${runtime.embedded ? ' (embedded PostgreSQL)' : ''}`,
    `  API       ${url}/v1`,
    `  Docs      ${url}/docs`,
    ...((config.GRAPHIQL ?? !isProduction(config)) ? [`  GraphiQL  ${url}/graphiql`] : []),
    `  Tenant    ${tenant.slug} (${tenant.id})`,
  ];
  if (!isProduction(config) && config.AUTH_JWT_SECRET) {
    const token = await mintToken({
      secret: config.AUTH_JWT_SECRET,
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      sub: 'dev',
      tenantId: tenant.id,
      scopes: TENANT_SCOPES,
      expiresIn: '12h',
    });
    lines.push(
      `  Token     ${token}`,
      '',
      '  (a development token for the default tenant with every scope, valid 12 h)',
    );
  }
  console.log(lines.join('\n'));
}

main().catch((error: unknown) => {
  console.error(
    error instanceof ConfigError
      ? error.message
      : `vinculo failed to start: ${(error as Error)?.message ?? error}`,
  );
  process.exit(1);
});
