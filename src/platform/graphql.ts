import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  type ExecutionResult,
  GraphQLError,
  GraphQLScalarType,
  Kind,
  NoSchemaIntrospectionCustomRule,
  type ValidationRule,
} from 'graphql';
import { createComplexityRule, simpleEstimator } from 'graphql-query-complexity';
import mercurius, { type IResolvers, type MercuriusLoaders } from 'mercurius';
import type { z } from 'zod';
import {
  type Actor,
  bearerToken,
  requireScopes,
  requireTenant,
  type Scope,
  type TenantActor,
  type Verifier,
} from './auth.ts';
import { AppError, isAppError, validationError } from './errors.ts';
import { toAppError, unstorableIn } from './http.ts';
import type { StoredResponse } from './idempotency.ts';
import { UUID } from './ids.ts';
import { MAX_LIMIT, type Page } from './pagination.ts';
import { parseOrThrow } from './problem.ts';
import { IdempotencyKey } from './schemas.ts';

declare module 'mercurius' {
  interface MercuriusContext {
    actor: Actor;
  }
}

export const SCHEMA_DIR = fileURLToPath(new URL('../../schema', import.meta.url));

/** The SDL contract: `schema/base.graphql` first, then one file per module. */
export function loadSchema(files: readonly string[]): string {
  return ['base', ...files].map((f) => readFileSync(`${SCHEMA_DIR}/${f}.graphql`, 'utf8')).join('\n');
}

/** Checks the caller's scopes inside a resolver and returns its tenant-bound identity. */
export function authorize(actor: Actor, ...scopes: Scope[]): TenantActor {
  const tenant = requireTenant(actor);
  requireScopes(actor, scopes);
  return tenant;
}

/** Relay `first` (required, 1–500). */
export function firstArg(first: number): number {
  if (!Number.isInteger(first) || first < 1 || first > MAX_LIMIT) {
    throw new AppError('validation_failed', `first must be between 1 and ${MAX_LIMIT}`, {
      errors: [{ path: 'first', message: `must be between 1 and ${MAX_LIMIT}` }],
    });
  }
  return first;
}

/**
 * An `ID!` argument naming a row: a UUID (read as lower case, as REST reads it), else a validation
 * error (never a database error).
 */
export function idArg(id: string, path = 'id'): string {
  if (!UUID.test(id)) throw validationError([{ path, message: 'must be a UUID' }]);
  return id.toLowerCase();
}

/** An `idempotencyKey` argument, held to the REST header's rule; null is none. */
export function idempotencyKeyArg(key: string | null | undefined): string | undefined {
  return key === null || key === undefined ? undefined : parseOrThrow(IdempotencyKey, key, 'idempotencyKey');
}

/**
 * A create mutation `(input, idempotencyKey?)`: its scope, the REST body's schema (nulls not given),
 * and the service's keyed write; the answer is the body, first or replayed.
 */
export function keyedCreate<I, T>(
  scope: Scope,
  schema: z.ZodType<I>,
  create: (actor: TenantActor, input: I, key?: string) => Promise<StoredResponse<T>>,
  prepare: (input: Record<string, unknown>) => Record<string, unknown> = (input) => input,
) {
  return async (
    _root: unknown,
    args: { input: Record<string, unknown>; idempotencyKey?: string | null },
    { actor }: { actor: Actor },
  ): Promise<T> => {
    const tenant = authorize(actor, scope);
    const input = parseOrThrow(schema, dropNulls(prepare(args.input)), 'input');
    return (await create(tenant, input, idempotencyKeyArg(args.idempotencyKey))).body;
  };
}

/** GraphQL nulls mean "not given" (for create) as absent keys do in REST. */
export const dropNulls = (o: Record<string, unknown> = {}) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));

/**
 * An update's list or map fields as GraphQL clients send them: null clears it (the empty value), as
 * a null clears any other field.
 */
export function nullsEmptied(
  input: Record<string, unknown> = {},
  empties: Record<string, unknown[] | Record<string, never>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...input };
  for (const [key, empty] of Object.entries(empties)) if (out[key] === null) out[key] = empty;
  return out;
}

export type ListArgs = { filter?: Record<string, unknown> | null; first: number; after?: string | null };

/** A Relay list's arguments, checked with the REST list's query schema: same filters, same errors. */
export function listArgs<S extends z.ZodType>(schema: S, args: ListArgs): z.output<S> {
  return parseOrThrow(
    schema,
    { ...dropNulls(args.filter ?? {}), limit: firstArg(args.first), cursor: args.after ?? undefined },
    'filter',
  );
}

