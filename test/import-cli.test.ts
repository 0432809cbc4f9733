import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
});
