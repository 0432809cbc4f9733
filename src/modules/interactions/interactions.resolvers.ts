import type { IResolvers, MercuriusLoaders } from 'mercurius';
import { isAppError } from '../../platform/errors.ts';
import {
  authorize,
  dropNulls,
  idArg,
  idempotencyKeyArg,
  keyedCreate,
  listArgs,
  nullsEmptied,
  toConnection,
} from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Customer } from '../customers/customers.schemas.ts';
import type { Services } from '../services.ts';
import {
  CreateInteractionBody,
  ListInteractionsQuery,
  ReplyBody,
  TransitionBody,
  UpdateInteractionBody,
  VoiceInsightsQuery,
} from './interactions.schemas.ts';

export function interactionsResolvers({ interactions }: Services): IResolvers {
  return {
    Query: {
      interaction: async (_root, { id }: { id: string }, { actor }) => {
        try {
          return await interactions.get(authorize(actor, 'interactions:read'), idArg(id));
        } catch (error) {
          if (isAppError(error) && error.code === 'interaction_not_found') return null;
          throw error;
        }
      },
      interactions: async (
        _root,
        args: { filter?: Record<string, unknown>; first: number; after?: string },
        { actor },
      ) => {
        const tenant = authorize(actor, 'interactions:read');
        const { limit, cursor, ...filter } = listArgs(ListInteractionsQuery, args);
        return toConnection(await interactions.list(tenant, filter, limit, cursor));
      },
      voiceInsights: (_root, args: { from?: string; to?: string }, { actor }) => {
        const tenant = authorize(actor, 'interactions:read');
        const q = parseOrThrow(VoiceInsightsQuery, dropNulls(args));
        return interactions.insights(tenant, q.from, q.to);
      },
    },
    Mutation: {
      recordInteraction: keyedCreate('interactions:write', CreateInteractionBody, (actor, input, key) =>
        interactions.create(actor, input, key),
      ),
      updateInteraction: (
        _root,
        args: { id: string; input: Record<string, unknown>; ifMatch?: string },
        { actor },
      ) =>
        interactions.update(
          authorize(actor, 'interactions:write'),
          idArg(args.id),
          parseOrThrow(UpdateInteractionBody, nullsEmptied(args.input, { tags: [], metadata: {} }), 'input'),
          args.ifMatch ?? undefined,
        ),
      reply: async (
        _root,
        args: { id: string; input: Record<string, unknown>; idempotencyKey?: string | null },
        { actor },
      ) =>
        (
          await interactions.reply(
            authorize(actor, 'interactions:write'),
            idArg(args.id),
            parseOrThrow(ReplyBody, dropNulls(args.input), 'input'),
            idempotencyKeyArg(args.idempotencyKey),
          )
        ).body,
      moveCase: (_root, args: { id: string; to: string; resolution?: Record<string, unknown> }, { actor }) =>
        interactions.transition(
          authorize(actor, 'interactions:write'),
          idArg(args.id),
          parseOrThrow(
            TransitionBody,
            dropNulls({ to: args.to, resolution: args.resolution ? dropNulls(args.resolution) : undefined }),
          ),
        ),
    },
  } as IResolvers;
}

type CustomerVoice = Awaited<ReturnType<Services['interactions']['voiceOf']>>[number];

export function interactionsLoaders({ interactions }: Services): MercuriusLoaders {
  // both fields come from one read per customer and request: the loader that runs first reads the
  // customers the other has not, and the other takes its answers
  const read = new WeakMap<object, Map<string, Promise<CustomerVoice>>>();
  const voice = (queries: { obj: Customer }[], context: { actor: Parameters<typeof authorize>[0] }) => {
    const actor = authorize(context.actor, 'interactions:read');
    const known = read.get(context) ?? new Map<string, Promise<CustomerVoice>>();
    read.set(context, known);
    const missing = [...new Set(queries.map((q) => q.obj.id))].filter((id) => !known.has(id));
    if (missing.length) {
      const answers = interactions.voiceOf(actor, missing);
      for (const [i, id] of missing.entries())
        known.set(
          id,
          answers.then((all) => all[i]!),
        );
    }
    return Promise.all(queries.map((q) => known.get(q.obj.id)!));
  };
  return {
    Customer: {
      openCases: async (queries: { obj: Customer }[], context) =>
        (await voice(queries, context)).map((v) => v.openCases),
      lastInteractionAt: async (queries: { obj: Customer }[], context) =>
        (await voice(queries, context)).map((v) => v.lastInteractionAt),
    },
  } as MercuriusLoaders;
}
