import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(DATABASE_|AUTH_|CURSOR_|NODE_ENV|PORT|HOST|DATA_DIR|EMBEDDED_PG_PORT|VITEST)/.test(key))
      delete env[key];
  }
  return { ...env, ...extra };
}

type Started = {
  child: ChildProcess;
  output: () => string;
  ready: Promise<{ url: string; token: string; tenant: string }>;
};

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env: cleanEnv(env) });
  let out = '';
  const ready = new Promise<{ url: string; token: string; tenant: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const url = /API\s+(http:\/\/\S+)\/v1/.exec(out)?.[1];
      const token = /Token\s+(\S+)/.exec(out)?.[1];
      const tenant = /Tenant\s+\S+ \((\S+)\)/.exec(out)?.[1];
      if (url && token && tenant) resolve({ url, token, tenant });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited with ${code} before being ready:\n${out}`)));
  });
  return { child, output: () => out, ready };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('boot', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['PORT', 'not-a-port'],
    ['LOG_LEVEL', 'loud'],
    ['AUTH_JWT_SECRET', 'short'],
    ['DATABASE_URL', 'nonsense'],
  ])('stops with exit code 1 and one line naming %s when it is invalid', async (name, value) => {
    const child = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env: cleanEnv({ [name]: value }) });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    expect(await exitOf(child)).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(name);
  });

  it('refuses to boot in production without the secrets', async () => {
    const child = spawn(process.execPath, ['src/main.ts'], {
      cwd: ROOT,
      env: cleanEnv({ NODE_ENV: 'production' }),
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    expect(await exitOf(child)).toBe(1);
    expect(stderr).toMatch(/AUTH_JWT_SECRET is required in production/);
  });

  it('starts on an empty data folder with the embedded server, serves, stops on SIGINT, and reuses the data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vinculo-boot-'));
    dirs.push(dir);
    chmodSync(dir, 0o755);
    const env = {
      DATA_DIR: join(dir, '.vinculo'),
      EMBEDDED_PG_PORT: String(await freePort()),
      PORT: '0',
      LOG_LEVEL: 'warn',
    };

    const first = start(env);
    const { url, token, tenant } = await first.ready;
    expect(first.output()).toContain(`Docs      ${url}/docs`);
    expect(first.output()).toContain(`GraphiQL  ${url}/graphiql`);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    const created = await fetch(`${url}/v1/customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'boot@example.com' }),
    });
    expect(created.status).toBe(201);
    first.child.kill('SIGINT');
    expect(await exitOf(first.child), first.output()).toBe(0);

    const second = start(env);
    const again = await second.ready;
    expect(again.tenant).toBe(tenant); // the default tenant was created once
    const list = await fetch(`${again.url}/v1/customers?email=boot@example.com`, {
      headers: { authorization: `Bearer ${again.token}` },
    });
    expect(((await list.json()) as { data: unknown[] }).data).toHaveLength(1);
    second.child.kill('SIGINT');
    expect(await exitOf(second.child), second.output()).toBe(0);
  }, 120_000);
});
