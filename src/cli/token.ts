import { parseArgs } from 'node:util';
import pg from 'pg';
import { ConfigError, isProduction, loadConfig } from '../config.ts';
import { mintToken, SCOPES, TENANT_SCOPES } from '../platform/auth.ts';
import { withLocalSecrets, withOwnerDatabase } from '../platform/runtime.ts';

const USAGE = `usage: npm run token -- [--tenant <id|slug>] [--scope "customers:read customers:write"] [--expires 1h] [--sub name] [--segments id1,id2]
  without --tenant, --scope must be "platform:admin" (the operator's token)
  without --scope, a tenant token gets every tenant scope`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function resolveTenant(ownerUrl: string, idOrSlug: string): Promise<string> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL app.platform = 'on'`);
    const { rows } = await client.query<{ id: string }>(
      UUID.test(idOrSlug) ? 'SELECT id FROM tenants WHERE id = $1' : 'SELECT id FROM tenants WHERE slug = $1',
      [idOrSlug],
    );
    await client.query('COMMIT');
    if (!rows[0]) throw new Error(`no tenant "${idOrSlug}"`);
    return rows[0].id;
  } finally {
    await client.end();
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      tenant: { type: 'string' },
      scope: { type: 'string' },
      expires: { type: 'string', default: '1h' },
      sub: { type: 'string', default: 'cli' },
      segments: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = withLocalSecrets(loadConfig(process.env));
  if (!config.AUTH_JWT_SECRET) {
    throw new Error('AUTH_JWKS_URL is set: tokens come from your identity provider, not from this tool');
  }
  if (isProduction(config)) console.error('warning: minting a token with the production secret');
  const scopes = (values.scope ?? (values.tenant ? TENANT_SCOPES.join(' ') : ''))
    .split(/[\s,]+/)
    .filter(Boolean);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`unknown scope ${unknown.join(', ')}; known: ${SCOPES.join(' ')}`);
  if (!values.tenant && (scopes.length !== 1 || scopes[0] !== 'platform:admin')) {
    throw new Error(`without --tenant only --scope platform:admin is allowed\n${USAGE}`);
  }
  const tenantId = values.tenant
    ? await withOwnerDatabase(config, (url) => resolveTenant(url, values.tenant!))
    : undefined;
  const token = await mintToken({
    secret: config.AUTH_JWT_SECRET,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    sub: values.sub,
    tenantId,
    scopes,
    segments: values.segments?.split(',').filter(Boolean),
    expiresIn: values.expires,
  });
  console.log(token);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `token: ${(error as Error).message}`);
  process.exit(1);
});