/** A REST page as a Relay connection. */
export function toConnection<T extends { id: string }>(page: Page<T>) {
  return {
    nodes: page.data,
    edges: page.data.map((node, i) => ({ node, cursor: page.edgeCursor?.(i) ?? node.id })),
    pageInfo: {
      hasNextPage: page.nextCursor !== null,
      endCursor:
        page.nextCursor ?? (page.data.length ? page.edgeCursor?.(page.data.length - 1) : null) ?? null,
    },
  };
}

const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (v) => (v instanceof Date ? v.toISOString() : String(v)),
  parseValue: (v) => {
    if (typeof v !== 'string' || Number.isNaN(Date.parse(v)))
      throw new GraphQLError('DateTime must be ISO 8601');
    return v;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING || Number.isNaN(Date.parse(ast.value))) {
      throw new GraphQLError('DateTime must be an ISO 8601 string');
    }
    return ast.value;
  },
});

const Long = new GraphQLScalarType({
  name: 'Long',
  serialize: (v) => Number(v),
  parseValue: (v) => {
    if (!Number.isSafeInteger(v)) throw new GraphQLError('Long must be an integer');
    return v;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.INT || !Number.isSafeInteger(Number(ast.value)))
      throw new GraphQLError('Long must be an integer');
    return Number(ast.value);
  },
});

const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: function literal(ast, variables): unknown {
    switch (ast.kind) {
      case Kind.STRING:
      case Kind.BOOLEAN:
        return ast.value;
      case Kind.INT:
      case Kind.FLOAT:
        return Number(ast.value);
      case Kind.NULL:
        return null;
      case Kind.LIST:
        return ast.values.map((v) => literal(v, variables));
      case Kind.OBJECT:
        return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value, variables)]));
      case Kind.VARIABLE:
        return variables?.[ast.name.value];
      default:
        return undefined;
    }
  },
});

/**
 * A connection costs its page size times what each node asks for. The size is counted within
 * 1–MAX_LIMIT whatever was asked (the resolver refuses the rest): a negative `first` must not cost
 * less than nothing, which would cancel its siblings' cost and let them run.
 */
const connectionEstimator = ({
  args,
  childComplexity,
}: {
  args: Record<string, unknown>;
  childComplexity: number;
}) =>
  typeof args.first === 'number'
    ? 1 + Math.min(Math.max(args.first, 1), MAX_LIMIT) * Math.max(childComplexity, 1)
    : undefined;

// graphql ships CommonJS and ESM builds; should a bundler load both, Mercurius' errors would be of
// another GraphQLError class than the one imported here, so the check does not rely on `instanceof`.
const isGraphQLError = (e: unknown): e is GraphQLError => e instanceof Error && e.name === 'GraphQLError';

function formatError(error: GraphQLError, log: FastifyInstance['log']) {
  const original = error.originalError;
  const base = { message: error.message, locations: error.locations, path: error.path };
  if (!original || isGraphQLError(original)) {
    return { ...base, extensions: { code: 'graphql_validation_failed' } };
  }
  const appError = isAppError(original) ? original : toAppError(original);
  if (appError.status >= 500) log.error({ err: original }, 'graphql resolver failed');
  return {
    ...base,
    message: appError.message,
    extensions: {
      ...(appError.extra ?? {}),
      code: appError.code,
      status: appError.status,
      ...(appError.errors ? { errors: appError.errors } : {}),
    },
  };
}

type Resolver = (root: unknown, args: Record<string, unknown>, context: unknown, info: unknown) => unknown;

/**
 * A mutation's service errors name fields of its `input` as REST does of its body (`attributes.car`);
 * in GraphQL they are `input.attributes.car`, as the argument checks already say. Paths that already
 * name an argument (`input.…`, `id`) stay as they are.
 */
function inputPaths(error: unknown, args: Record<string, unknown>): unknown {
  if (!isAppError(error) || !error.errors?.length || !args || !('input' in args)) return error;
  const names = Object.keys(args);
  const named = (path: string) =>
    names.some((n) => path === n || path.startsWith(`${n}.`) || path.startsWith(`${n}[`));
  return new AppError(error.code, error.message, {
    errors: error.errors.map((e) =>
      named(e.path) ? e : { ...e, path: e.path ? `input.${e.path}` : 'input' },
    ),
    extra: error.extra,
  });
}

/**
 * Text PostgreSQL cannot store (U+0000), in a variable or a literal, refused naming its argument
 * path (`input.firstName`) as REST names its field; a batch's `items` are the service's to check one
 * by one, so a bad item never rejects the others. (The HTTP layer leaves GraphQL bodies to this.)
 */
function refuseUnstorable(args: Record<string, unknown> | undefined): void {
  if (!args) return;
  for (const [name, value] of Object.entries(args)) {
    if (name === 'items' && Array.isArray(value)) continue;
    const error = unstorableIn(value, name);
    if (error) throw error;
  }
}

