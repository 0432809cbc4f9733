import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import {
  type Actor,
  bearerToken,
  requirePlatform,
  requireScopes,
  requireTenant,
  type Scope,
  type Verifier,
} from './auth.ts';
import { isWriteConflict, pgErrorOf, referenceProblem } from './db.ts';
import { AppError, type ErrorCode, isAppError, validationError } from './errors.ts';
import type { StoredResponse } from './idempotency.ts';
import { fieldErrorsOf, PROBLEM_CONTENT_TYPE, problemFrom } from './problem.ts';
import { etagOf } from './schemas.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scopes a route requires; a route without it is public (health, docs). */
    scopes?: readonly Scope[];
    /** false for platform routes whose tokens carry no tenant. */
    tenant?: boolean;
    /** The body documented in OpenAPI when the validated one is looser (batch routes). */
    documentedBody?: unknown;
    /**
     * Batch routes: a U+0000 inside `items[i]` is that item's problem (the handler checks each item,
     * see `unstorableIn`), not the request's; anywhere else in the body it still refuses the request.
     */
    checksItems?: boolean;
  }
  interface FastifyRequest {
    actor: Actor | null;
    /** Set by the JSON parser when the body's text has no `\u0000` escape, so no string in it holds U+0000. */
    nulFreeBody: boolean;
    /** Set when the request's work wrote its audit entry itself (the response hook then does not). */
    audited: boolean;
    /**
     * Why authentication or authorization refused the request, answered only once the rate limiter
     * has counted it (`refuseAfterRateLimit`), so refused requests are limited like any other;
     * `send` answers it in another shape than problem+json (GraphQL's).
     */
    refusal?: { error: unknown; send?: (reply: FastifyReply) => FastifyReply };
  }
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'insufficient_scope',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'service_unavailable',
};

/** Every error that reaches Fastify becomes a coded AppError; anything unknown is a 500 without details. */
/** character_not_in_repertoire, untranslatable_character: PostgreSQL text cannot hold U+0000. */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);
const UNSTORABLE_MESSAGE = 'text must not contain the NUL character (U+0000)';

// parsed JSON and query strings only (fast-querystring's objects have a prototype-less prototype):
// a streamed upload (imports) is not walked
const isPlain = (v: object) => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null || Object.getPrototypeOf(proto) === null;
};

/** The path of the first string holding U+0000 in a parsed body, query or params, if any. */
export function nulPath(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = nulPath(v, [...path, i]);
      if (found) return found;
    }
  } else if (value && typeof value === 'object' && isPlain(value)) {
    for (const [k, v] of Object.entries(value)) {
      const found = nulPath(k, [...path, k]) ?? nulPath(v, [...path, k]);
      if (found) return found;
    }
  }
  return undefined;
}

const pathText = (path: (string | number)[]) =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');

/** A batch item's U+0000 as its validation problem (`path` is where the item is, e.g. `items[3]`). */
export function unstorableIn(item: unknown, path: string): AppError | undefined {
  const found = nulPath(item);
  if (!found) return undefined;
  const inside = pathText(found);
  return validationError([
    {
      path: inside ? `${path}${inside.startsWith('[') ? '' : '.'}${inside}` : path,
      message: UNSTORABLE_MESSAGE,
    },
  ]);
}

export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext;
    const prefix = where && where !== 'body' ? where : '';
    return validationError(
      fieldErrorsOf(
        error.validation.map((v) => ({
          path: v.instancePath
            .split('/')
            .filter(Boolean)
            .map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
          message: v.message ?? 'is not valid',
          code: v.keyword,
          keys: (v.params as { keys?: string[] }).keys,
        })),
        prefix,
      ),
    );
  }
  if (isResponseSerializationError(error))
    return new AppError('internal_error', 'An internal error occurred');
  // a deadlock or serialization failure that outlived its retries: nothing was written, try again
  if (isWriteConflict(error)) {
    return new AppError(
      'write_conflict',
      'other requests were writing the same rows; nothing was written, retry',
    );
  }
  // a reference no repository translated (a row removed while the request referring to it ran)
  const reference = referenceProblem(error);
  if (reference) return reference;
  // a NUL (or a byte the database encoding cannot hold) that reached a text column
  if (UNSTORABLE_TEXT.has(pgErrorOf(error)?.code ?? ''))
    return validationError([{ path: '', message: UNSTORABLE_MESSAGE }], UNSTORABLE_MESSAGE);
  const e = error as Partial<FastifyError> & { status?: number };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'the body exceeds the size limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', 'send application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return validationError([{ path: '', message: 'the JSON body is empty' }]);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('invalid_json', e.message);
  }
  const status = e.statusCode ?? e.status;
  if (e instanceof SyntaxError && status === 400) return new AppError('invalid_json', e.message);
  if (status && status >= 400 && status < 500) {
    return new AppError(STATUS_CODES[status] ?? 'validation_failed', e.message);
  }
  return new AppError('internal_error', 'An internal error occurred');
}

