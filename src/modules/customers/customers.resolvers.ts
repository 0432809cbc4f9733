import type { IResolvers, MercuriusLoaders } from 'mercurius';
import { validationError } from '../../platform/errors.ts';
import {
  authorize,
  dropNulls,
  idArg,
  keyedCreate,
  listArgs,
  nullsEmptied,
  toConnection,
} from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Services } from '../services.ts';
import {
  BATCH_MAX,
  CreateCustomerBody,
  type Customer,
  ListCustomersQuery,
  UpdateCustomerBody,
} from './customers.schemas.ts';

/**
 * A customer input as GraphQL clients send it, every variable present: null inside a consent (no
 * channel, no `at`, no `source`) means not given, and `tags: null` clears the list, as in REST.
 */
function fromGraphql(input: Record<string, unknown> = {}): Record<string, unknown> {
  const out = nullsEmptied(input, { tags: [] });
  const consent = out.consent as Record<string, Record<string, unknown> | null> | null | undefined;
  if (consent && typeof consent === 'object')
    out.consent = Object.fromEntries(
      Object.entries(consent).flatMap(([channel, given]) =>
        given === null ? [] : [[channel, given && typeof given === 'object' ? dropNulls(given) : given]],
      ),
    );
  return out;
}

export function customersResolvers({ customers }: Services): IResolvers {
  return {
    Query: {
      customer: async (_root, { id }: { id: string }, { actor }) => {
        const tenant = authorize(actor, 'customers:read');
        const [found] = await customers.getMany(tenant, [idArg(id)]);
        return found ?? null;
      },
      customers: async (
        _root,
        args: { filter?: Record<string, unknown>; first: number; after?: string },
        { actor },
      ) => {
        const tenant = authorize(actor, 'customers:read');
        const { limit, cursor, ...filter } = listArgs(ListCustomersQuery, args);
        return toConnection(await customers.list(tenant, filter, limit, cursor));
      },
    },
    Mutation: {
      createCustomer: keyedCreate(
        'customers:write',
        CreateCustomerBody,
        (actor, input, key) => customers.create(actor, input, key),
        fromGraphql,
      ),
      updateCustomer: (
        _root,
        args: { id: string; input: Record<string, unknown>; ifMatch?: string },
        { actor },
      ) =>
        customers.update(
          authorize(actor, 'customers:write'),
          idArg(args.id),
          parseOrThrow(UpdateCustomerBody, fromGraphql(args.input), 'input'),
          args.ifMatch ?? undefined,
        ),
      upsertCustomers: async (_root, { items }: { items: Record<string, unknown>[] }, { actor }) => {
        const tenant = authorize(actor, 'customers:write');
        if (items.length > BATCH_MAX) {
          throw validationError([{ path: 'items', message: `must have at most ${BATCH_MAX} items` }]);
        }
        const results = await customers.batchUpsert(
          tenant,
          items.map((item) => dropNulls(fromGraphql(item))),
        );
        const count = (s: string) => results.filter((r) => r.status === s).length;
        return {
          results: results.map((r) => ({
            ...r,
            error: r.error && { code: r.error.code, message: r.error.detail, errors: r.error.errors },
          })),
          created: count('created'),
          updated: count('updated'),
          errors: count('error'),
        };
      },
    },
  } as IResolvers;
}

export function customersLoaders({ intermediaries }: Services): MercuriusLoaders {
  return {
    Customer: {
      // one query for every customer's account manager in the response, never one per customer
      accountManager: async (queries: { obj: Customer }[], { actor }) => {
        const tenant = authorize(actor, 'customers:read');
        const ids = [
          ...new Set(queries.map((q) => q.obj.accountManagerId).filter((id): id is string => !!id)),
        ];
        const found = new Map((await intermediaries.getMany(tenant, ids)).map((i) => [i.id, i]));
        return queries.map((q) =>
          q.obj.accountManagerId ? (found.get(q.obj.accountManagerId) ?? null) : null,
        );
      },
    },
  } as MercuriusLoaders;
}
