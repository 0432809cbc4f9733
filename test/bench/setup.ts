import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { mintToken, TENANT_SCOPES } from '../../src/platform/auth.ts';
import { createPool, Database } from '../../src/platform/db.ts';
import { appUrlFrom, runMigrations, setAppRolePassword } from '../../src/platform/migrate.ts';
import { provisionTestDatabase } from '../helpers/database.ts';

export type BenchDatabase = {
  ownerUrl: string;
  appUrl: string;
  description: string;
  stop: () => Promise<void>;
};

/** The same database choice as the tests: DATABASE_URL, a container, or an embedded server. */
export async function benchDatabase(): Promise<BenchDatabase> {
  const database = await provisionTestDatabase();
  await runMigrations(database.ownerUrl);
  const password = 'vinculo-bench-app-password';
  await setAppRolePassword(database.ownerUrl, password);
  return { ...database, appUrl: appUrlFrom(database.ownerUrl, password) };
}

export const BENCH_SECRET = 'bench-secret-bench-secret-bench-secret-00';

/**
 * The full application on the bench database, as production runs it (the app role, RLS, no logs, no
 * rate limit in the way), with a fresh tenant and a token holding every tenant scope.
 */
export async function benchApp(database: BenchDatabase, name: string, env: Record<string, string> = {}) {
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'silent',
    AUTH_JWT_SECRET: BENCH_SECRET,
    CURSOR_SECRET: BENCH_SECRET,
    DATABASE_URL: database.ownerUrl,
    DATABASE_APP_URL: database.appUrl,
    RATE_LIMIT_MAX: '100000000',
    ...env,
  });
  const db = new Database(createPool(database.appUrl, 10));
  const app = await buildApp({ config, db });
  const tenant = await app.services.tenants.create({
    name,
    slug: `${name.toLowerCase().replaceAll(' ', '-')}-${Date.now()}`,
    currency: 'EUR',
    timezone: 'Europe/Madrid',
  });
  const token = await mintToken({
    secret: BENCH_SECRET,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    sub: 'bench',
    tenantId: tenant.id,
    scopes: TENANT_SCOPES,
  });
  const actor = { sub: 'bench', tenantId: tenant.id, scopes: new Set<string>(TENANT_SCOPES), segments: null };
  return {
    app,
    tenant,
    token,
    actor,
    close: async () => {
      await app.close();
      await db.close();
    },
  };
}
