import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';

const ROOT = new URL('..', import.meta.url).pathname;
let t: TestApp;
let url: string;
const dir = mkdtempSync(join(tmpdir(), 'vinculo-cli-'));
beforeAll(async () => {
  t = await createTestApp({ jobs: true });
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, ['src/cli/import.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('npm run import', () => {
  it('uploads a file, follows the import to its end and says where the refused rows are', async () => {
    const { client, token } = await t.newTenant();
    const file = join(dir, 'customers.csv');
    writeFileSync(file, 'externalId,email\nx1,one@example.com\nx2,not-an-email\nx3,three@example.com\n');
    const { code, out } = await run(['--type', 'customers', file, '--url', url], { VINCULO_TOKEN: token });
    expect(code, out).toBe(0);
    expect(out).toMatch(/completed: 3 rows read, 2 imported, 1 refused/);
    const id = /\/v1\/imports\/([0-9a-f-]{36})\/errors/.exec(out)?.[1];
    expect(id).toBeDefined();
    expect((await client.get(`/v1/imports/${id}/errors`)).json().data).toEqual([
      expect.objectContaining({ line: 3, code: 'validation_failed' }),
    ]);
  });

  it('fails with a clear message without a token or with a refused upload', async () => {
    const file = join(dir, 'empty.csv');
    writeFileSync(file, 'externalId\nx\n');
    const noToken = await run(['--type', 'customers', file, '--url', url], {});
    expect(noToken.code).toBe(1);
    expect(noToken.out).toMatch(/no token/);
    const refused = await run(['--type', 'customers', file, '--url', url], { VINCULO_TOKEN: 'x.y.z' });
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/upload refused \(401\)/);
  });

  it('reports an upload refused by a proxy in HTML by its status, not as a JSON parse error', async () => {
    const proxy: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>Bad Gateway</body></html>');
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const { port } = proxy.address() as { port: number };
    const file = join(dir, 'proxied.csv');
    writeFileSync(file, 'externalId\na\n');
    try {
      const res = await run(['--type', 'customers', file, '--url', `http://127.0.0.1:${port}`], {
        VINCULO_TOKEN: 't',
      });
      expect(res.code).toBe(1);
      expect(res.out).toMatch(/upload refused \(502\): <html><body>Bad Gateway/);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it('reports a redirect of the upload with where it points (a streamed body is not sent twice)', async () => {
    const moved: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(301, { location: 'https://crm.example.com/v1/imports' }).end());
    });
    await new Promise<void>((r) => moved.listen(0, '127.0.0.1', r));
    const { port } = moved.address() as { port: number };
    const file = join(dir, 'moved.csv');
    writeFileSync(file, 'externalId\na\n');
    try {
      const res = await run(['--type', 'customers', file, '--url', `http://127.0.0.1:${port}`], {
        VINCULO_TOKEN: 't',
      });
      expect(res.code).toBe(1);
      expect(res.out).toMatch(
        /upload redirected \(301\) to https:\/\/crm\.example\.com\/v1\/imports: pass that origin as --url/,
      );
    } finally {
      await new Promise((r) => moved.close(r));
    }
  });

  it('waits out a 429 or 503 while following the import, and stops with the refusal on a 401', async () => {
    // a stand-in API: the upload is accepted, then each poll answers the next status in `polls`
    const stub = async (polls: number[]) => {
      const seen: number[] = [];
      const server: Server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          if (req.method === 'POST') {
            res.statusCode = 202;
            return res.end(JSON.stringify({ id: 'imp-1', status: 'queued', rowsRead: 0, percentDone: 0 }));
          }
          const status = polls.shift() ?? 200;
          seen.push(status);
          res.statusCode = status;
          if (status === 429) res.setHeader('retry-after', '1');
          res.end(
            JSON.stringify(
              status === 200
                ? { id: 'imp-1', status: 'completed', rowsRead: 2, succeeded: 2, failed: 0, percentDone: 100 }
                : { status, code: 'x', detail: `answer ${status}` },
            ),
          );
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as { port: number };
      return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(r)) };
    };
    const file = join(dir, 'two.csv');
    writeFileSync(file, 'externalId\na\nb\n');

    const busy = await stub([429, 503]);
    const waited = await run(['--type', 'customers', file, '--url', busy.url], { VINCULO_TOKEN: 't' });
    await busy.close();
    expect(waited.code, waited.out).toBe(0);
    expect(busy.seen).toEqual([429, 503, 200]);
    expect(waited.out).toMatch(/completed: 2 rows read, 2 imported, 0 refused/);

    const expired = await stub([401]);
    const refused = await run(['--type', 'customers', file, '--url', expired.url], { VINCULO_TOKEN: 't' });
    await expired.close();
    expect(refused.code).toBe(1);
    expect(expired.seen).toEqual([401]);
    expect(refused.out).toMatch(/following the import was refused \(401: answer 401\)/);
  });

  it('stops following an import that shows no progress for --stall-minutes, saying where to look', async () => {
    const stuck: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.statusCode = req.method === 'POST' ? 202 : 200;
        res.end(JSON.stringify({ id: 'imp-2', status: 'running', rowsRead: 5, failed: 0, percentDone: 10 }));
      });
    });
    await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', r));
    const { port } = stuck.address() as { port: number };
    const file = join(dir, 'stuck.csv');
    writeFileSync(file, 'externalId\na\n');
    try {
      const res = await run(
        ['--type', 'customers', file, '--url', `http://127.0.0.1:${port}`, '--stall-minutes', '0.02'],
        { VINCULO_TOKEN: 't' },
      );
      expect(res.code).toBe(1);
      expect(res.out).toMatch(/no progress for 0.02 minutes \(running, 5 rows read\).*\/v1\/imports\/imp-2/);
    } finally {
      await new Promise((r) => stuck.close(r));
    }
  });
});
