import type { IResolvers } from 'mercurius';
import { isAppError } from '../../platform/errors.ts';
import { authorize, dropNulls, idArg, keyedCreate, listArgs, toConnection } from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Services } from '../services.ts';
import { CreateFeedbackBody, ListFeedbackQuery, SatisfactionQuery } from './feedback.schemas.ts';

export function feedbackResolvers({ feedback }: Services): IResolvers {
  return {
    Query: {
      feedback: async (_root, { id }: { id: string }, { actor }) => {
        try {
          return await feedback.get(authorize(actor, 'interactions:read'), idArg(id));
        } catch (error) {
          if (isAppError(error) && error.code === 'feedback_not_found') return null;
          throw error;
        }
      },
      feedbacks: async (
        _root,
        args: { filter?: Record<string, unknown>; first: number; after?: string },
        { actor },
      ) => {
        const tenant = authorize(actor, 'interactions:read');
        const { limit, cursor, ...filter } = listArgs(ListFeedbackQuery, args);
        return toConnection(await feedback.list(tenant, filter, limit, cursor));
      },
      satisfactionInsights: (_root, args: Record<string, unknown>, { actor }) => {
        const tenant = authorize(actor, 'interactions:read');
        const q = parseOrThrow(SatisfactionQuery, dropNulls(args));
        return feedback.satisfaction(tenant, q.groupBy, q.from, q.to);
      },
    },
    Mutation: {
      recordFeedback: keyedCreate('interactions:write', CreateFeedbackBody, (actor, input, key) =>
        feedback.create(actor, input, key),
      ),
    },
  } as IResolvers;
}
