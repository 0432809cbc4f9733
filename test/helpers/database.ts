import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/platform/embedded-postgres.ts';

export type TestDatabase = { ownerUrl: string; description: string; stop: () => Promise<void> };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A fresh database on the server of DATABASE_URL (dropped afterwards), or that database itself. */
async function onServer(url: string): Promise<TestDatabase> {
  const name = `vinculo_test_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } catch {
    await admin.end();
    return { ownerUrl: url, description: `DATABASE_URL (${new URL(url).host})`, stop: async () => {} };
  }
  await admin.end();
  const fresh = new URL(url);
  fresh.pathname = `/${name}`;
  return {
    ownerUrl: fresh.toString(),
    description: `DATABASE_URL (${fresh.host}, fresh database ${name})`,
    stop: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await c.end();
    },
  };
}

async function inContainer(): Promise<TestDatabase | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
  } catch {
    return undefined; // no Docker engine answers
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:18-alpine').start();
  return {
    ownerUrl: container.getConnectionUri(),
    description: 'testcontainers PostgreSQL',
    stop: async () => {
      await container.stop();
    },
  };
}

async function embedded(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'vinculo-test-'));
  chmodSync(dir, 0o755); // the server may run as the `postgres` OS user
  const server = await startEmbeddedPostgres({
    dataDir: dir,
    port: await freePort(),
    password: 'test-password',
  });
  return {
    ownerUrl: server.url,
    description: 'embedded PostgreSQL',
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** DATABASE_URL when set; else a testcontainers PostgreSQL when Docker answers; else embedded. */
export async function provisionTestDatabase(): Promise<TestDatabase> {
  if (process.env.DATABASE_URL) return onServer(process.env.DATABASE_URL);
  return (await inContainer()) ?? (await embedded());
}
