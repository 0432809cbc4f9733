import type { IResolvers } from 'mercurius';
import { isAppError } from '../../platform/errors.ts';
import { authorize, dropNulls, firstArg, idArg, toConnection } from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Services } from '../services.ts';
import { CreateAttributeBody, UpdateAttributeBody } from './attributes.schemas.ts';

export function attributesResolvers({ attributes }: Services): IResolvers {
  return {
    Query: {
      attribute: async (_root, { id }: { id: string }, { actor }) => {
        try {
          return await attributes.get(authorize(actor, 'customers:read'), idArg(id));
        } catch (error) {
          if (isAppError(error) && error.code === 'attribute_not_found') return null;
          throw error;
        }
      },
      attributes: async (_root, args: { first: number; after?: string }, { actor }) =>
        toConnection(
          await attributes.list(
            authorize(actor, 'customers:read'),
            firstArg(args.first),
            args.after ?? undefined,
          ),
        ),
    },
    Mutation: {
      createAttribute: (_root, { input }: { input: Record<string, unknown> }, { actor }) =>
        attributes.create(
          authorize(actor, 'admin'),
          parseOrThrow(CreateAttributeBody, dropNulls(input), 'input'),
        ),
      updateAttribute: (_root, args: { id: string; input: unknown; ifMatch?: string | null }, { actor }) =>
        attributes.update(
          authorize(actor, 'admin'),
          idArg(args.id),
          parseOrThrow(UpdateAttributeBody, args.input, 'input'),
          args.ifMatch ?? undefined,
        ),
      deleteAttribute: async (_root, args: { id: string; ifMatch?: string | null }, { actor }) => {
        await attributes.remove(authorize(actor, 'admin'), idArg(args.id), args.ifMatch ?? undefined);
        return true;
      },
    },
  } as IResolvers;
}
