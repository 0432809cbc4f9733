import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { AppError } from './errors.ts';
import { uuid } from './schemas.ts';

export const SCOPES = [
  'customers:read',
  'customers:write',
  'customers:pii',
  'orders:write',
  'interactions:read',
  'interactions:write',
  'segments:read',
  'segments:write',
  'campaigns:read',
  'campaigns:write',
  'scores:read',
  'webhooks:manage',
  'privacy:manage',
  'admin',
  'platform:admin',
] as const;
export type Scope = (typeof SCOPES)[number];
export const TENANT_SCOPES = SCOPES.filter((s) => s !== 'platform:admin');

/** Who is calling: the verified claims of the bearer token. */
export type Actor = {
  sub: string;
  tenantId: string | null;
  scopes: ReadonlySet<string>;
  /** For partner tokens: the segment ids they may read. */
  segments: readonly string[] | null;
};

/** An actor known to act inside one tenant. */
export type TenantActor = Actor & { tenantId: string };

const ClaimsSchema = z.object({
  sub: z.string().min(1).max(200),
  tid: uuid().optional(),
  scope: z.string().max(2000).default(''),
  segments: z.array(uuid()).max(1000).optional(),
  exp: z.number(),
});

export type AuthOptions = {
  secret?: string;
  jwksUrl?: string;
  issuer: string;
  audience: string;
  algorithms?: string[];
  clockToleranceSeconds: number;
};

export type Verifier = (token: string) => Promise<Actor>;

const MAX_REMEMBERED_MS = 3_600_000;

/** Builds the token verifier: explicit algorithm allow-list, issuer, audience, expiry required. */
export function createVerifier(options: AuthOptions): Verifier {
  let key: Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (options.jwksUrl) {
    // jose caches the key set and refetches it when a token names an unknown `kid` (key rotation).
    key = createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, timeoutDuration: 5_000 });
    algorithms = options.algorithms ?? ['RS256', 'PS256', 'ES256', 'EdDSA'];
  } else if (options.secret) {
    key = new TextEncoder().encode(options.secret);
    algorithms = options.algorithms ?? ['HS256'];
  } else {
    throw new Error('auth: a secret or a JWKS URL is required');
  }
  // Verifying a signature costs far more than the rest of a read; a token already verified is
  // remembered (by its exact text) until it expires, an hour at most. A token within a second of its
  // expiry (or past it, inside the clock tolerance) is not remembered: lru-cache reads a ttl of 0 as
  // "forever". A remembered one is checked against its expiry again on every use.
  const verified = new LRUCache<string, Actor & { expiresAt: number }>({ max: 10_000 });
  return async (token) => {
    const known = verified.get(token);
    if (known && known.expiresAt > Date.now()) return known;
    const actor = await verifyOnce(token);
    const ttl = Math.floor(Math.min(actor.expiresAt - Date.now(), MAX_REMEMBERED_MS));
    if (ttl >= 1000) verified.set(token, actor, { ttl });
    return actor;
  };

  async function verifyOnce(token: string): Promise<Actor & { expiresAt: number }> {
    let payload: unknown;
    try {
      const verified = await jwtVerify(token, key as Uint8Array, {
        algorithms,
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: options.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      });
      payload = verified.payload;
    } catch (error) {
      if (keysUnreachable(error))
        throw new AppError(
          'service_unavailable',
          'the identity provider’s key set could not be fetched to check the token; try again shortly',
        );
      throw new AppError('invalid_token', describeJoseError(error));
    }
    const claims = ClaimsSchema.safeParse(payload);
    if (!claims.success) throw new AppError('invalid_token', 'the token claims are malformed');
    const { sub, tid, scope, segments, exp } = claims.data;
    return {
      sub,
      tenantId: tid ?? null,
      scopes: new Set(scope.split(' ').filter(Boolean)),
      segments: segments ?? null,
      expiresAt: exp * 1000,
    };
  }
}

/**
 * The key set could not be had (a timeout, a refused connection, an answer other than a key set):
 * the token is not known to be bad, so it is not a 401.
 */
function keysUnreachable(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return true;
  // jose's own error for a fetch answered with another status than 200
  if (error instanceof joseErrors.JOSEError) return error.message.includes('JSON Web Key Set HTTP response');
  // fetch's own failure (a refused connection, an unknown host) is not jose's
  return error instanceof TypeError && error.message === 'fetch failed';
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `the token's "${error.claim}" claim is not accepted`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return 'the token signature does not verify';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the token algorithm is not allowed';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key matches the token';
  return 'the token is malformed';
}

/** Parses `Authorization: Bearer <token>`; anything else is a 401. */
export function bearerToken(header: string | undefined): string {
  if (!header) throw new AppError('unauthorized', 'send an Authorization: Bearer <token> header');
  const match = /^Bearer\s+([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]*\.[A-Za-z0-9\-_]*)\s*$/i.exec(header);
  if (!match) throw new AppError('invalid_token', 'the Authorization header is not a bearer JWT');
  return match[1]!;
}

/** What a partner token (one with a `segments` claim) may do: read its segments' members. */
const PARTNER_SCOPES: ReadonlySet<string> = new Set(['segments:read', 'customers:pii']);

export function requireScopes(actor: Actor, scopes: readonly string[]): void {
  // a partner's other scopes count for nothing: with customers:read it would read every customer
  if (actor.segments !== null) {
    const beyond = scopes.filter((s) => !PARTNER_SCOPES.has(s));
    if (beyond.length)
      throw new AppError(
        'insufficient_scope',
        `a partner token (one with a segments claim) only reads its segments' members: ${beyond.join(', ')} is not for it`,
        { extra: { requiredScopes: scopes } },
      );
  }
  const missing = scopes.filter((s) => !actor.scopes.has(s));
  if (missing.length) {
    throw new AppError('insufficient_scope', `this requires the scope ${missing.join(', ')}`, {
      extra: { requiredScopes: scopes },
    });
  }
}

export function requireTenant(actor: Actor): TenantActor {
  if (!actor.tenantId)
    throw new AppError('insufficient_scope', 'this requires a tenant token (a `tid` claim)');
  return actor as TenantActor;
}

/** For the platform's own routes: a token without a tenant (a tenant's token is refused whatever its scopes). */
export function requirePlatform(actor: Actor): void {
  if (actor.tenantId)
    throw new AppError('insufficient_scope', 'this requires a platform token (no `tid` claim)');
}

export type MintOptions = {
  secret: string;
  issuer: string;
  audience: string;
  sub: string;
  tenantId?: string;
  scopes: readonly string[];
  segments?: string[];
  expiresIn?: string;
};

/** Mints an HS256 token (development tool and tests). */
export function mintToken(o: MintOptions): Promise<string> {
  const claims: Record<string, unknown> = { scope: o.scopes.join(' ') };
  if (o.tenantId) claims.tid = o.tenantId;
  if (o.segments) claims.segments = o.segments;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(o.sub)
    .setIssuer(o.issuer)
    .setAudience(o.audience)
    .setIssuedAt()
    .setExpirationTime(o.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(o.secret));
}
