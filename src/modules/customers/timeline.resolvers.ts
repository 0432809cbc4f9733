import type { IResolvers } from 'mercurius';
import { requireScopes } from '../../platform/auth.ts';
import { authorize, firstArg, toConnection } from '../../platform/graphql.ts';
import type { Services } from '../services.ts';
import type { Customer } from './customers.schemas.ts';
import { KINDS_NEEDING_INTERACTIONS } from './timeline.routes.ts';

export function timelineResolvers({ timeline }: Services): IResolvers {
  return {
    Customer: {
      timeline: async (
        customer: Customer,
        args: { first: number; after?: string; kinds?: string[] },
        { actor },
      ) => {
        const tenant = authorize(actor, 'customers:read');
        if (args.kinds?.some((k) => KINDS_NEEDING_INTERACTIONS.has(k)))
          requireScopes(actor, ['interactions:read']);
        const kinds =
          args.kinds ??
          timeline.kinds.filter(
            (k) => actor.scopes.has('interactions:read') || !KINDS_NEEDING_INTERACTIONS.has(k),
          );
        return toConnection(
          await timeline.timeline(tenant, customer.id, {
            kinds,
            limit: firstArg(args.first),
            cursor: args.after ?? undefined,
          }),
        );
      },
    },
  } as IResolvers;
}
