import type { IResolvers, MercuriusLoaders } from 'mercurius';
import {
  authorize,
  firstArg,
  idArg,
  idempotencyKeyArg,
  listArgs,
  toConnection,
} from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Customer } from '../customers/customers.schemas.ts';
import type { Services } from '../services.ts';
import { ListOrdersQuery, RecordOrderBody, RecordOrdersBodyLoose } from './orders.schemas.ts';

/** GraphQL nulls mean "not given" throughout an order input. */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, clean(v)]),
    );
  }
  return value;
}

export function ordersResolvers({ orders }: Services): IResolvers {
  return {
    Query: {
      order: async (_root, { id }: { id: string }, { actor }) => {
        const tenant = authorize(actor, 'customers:read');
        try {
          return await orders.get(tenant, idArg(id));
        } catch (error) {
          if ((error as { code?: string }).code === 'order_not_found') return null;
          throw error;
        }
      },
      orders: async (
        _root,
        args: { filter?: Record<string, unknown>; first: number; after?: string },
        { actor },
      ) => {
        const tenant = authorize(actor, 'customers:read');
        const { limit, cursor, ...filter } = listArgs(ListOrdersQuery, args);
        return toConnection(await orders.list(tenant, filter, limit, cursor));
      },
    },
    Mutation: {
      recordOrder: async (_root, args: { input: unknown; idempotencyKey?: string | null }, { actor }) => {
        const tenant = authorize(actor, 'orders:write');
        const input = parseOrThrow(RecordOrderBody, clean(args.input), 'input');
        return (await orders.record(tenant, input, idempotencyKeyArg(args.idempotencyKey))).body;
      },
      recordOrders: async (_root, args: { items: unknown[]; idempotencyKey?: string | null }, { actor }) => {
        const tenant = authorize(actor, 'orders:write');
        // the REST batch's rules: 1 to 1,000 items
        const { items } = parseOrThrow(RecordOrdersBodyLoose, { items: args.items });
        const { body } = await orders.recordMany(
          tenant,
          items.map(clean),
          idempotencyKeyArg(args.idempotencyKey),
        );
        return {
          results: body.results.map((r) => ({
            ...r,
            error: r.error && { code: r.error.code, message: r.error.detail, errors: r.error.errors },
          })),
          ...body.summary,
        };
      },
    },
  } as IResolvers;
}

export function ordersLoaders({ orders }: Services): MercuriusLoaders {
  return {
    Customer: {
      // one query for all the customers of a response (per page size asked), never one per customer
      // (per page size and position asked: a page further on names the order it follows, `after`)
      orders: async (
        queries: { obj: Customer; params: { first: number; after?: string | null } }[],
        { actor },
      ) => {
        const tenant = authorize(actor, 'customers:read');
        const pageOf = (q: (typeof queries)[number]) =>
          `${firstArg(q.params.first)}:${q.params.after ? idArg(q.params.after, 'after') : ''}`;
        const pages = [...new Set(queries.map(pageOf))];
        const answers = new Map<string, { orders: { id: string }[]; hasMore: boolean }>();
        for (const page of pages) {
          const [size, after] = page.split(':') as [string, string];
          const ids = [...new Set(queries.filter((q) => pageOf(q) === page).map((q) => q.obj.id))];
          const found = await orders.latestOrders(tenant, ids, Number(size), after || undefined);
          for (const [i, id] of ids.entries()) answers.set(`${page}:${id}`, found[i]!);
        }
        return queries.map((q) => {
          const { orders: list, hasMore } = answers.get(`${pageOf(q)}:${q.obj.id}`)!;
          return {
            nodes: list,
            edges: list.map((node) => ({ node, cursor: node.id })),
            pageInfo: { hasNextPage: hasMore, endCursor: list.at(-1)?.id ?? null },
          };
        });
      },
      purchases: async (queries: { obj: Customer }[], { actor }) =>
        orders.purchases(
          authorize(actor, 'customers:read'),
          queries.map((q) => q.obj.id),
        ),
    },
  } as MercuriusLoaders;
}
