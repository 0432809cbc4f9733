import type { IResolvers, MercuriusLoaders } from 'mercurius';
import { authorize, dropNulls, firstArg, idArg, toConnection } from '../../platform/graphql.ts';
import { parseOrThrow } from '../../platform/problem.ts';
import type { Customer } from '../customers/customers.schemas.ts';
import type { Services } from '../services.ts';
import {
  CreateSegmentBody,
  MembersBody,
  PreviewBody,
  type Segment,
  UpdateSegmentBody,
} from './segments.schemas.ts';

type PageArgs = { first: number; after?: string | null };

export function segmentsResolvers({ segments }: Services): IResolvers {
  return {
    Query: {
      segments: async (_root, args: PageArgs, { actor }) =>
        toConnection(
          await segments.list(
            authorize(actor, 'segments:read'),
            firstArg(args.first),
            args.after ?? undefined,
          ),
        ),
      segment: async (_root, { id }: { id: string }, { actor }) => {
        try {
          return await segments.get(authorize(actor, 'segments:read'), idArg(id));
        } catch (error) {
          if ((error as { code?: string }).code === 'segment_not_found') return null;
          throw error;
        }
      },
      previewSegment: async (_root, args: { definition: unknown; sampleSize?: number | null }, { actor }) => {
        const tenant = authorize(actor, 'segments:write');
        const body = parseOrThrow(PreviewBody, dropNulls(args), '');
        const preview = await segments.preview(tenant, body.definition, body.sampleSize);
        return { ...preview, sql: preview.sql ?? null, plan: preview.plan ?? null };
      },
    },
    Mutation: {
      createSegment: (_root, { input }: { input: Record<string, unknown> }, { actor }) =>
        segments.create(
          authorize(actor, 'segments:write'),
          parseOrThrow(CreateSegmentBody, dropNulls(input), 'input'),
        ),
      updateSegment: (
        _root,
        args: { id: string; input: Record<string, unknown>; ifMatch?: string | null },
        { actor },
      ) =>
        segments.update(
          authorize(actor, 'segments:write'),
          idArg(args.id),
          // an explicit null clears description and refreshEveryMinutes
          parseOrThrow(UpdateSegmentBody, args.input, 'input'),
          args.ifMatch ?? undefined,
        ),
      deleteSegment: async (_root, { id }: { id: string }, { actor }) => {
        await segments.remove(authorize(actor, 'segments:write'), idArg(id));
        return true;
      },
      refreshSegment: (_root, { id }: { id: string }, { actor }) =>
        segments.requestRefresh(authorize(actor, 'segments:write'), idArg(id)),
      addSegmentMembers: (_root, args: { id: string; customerIds: string[] }, { actor }) =>
        segments.changeMembers(
          authorize(actor, 'segments:write'),
          idArg(args.id),
          parseOrThrow(MembersBody, { customerIds: args.customerIds }, '').customerIds,
          true,
        ),
      removeSegmentMembers: (_root, args: { id: string; customerIds: string[] }, { actor }) =>
        segments.changeMembers(
          authorize(actor, 'segments:write'),
          idArg(args.id),
          parseOrThrow(MembersBody, { customerIds: args.customerIds }, '').customerIds,
          false,
        ),
    },
    Segment: {
      count: (segment: Segment) => segment.memberCount,
      members: async (segment: Segment, args: PageArgs, { actor }) => {
        const page = await segments.members(
          authorize(actor, 'segments:read'),
          segment.id,
          firstArg(args.first),
          args.after ?? undefined,
        );
        const connection = toConnection({
          ...page,
          data: page.data.map((m) => ({ ...m, id: m.customer.id })),
        });
        return connection;
      },
      history: async (segment: Segment, args: PageArgs, { actor }) =>
        toConnection(
          await segments.history(
            authorize(actor, 'segments:read'),
            segment.id,
            firstArg(args.first),
            args.after ?? undefined,
          ),
        ),
    },
  } as IResolvers;
}

export function segmentsLoaders({ segments }: Services): MercuriusLoaders {
  return {
    Customer: {
      // one read for all the customers of a response
      segments: async (queries: { obj: Customer }[], { actor }) => {
        const tenant = authorize(actor, 'segments:read');
        const found = await segments.segmentsOfMany(
          tenant,
          queries.map((q) => q.obj.id),
        );
        const full = new Map(
          (
            await segments.getMany(tenant, [...new Set([...found.values()].flat().map((s) => s.segment.id))])
          ).map((s) => [s.id, s]),
        );
        return queries.map((q) =>
          (found.get(q.obj.id) ?? []).map((s) => ({
            segment: full.get(s.segment.id),
            enteredAt: s.enteredAt,
          })),
        );
      },
    },
  } as MercuriusLoaders;
}
