import type { IResolvers } from 'mercurius';
import { authorize } from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Services } from '../services.ts';
import { UpdateSettingsBody } from './tenants.schemas.ts';

export function tenantsResolvers({ tenants }: Services): IResolvers {
  return {
    Query: {
      viewer: (_root, _args, { actor }) => ({
        subject: actor.sub,
        tenantId: actor.tenantId,
        scopes: [...actor.scopes],
      }),
      settings: (_root, _args, { actor }) => tenants.getSettings(authorize(actor, 'admin')),
    },
    Mutation: {
      updateSettings: (_root, { input }: { input: Record<string, unknown> }, { actor }) =>
        tenants.updateSettings(
          authorize(actor, 'admin'),
          parseOrThrow(
            UpdateSettingsBody,
            Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null)),
            'input',
          ),
        ),
    },
  } as IResolvers;
}
