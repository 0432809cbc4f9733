import type { IResolvers, MercuriusLoaders } from 'mercurius';
import { authorize, dropNulls, idArg } from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Customer } from '../customers/customers.schemas.ts';
import type { Services } from '../services.ts';
import { LifecycleQuery } from './insights.schemas.ts';

export function scoresResolvers({ scores, insights, jobRuns }: Services): IResolvers {
  return {
    Query: {
      scoreModel: (_root, _args, { actor }) => scores.model(authorize(actor, 'scores:read')),
      rfmInsights: (_root, _args, { actor }) => insights.rfm(authorize(actor, 'scores:read')),
      lifecycleInsights: (_root, args: { from?: string; to?: string }, { actor }) =>
        insights.lifecycle(
          authorize(actor, 'scores:read'),
          parseOrThrow(LifecycleQuery, dropNulls(args), ''),
        ),
      sixRInsights: async (_root, _args, { actor }) => {
        const s = await insights.sixR(authorize(actor, 'scores:read'));
        return {
          customers: s.customers,
          buyers: s.buyers,
          ...s.relationship,
          ...s.retention,
          ...s.profitability,
          ...s.referral,
          ...s.recovery,
          ...s.reactivation,
        };
      },
      job: async (_root, { id }: { id: string }, { actor }) => {
        try {
          return await jobRuns.get(authorize(actor), idArg(id));
        } catch (error) {
          if ((error as { code?: string }).code === 'not_found') return null;
          throw error;
        }
      },
    },
    Mutation: {
      recomputeScores: (
        _root,
        { refit, rebuild }: { refit?: boolean | null; rebuild?: boolean | null },
        { actor },
      ) => scores.requestRecompute(authorize(actor, 'admin'), refit ?? true, rebuild ?? false),
    },
  } as IResolvers;
}

export function scoresLoaders({ scores }: Services): MercuriusLoaders {
  return {
    Customer: {
      // one read for all the customers of a response
      scores: async (queries: { obj: Customer }[], { actor }) =>
        scores.scoresOfMany(
          authorize(actor, 'scores:read'),
          queries.map((q) => q.obj.id),
        ),
    },
  } as MercuriusLoaders;
}
