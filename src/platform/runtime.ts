import pg from 'pg';
import type { Config } from '../config.ts';
import { isProduction } from '../config.ts';
import { createPool, Database } from './db.ts';
import { type EmbeddedServer, startEmbeddedPostgres } from './embedded-postgres.ts';
import { appUrlFrom, runMigrations, setAppRolePassword } from './migrate.ts';
import { localSecrets } from './secrets.ts';

export type Runtime = {
  /** The configuration with development secrets filled in. */
  config: Config;
  ownerUrl: string;
  db: Database;
  embedded: boolean;
  close: () => Promise<void>;
};

/** Fills in the development secrets kept under DATA_DIR (never in production: the config requires them). */
export function withLocalSecrets(config: Config): Config & { DATABASE_APP_PASSWORD?: string } {
  if (isProduction(config)) return config;
  const needed =
    (!config.AUTH_JWT_SECRET && !config.AUTH_JWKS_URL) ||
    !config.CURSOR_SECRET ||
    (!config.DATABASE_APP_URL && !config.DATABASE_APP_PASSWORD) ||
    !config.DATABASE_URL;
  if (!needed) return config;
  const local = localSecrets(config.DATA_DIR);
  return {
    ...config,
    AUTH_JWT_SECRET: config.AUTH_JWKS_URL ? undefined : (config.AUTH_JWT_SECRET ?? local.jwtSecret),
    CURSOR_SECRET: config.CURSOR_SECRET ?? local.cursorSecret,
    DATABASE_APP_PASSWORD: config.DATABASE_APP_PASSWORD ?? local.appDbPassword,
  };
}

/**
 * The database side of a boot: the embedded server when no DATABASE_URL is set, migrations as the
 * owner, then a pool connected as the application role (which must not bypass row-level security).
 */
export async function openRuntime(base: Config, log: (line: string) => void = () => {}): Promise<Runtime> {
  const config = withLocalSecrets(base);
  let embedded: EmbeddedServer | undefined;
  let ownerUrl = config.DATABASE_URL;
  if (!ownerUrl) {
    const pgPassword = localSecrets(config.DATA_DIR).pgPassword;
    log(`starting the embedded PostgreSQL (data in ${config.DATA_DIR}/pg, port ${config.EMBEDDED_PG_PORT})`);
    embedded = await startEmbeddedPostgres({
      dataDir: config.DATA_DIR,
      port: config.EMBEDDED_PG_PORT,
      password: pgPassword,
    });
    ownerUrl = embedded.url;
  }
  try {
    await runMigrations(ownerUrl);
    let appUrl = config.DATABASE_APP_URL;
    if (!appUrl) {
      const password = config.DATABASE_APP_PASSWORD!;
      await setAppRolePassword(ownerUrl, password);
      appUrl = appUrlFrom(ownerUrl, password);
    }
    const pool = createPool(appUrl, config.DATABASE_POOL_MAX, (error) =>
      log(`database connection lost: ${error.message}`),
    );
    const { rows } = await pool.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
      'SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user',
    );
    if (rows[0]?.rolsuper || rows[0]?.rolbypassrls) {
      await pool.end();
      throw new Error(
        'the application database role must not be superuser nor have BYPASSRLS (DATABASE_APP_URL)',
      );
    }
    const db = new Database(pool);
    return {
      config,
      ownerUrl,
      db,
      embedded: Boolean(embedded),
      close: async () => {
        await db.close();
        await embedded?.stop();
      },
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

/**
 * Runs `fn` with an owner connection string: DATABASE_URL, else the embedded server of a running
 * Vínculo, else the embedded server started just for this (command-line tools).
 */
export async function withOwnerDatabase<T>(base: Config, fn: (ownerUrl: string) => Promise<T>): Promise<T> {
  if (base.DATABASE_URL) return fn(base.DATABASE_URL);
  const pgPassword = localSecrets(base.DATA_DIR).pgPassword;
  const url = `postgres://postgres:${encodeURIComponent(pgPassword)}@127.0.0.1:${base.EMBEDDED_PG_PORT}/vinculo`;
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  const running = await probe.connect().then(
    () => true,
    () => false,
  );
  await probe.end().catch(() => undefined);
  if (running) return fn(url);
  const server = await startEmbeddedPostgres({
    dataDir: base.DATA_DIR,
    port: base.EMBEDDED_PG_PORT,
    password: pgPassword,
  });
  try {
    return await fn(server.url);
  } finally {
    await server.stop();
  }
}
