import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1')
  .describe('true or false');

const port = z.coerce.number().int().min(0).max(65535);

/** The JWS algorithms a token may be checked with (jose's names). */
const JWS_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** Every environment variable Vínculo reads, with its default. The README's configuration table mirrors this. */
export const ConfigSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: port.default(3000),
    PUBLIC_URL: z.url().optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DATA_DIR: z.string().min(1).default('.vinculo'),
    DATABASE_URL: z.url().optional(),
    DATABASE_APP_URL: z.url().optional(),
    DATABASE_APP_PASSWORD: z.string().min(12).optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
    EMBEDDED_PG_PORT: port.default(54329),
    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    AUTH_JWKS_URL: z.url().optional(),
    AUTH_ISSUER: z.string().min(1).default('vinculo'),
    AUTH_AUDIENCE: z.string().min(1).default('vinculo-api'),
    AUTH_ALGORITHMS: z
      .string()
      .refine(
        (list) => list.split(',').every((alg) => JWS_ALGORITHMS.includes(alg)),
        `must be a comma-separated list of ${JWS_ALGORITHMS.join(', ')}`,
      )
      .optional(),
    AUTH_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    CURSOR_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(1200),
    RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1000).default(60_000),
    REDIS_URL: z.url().optional(),
    BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(5 * 1024 * 1024),
    GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).max(50).default(8),
    GRAPHQL_MAX_COST: z.coerce.number().int().min(10).default(50_000),
    GRAPHIQL: bool.optional(),
    RUN_WORKERS: bool.default(true),
    JOBS_CONCURRENCY: z.coerce.number().int().min(1).max(50).default(2),
    WEBHOOK_ALLOWED_HOSTS: z
      .string()
      .optional()
      .describe('Hosts, addresses or CIDR ranges webhooks may reach despite the SSRF guard, comma-separated'),
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(15_000),
    EVENTS_SETTLE_MS: z.coerce.number().int().min(0).max(60_000).default(3000),
    UPLOAD_IDLE_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
    WEBHOOK_RETRY_SCHEDULE: z
      .string()
      .regex(/^\d+(\.\d+)?(,\d+(\.\d+)?)*$/, 'must be comma-separated seconds such as 5,300,1800')
      .optional(),
    DEFAULT_TENANT_SLUG: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,62}$/)
      .default('default'),
  })
  .superRefine((c, ctx) => {
    // a shared secret verifies only HMAC signatures, a key set only the others
    const algorithms = c.AUTH_ALGORITHMS?.split(',') ?? [];
    const hmac = algorithms.filter((alg) => alg.startsWith('HS'));
    if (c.AUTH_JWKS_URL ? hmac.length : hmac.length < algorithms.length)
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_ALGORITHMS'],
        message: c.AUTH_JWKS_URL
          ? `a key set (AUTH_JWKS_URL) cannot verify ${hmac.join(', ')}`
          : 'the shared secret (AUTH_JWT_SECRET) verifies only HS256, HS384 and HS512',
      });
    if (c.AUTH_JWT_SECRET && c.AUTH_JWKS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWKS_URL'],
        message: 'set either AUTH_JWT_SECRET or AUTH_JWKS_URL, not both',
      });
    }
    if (c.NODE_ENV === 'production') {
      if (!c.AUTH_JWT_SECRET && !c.AUTH_JWKS_URL) {
        ctx.addIssue({
          code: 'custom',
          path: ['AUTH_JWT_SECRET'],
          message: 'is required in production (or set AUTH_JWKS_URL)',
        });
      }
      if (!c.CURSOR_SECRET)
        ctx.addIssue({ code: 'custom', path: ['CURSOR_SECRET'], message: 'is required in production' });
      if (!c.DATABASE_URL)
        ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'is required in production' });
      if (!c.DATABASE_APP_URL && !c.DATABASE_APP_PASSWORD) {
        ctx.addIssue({
          code: 'custom',
          path: ['DATABASE_APP_URL'],
          message: 'is required in production (or set DATABASE_APP_PASSWORD)',
        });
      }
    }
  });

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment; the first problem becomes one line naming the variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "not set", as in most twelve-factor tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = ConfigSchema.safeParse(cleaned);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    const value = cleaned[name];
    const shown = value === undefined || /SECRET|PASSWORD/.test(name) ? '' : ` (got "${value}")`;
    throw new ConfigError(`invalid configuration: ${name} ${issue.message}${shown}`);
  }
  return result.data;
}

export const isProduction = (c: Config) => c.NODE_ENV === 'production';

/** How webhooks are delivered, from the configuration (https is required in production). */
export const webhookOptions = (c: Config) => ({
  allowedHosts: c.WEBHOOK_ALLOWED_HOSTS,
  requireHttps: isProduction(c),
  timeoutMs: c.WEBHOOK_TIMEOUT_MS,
  retrySchedule: c.WEBHOOK_RETRY_SCHEDULE?.split(',').map(Number),
});
