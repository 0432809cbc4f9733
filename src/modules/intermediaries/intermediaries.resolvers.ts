import type { IResolvers } from 'mercurius';
import { authorize, dropNulls, firstArg, idArg, toConnection } from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Services } from '../services.ts';
import { CreateIntermediaryBody, UpdateIntermediaryBody } from './intermediaries.schemas.ts';

export function intermediariesResolvers({ intermediaries }: Services): IResolvers {
  return {
    Query: {
      intermediary: async (_root, { id }: { id: string }, { actor }) => {
        const [found] = await intermediaries.getMany(authorize(actor, 'customers:read'), [idArg(id)]);
        return found ?? null;
      },
      intermediaries: async (
        _root,
        args: { filter?: { kind?: string | null; active?: boolean | null }; first: number; after?: string },
        { actor },
      ) => {
        const tenant = authorize(actor, 'customers:read');
        const filter = {
          kind: args.filter?.kind ?? undefined,
          active: args.filter?.active ?? undefined,
        } as Parameters<typeof intermediaries.list>[1];
        return toConnection(
          await intermediaries.list(tenant, filter, firstArg(args.first), args.after ?? undefined),
        );
      },
    },
    Mutation: {
      createIntermediary: (_root, { input }: { input: Record<string, unknown> }, { actor }) =>
        intermediaries.create(
          authorize(actor, 'customers:write'),
          parseOrThrow(CreateIntermediaryBody, dropNulls(input), 'input'),
        ),
      updateIntermediary: (_root, args: { id: string; input: unknown; ifMatch?: string }, { actor }) =>
        intermediaries.update(
          authorize(actor, 'customers:write'),
          idArg(args.id),
          parseOrThrow(UpdateIntermediaryBody, args.input, 'input'),
          args.ifMatch ?? undefined,
        ),
    },
  } as IResolvers;
}
