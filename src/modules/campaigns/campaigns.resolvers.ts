import type { IResolvers } from 'mercurius';
import { authorize, firstArg, idArg, toConnection } from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Services } from '../services.ts';
import {
  type Campaign,
  type CampaignAction,
  CreateCampaignBody,
  ListCampaignsQuery,
  ListMessagesQuery,
  UpdateCampaignBody,
} from './campaigns.schemas.ts';

type PageArgs = { first: number; after?: string | null; status?: string | null };

export function campaignsResolvers({ campaigns }: Services): IResolvers {
  return {
    Query: {
      campaigns: async (_root, args: PageArgs, { actor }) => {
        const tenant = authorize(actor, 'campaigns:read');
        const q = parseOrThrow(
          ListCampaignsQuery,
          { status: args.status ?? undefined, limit: firstArg(args.first) },
          '',
        );
        return toConnection(await campaigns.list(tenant, q.status, q.limit, args.after ?? undefined));
      },
      campaign: async (_root, { id }: { id: string }, { actor }) => {
        try {
          return await campaigns.get(authorize(actor, 'campaigns:read'), idArg(id));
        } catch (error) {
          if ((error as { code?: string }).code === 'campaign_not_found') return null;
          throw error;
        }
      },
    },
    Mutation: {
      createCampaign: (_root, { input }: { input: unknown }, { actor }) =>
        campaigns.create(
          authorize(actor, 'campaigns:write'),
          parseOrThrow(CreateCampaignBody, input, 'input'),
        ),
      updateCampaign: (_root, args: { id: string; input: unknown; ifMatch?: string | null }, { actor }) =>
        campaigns.update(
          authorize(actor, 'campaigns:write'),
          idArg(args.id),
          parseOrThrow(UpdateCampaignBody, args.input, 'input'),
          args.ifMatch ?? undefined,
        ),
      campaignAction: (_root, args: { id: string; action: CampaignAction }, { actor }) =>
        campaigns.act(authorize(actor, 'campaigns:write'), idArg(args.id), args.action),
    },
    Campaign: {
      report: (campaign: Campaign, _args, { actor }) =>
        campaigns.report(authorize(actor, 'campaigns:read'), campaign.id),
      messages: async (campaign: Campaign, args: PageArgs, { actor }) => {
        const tenant = authorize(actor, 'campaigns:read');
        const q = parseOrThrow(
          ListMessagesQuery,
          { status: args.status ?? undefined, limit: firstArg(args.first) },
          '',
        );
        return toConnection(
          await campaigns.messages(tenant, campaign.id, q.status, q.limit, args.after ?? undefined),
        );
      },
    },
  } as IResolvers;
}