/**
 * Sends a keyed write's response, first or replayed (`Idempotency-Replayed: true`), with the ETag of
 * a versioned body.
 */
export function sendStored(reply: FastifyReply, stored: StoredResponse<unknown>) {
  if (stored.replayed) reply.header('idempotent-replayed', 'true');
  const version = (stored.body as { version?: unknown } | null)?.version;
  if (typeof version === 'number') reply.header('etag', etagOf(version));
  return reply.code(stored.status).send(stored.body as never);
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: AppError) {
  if (error.status === 401) reply.header('www-authenticate', 'Bearer realm="vinculo"');
  if (error.code === 'write_conflict') reply.header('retry-after', '1');
  // the request body was left unread: the connection cannot serve another request
  if (error.code === 'upload_stalled' || error.code === 'import_stopped') reply.header('connection', 'close');
  return reply
    .code(error.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problemFrom(error, request.url.split('?')[0], request.id)));
}

/**
 * Problem+json for every error and unknown route, and bearer authentication for every route that
 * declares `config.scopes`.
 */
export const httpPlatform = fp(
  async (app: FastifyInstance, opts: { verify: Verifier }) => {
    app.decorateRequest('actor', null);
    app.decorateRequest('nulFreeBody', false);
    app.decorateRequest('audited', false);
    // JSON only: a text/plain body is refused with 415 rather than handed to validation as a string
    app.removeContentTypeParser('text/plain');
    // Fastify's own JSON parser (same poisoning rules, errors and limits), after one look at the text:
    // JSON can spell U+0000 only as the escape \u0000 (a raw one is invalid JSON), so a body without
    // that sequence needs no walk below — a batch of 1,000 orders holds about 30,000 strings
    const parseJson = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      request.nulFreeBody = !(body as string).includes('\\u0000');
      parseJson(request, body as string, done);
    });

    // PostgreSQL text cannot hold U+0000: refused with its path before any handler runs
    app.addHook('preValidation', async (request) => {
      const body = request.body as { items?: unknown } | undefined;
      // a batch's items are the handler's to check, one by one (a bad item never rejects the others)
      const rest =
        request.routeOptions.config?.checksItems &&
        body &&
        typeof body === 'object' &&
        Array.isArray(body.items)
          ? { ...body, items: undefined }
          : body;
      // GraphQL checks each field's arguments itself (a batch mutation's items one by one)
      const graphql = request.routeOptions.url === '/graphql';
      for (const [where, value] of [
        ['', request.nulFreeBody || graphql ? undefined : rest],
        ['querystring', request.query],
        ['params', request.params],
      ] as const) {
        const found = nulPath(value);
        if (found)
          throw validationError([
            { path: pathText(where ? [where, ...found] : found), message: UNSTORABLE_MESSAGE },
          ]);
      }
    });

    app.setErrorHandler((error, request, reply) => {
      const appError = toAppError(error);
      if (appError.status >= 500) request.log.error({ err: error }, 'request failed');
      else request.log.info({ code: appError.code }, appError.message);
      return sendProblem(request, reply, appError);
    });

    app.setNotFoundHandler((request, reply) =>
      sendProblem(
        request,
        reply,
        new AppError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
      ),
    );

    app.addHook('onRoute', (route) => {
      if (route.url.startsWith('/v1/') && !route.config?.scopes) {
        throw new Error(`route ${route.method} ${route.url} must declare config.scopes`);
      }
    });

    app.addHook('onRequest', async (request) => {
      const config = request.routeOptions.config;
      if (!config?.scopes) return;
      try {
        const actor = await opts.verify(bearerToken(request.headers.authorization));
        // known before the checks, so that a refused request is audited (and limited) as who made it
        request.actor = actor;
        if (config.tenant === false) requirePlatform(actor);
        else requireTenant(actor);
        requireScopes(actor, config.scopes);
      } catch (error) {
        request.refusal = { error };
      }
    });
  },
  { name: 'vinculo-http' },
);

/**
 * Answers the refusals the authentication hooks noted, as a route hook added after the rate
 * limiter's own: a client sending bad or under-scoped tokens is limited (by subject, else by
 * address) like one whose requests succeed. Call it after registering the rate limiter.
 */
export function refuseAfterRateLimit(app: FastifyInstance): void {
  const refuse = async (request: FastifyRequest, reply: FastifyReply) => {
    const refusal = request.refusal;
    if (!refusal) return;
    if (refusal.send) return refusal.send(reply);
    throw refusal.error;
  };
  app.addHook('onRoute', (route) => {
    const hooks = route.onRequest;
    route.onRequest = [...(Array.isArray(hooks) ? hooks : hooks ? [hooks] : []), refuse];
  });
}