function withInputPaths(mutations: Record<string, Resolver>): Record<string, Resolver> {
  return Object.fromEntries(
    Object.entries(mutations).map(([name, resolve]) => [
      name,
      async (root, args, context, info) => {
        refuseUnstorable(args);
        try {
          return await resolve(root, args, context, info);
        } catch (error) {
          throw inputPaths(error, args);
        }
      },
    ]),
  );
}

function withStorableArgs(queries: Record<string, Resolver>): Record<string, Resolver> {
  return Object.fromEntries(
    Object.entries(queries).map(([name, resolve]) => [
      name,
      (root, args, context, info) => {
        refuseUnstorable(args);
        return resolve(root, args, context, info);
      },
    ]),
  );
}

type Options = {
  verify: Verifier;
  schemaFiles: readonly string[];
  resolvers: IResolvers;
  loaders: MercuriusLoaders;
  production: boolean;
  graphiql: boolean;
  maxDepth: number;
  maxCost: number;
};

/**
 * GraphQL at /graphql (Mercurius): schema-first, the same scopes and error codes as REST,
 * depth and cost limits, batching off, introspection and GraphiQL off in production.
 */
export async function registerGraphql(app: FastifyInstance, o: Options): Promise<void> {
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request: FastifyRequest) => {
      if (request.routeOptions.url !== '/graphql') return;
      try {
        request.actor = await o.verify(bearerToken(request.headers.authorization));
      } catch (error) {
        // a GraphQL-shaped body, for GraphQL clients, with the HTTP status and challenge of REST,
        // sent once the rate limiter has counted the request
        const e = toAppError(error);
        request.refusal = {
          error,
          send: (reply) =>
            reply
              .code(e.status)
              .header('www-authenticate', 'Bearer realm="vinculo"')
              .send({
                data: null,
                errors: [{ message: e.message, extensions: { code: e.code, status: e.status } }],
              }),
        };
      }
    });
    // GraphQL-over-HTTP: a JSON request may carry `"extensions": null`, which Mercurius rejects.
    scope.addHook('preValidation', async (request) => {
      const body = request.body as Record<string, unknown> | undefined;
      if (body && typeof body === 'object' && body.extensions === null) delete body.extensions;
    });

    const rules: ValidationRule[] = o.production ? [NoSchemaIntrospectionCustomRule] : [];
    await scope.register(mercurius, {
      schema: loadSchema(o.schemaFiles),
      resolvers: {
        DateTime,
        Long,
        JSON: JSONScalar,
        ...o.resolvers,
        ...(o.resolvers.Query
          ? { Query: withStorableArgs(o.resolvers.Query as Record<string, Resolver>) }
          : {}),
        ...(o.resolvers.Mutation
          ? { Mutation: withInputPaths(o.resolvers.Mutation as Record<string, Resolver>) }
          : {}),
      } as IResolvers,
      loaders: o.loaders,
      context: (request) => ({ actor: request.actor! }),
      graphiql: o.graphiql,
      queryDepth: o.maxDepth,
      allowBatchedQueries: false,
      jit: 0,
      // the cost rule needs each request's variables, which rules out Mercurius' validation cache
      cache: false,
      validationRules: ({ variables, operationName }) => [
        ...rules,
        createComplexityRule({
          maximumComplexity: o.maxCost,
          variables,
          operationName,
          estimators: [connectionEstimator, simpleEstimator({ defaultComplexity: 1 })],
          createError: (max, actual) =>
            new GraphQLError(`the query costs ${actual}, above the limit of ${max}`, {
              extensions: { code: 'graphql_cost_exceeded' },
            }),
        }),
      ],
      errorFormatter: (execution: ExecutionResult & { statusCode?: number }, context) => {
        const log = context.reply?.log ?? app.log;
        const errors = (execution.errors ?? []).flatMap((error) => {
          // Mercurius wraps validation failures in one error holding the list
          const nested = isAppError(error.originalError)
            ? undefined
            : (error.originalError as { errors?: unknown[] } | undefined)?.errors;
          const list = Array.isArray(nested) ? nested : [error];
          return list.map((item) => {
            const e = isGraphQLError(item) ? item : new GraphQLError(String((item as Error).message));
            const formatted = formatError(e, log);
            const code = e.extensions?.code;
            if (typeof code === 'string') formatted.extensions = { ...formatted.extensions, code };
            return formatted;
          });
        });
        // an authentication failure before execution keeps its HTTP status (401/403/429)
        const early = execution.errors?.length === 1 ? execution.errors[0]?.originalError : undefined;
        const earlyStatus =
          isAppError(early) && [401, 403, 429].includes(early.status) ? early.status : undefined;
        const statusCode = execution.data ? 200 : (earlyStatus ?? execution.statusCode ?? 200);
        return { statusCode, response: { data: execution.data ?? null, errors } as never };
      },
    });
  });
}
