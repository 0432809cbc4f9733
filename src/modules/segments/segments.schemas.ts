import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';
import { CustomerSchema } from '../customers/customers.schemas.ts';

const EXAMPLE_DEFINITION = {
  version: 1,
  all: [
    { field: 'country', op: 'eq', value: 'ES' },
    {
      any: [
        { field: 'scores.tier', op: 'in', value: ['vip', 'gold'] },
        { field: 'scores.r', op: 'gte', value: 4 },
      ],
    },
    { orders: { within: 'P90D', where: { category: 'shoes' }, count: { gte: 2 } } },
  ],
};

export const DefinitionSchema = z
  .record(z.string(), z.unknown())
  .describe(
    'A segment definition in the segment language, version 1 (its JSON Schema: GET /v1/segments/schema; examples in the README)',
  )
  .meta({ examples: [EXAMPLE_DEFINITION] });

export const SEGMENT_KINDS = ['dynamic', 'static'] as const;

export const SegmentSchema = z
  .object({
    id: uuid().describe('Segment id'),
    name: z.string().describe('Unique name in the tenant'),
    description: z.string().nullable().describe('What the segment is for'),
    kind: z
      .enum(SEGMENT_KINDS)
      .describe('`dynamic`: members follow the definition; `static`: a hand-kept list'),
    definition: DefinitionSchema.nullable().describe('The definition (dynamic segments)'),
    dependsOn: z.array(uuid()).describe('Segments the definition refers to'),
    refreshEveryMinutes: z
      .number()
      .int()
      .nullable()
      .describe('A full refresh this often, besides the nightly one and the one after each score recompute'),
    memberCount: z.number().int().describe('Members now'),
    refreshedAt: timestampOut('Last full refresh').nullable(),
    lastError: z
      .string()
      .nullable()
      .describe('Why the last evaluation failed (e.g. a custom attribute was deleted)'),
    version: z.number().int().describe('Row version (ETag)'),
    createdAt: timestampOut('Created'),
    updatedAt: timestampOut('Last changed'),
  })
  .meta({ id: 'Segment' });
export type Segment = z.infer<typeof SegmentSchema>;

const Name = z.string().trim().min(1).max(200).describe('Unique name in the tenant');
const Description = z.string().max(2000).nullable().optional().describe('What the segment is for');
const RefreshEvery = z
  .number()
  .int()
  .min(15)
  .max(10_080)
  .nullable()
  .optional()
  .describe('A scheduled full refresh every N minutes (15 to 10080), for time-relative conditions');

export const CreateSegmentBody = z
  .object({
    name: Name,
    description: Description,
    kind: z.enum(SEGMENT_KINDS).default('dynamic').describe('dynamic (default) or static'),
    definition: DefinitionSchema.optional().describe(
      'Required for dynamic segments, refused for static ones',
    ),
    refreshEveryMinutes: RefreshEvery,
  })
  .strict()
  .meta({ id: 'CreateSegment', examples: [{ name: 'Spanish shoe lovers', definition: EXAMPLE_DEFINITION }] });
export type CreateSegmentInput = z.infer<typeof CreateSegmentBody>;

export const UpdateSegmentBody = z
  .object({
    name: Name.optional(),
    description: Description,
    definition: DefinitionSchema.optional().describe(
      'A new definition (dynamic segments): members are recomputed',
    ),
    refreshEveryMinutes: RefreshEvery,
  })
  .strict()
  .meta({
    id: 'UpdateSegment',
    examples: [{ description: 'Customers for the spring shoe campaign', refreshEveryMinutes: 60 }],
  });
export type UpdateSegmentInput = z.infer<typeof UpdateSegmentBody>;

export const ListSegmentsQuery = z.object({ limit: limitParam, cursor: cursorParam });
export const SegmentPage = pageOf(SegmentSchema).meta({ id: 'SegmentPage' });

export const PreviewBody = z
  .object({
    definition: DefinitionSchema,
    sampleSize: z.number().int().min(0).max(100).default(20).describe('How many members to show (by id)'),
  })
  .strict()
  .meta({ id: 'PreviewSegment', examples: [{ definition: EXAMPLE_DEFINITION, sampleSize: 10 }] });

export const PreviewSchema = z
  .object({
    count: z.number().int().describe('Customers matching the definition now'),
    sample: z.array(CustomerSchema).describe('The first matching customers by id'),
    sql: z.string().optional().describe('The generated SQL (admin only): values are bound parameters'),
    params: z.array(z.unknown()).optional().describe('Its parameters (admin only)'),
    plan: z
      .unknown()
      .optional()
      .describe('PostgreSQL’s plan for the count, EXPLAIN (FORMAT JSON) (admin only)'),
  })
  .meta({ id: 'SegmentPreview' });
export type Preview = z.infer<typeof PreviewSchema>;

export const MemberSchema = z
  .object({
    customer: CustomerSchema,
    enteredAt: timestampOut('When the customer entered the segment'),
  })
  .meta({ id: 'SegmentMember' });
export type Member = z.infer<typeof MemberSchema>;
export const MembersQuery = z.object({ limit: limitParam, cursor: cursorParam });
export const MemberPage = pageOf(MemberSchema).meta({ id: 'SegmentMemberPage' });

export const MembersBody = z
  .object({
    customerIds: z.array(uuid()).min(1).max(1000).describe('Customers to add or remove (up to 1000)'),
  })
  .strict()
  .meta({
    id: 'SegmentMembersChange',
    examples: [{ customerIds: ['01936f0e-c1b2-7c3d-8e4f-5a6b7c8d9e0f'] }],
  });

export const MembersChangedSchema = z
  .object({
    added: z.number().int().describe('Customers who entered'),
    removed: z.number().int().describe('Customers who left'),
    memberCount: z.number().int().describe('Members now'),
  })
  .meta({ id: 'SegmentMembersChanged' });

export const HistoryEntrySchema = z
  .object({
    id: uuid().describe('Entry id (time-ordered)'),
    segmentId: uuid().describe('The segment'),
    customerId: uuid().describe('The customer'),
    change: z.enum(['entered', 'exited']).describe('What happened'),
    reason: z
      .enum(['change', 'refresh', 'manual'])
      .describe('change: the customer’s data changed; refresh: a full refresh; manual: a static list edit'),
    at: timestampOut('When'),
  })
  .meta({ id: 'SegmentHistoryEntry' });
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;
export const HistoryQuery = z.object({ limit: limitParam, cursor: cursorParam });
export const HistoryPage = pageOf(HistoryEntrySchema).meta({ id: 'SegmentHistoryPage' });

export const CustomerSegmentSchema = z
  .object({
    segment: z.object({ id: uuid(), name: z.string(), kind: z.enum(SEGMENT_KINDS) }).describe('The segment'),
    enteredAt: timestampOut('When the customer entered it'),
  })
  .meta({ id: 'CustomerSegment' });
export type CustomerSegment = z.infer<typeof CustomerSegmentSchema>;
export const CustomerSegmentList = z
  .object({ data: z.array(CustomerSegmentSchema) })
  .meta({ id: 'CustomerSegmentList' });

export const SegmentReadSchema = z
  .object({
    id: uuid(),
    actor: z.string().describe('The partner token’s subject'),
    format: z.string().describe('json, csv or ndjson'),
    rows: z.number().int().describe('Members returned'),
    at: timestampOut('When'),
  })
  .meta({ id: 'SegmentRead' });
export const SegmentReadPage = pageOf(SegmentReadSchema).meta({ id: 'SegmentReadPage' });
