import { spawnSync } from 'node:child_process';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestApp, TEST_SECRET, type TestApp } from './helpers/app.ts';

const ROOT = new URL('..', import.meta.url).pathname;
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

function token(args: string[]) {
  const result = spawnSync(process.execPath, ['src/cli/token.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: inject('ownerUrl'),
      AUTH_JWT_SECRET: TEST_SECRET,
      CURSOR_SECRET: 'c'.repeat(32),
    },
  });
  return { code: result.status, out: result.stdout.trim(), err: result.stderr.trim() };
}

describe('npm run token', () => {
  it('mints a tenant token by slug that the API accepts, with the scopes asked for', async () => {
    const tenant = await t.newTenant();
    const { code, out, err } = token([
      '--tenant',
      tenant.slug,
      '--scope',
      'customers:read customers:write',
      '--expires',
      '2h',
    ]);
    expect(code, err).toBe(0);
    const claims = decodeJwt(out);
    expect(claims.tid).toBe(tenant.id);
    expect(claims.scope).toBe('customers:read customers:write');
    expect(claims.exp! - claims.iat!).toBe(7200);
    expect((await t.as(out).get('/v1/customers')).statusCode).toBe(200);
    expect((await t.as(out).get('/v1/settings')).statusCode).toBe(403); // no admin scope
  });

  it('mints a platform token without --tenant', async () => {
    const { code, out } = token(['--scope', 'platform:admin']);
    expect(code).toBe(0);
    expect(decodeJwt(out).tid).toBeUndefined();
    expect((await t.as(out).get('/v1/tenants')).statusCode).toBe(200);
  });

  it('refuses unknown scopes, unknown tenants and tenant scopes without a tenant', () => {
    expect(token(['--tenant', 'nope-nope', '--scope', 'customers:read']).err).toMatch(
      /no tenant "nope-nope"/,
    );
    expect(token(['--scope', 'customers:fly', '--tenant', 'x']).err).toMatch(/unknown scope customers:fly/);
    const noTenant = token(['--scope', 'customers:read']);
    expect(noTenant.code).toBe(1);
    expect(noTenant.err).toMatch(/without --tenant/);
  });
});
