import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { isoDateTime, pastTimestamp, periodInOrder, timestampOut, uuid } from '../../platform/schemas.ts';
import {
  CASE_STATUSES,
  INTERACTION_CHANNELS,
  INTERACTION_TYPES,
  RESOLUTION_OUTCOMES,
} from './interactions.table.ts';

export { CASE_STATUSES, INTERACTION_CHANNELS, INTERACTION_TYPES, RESOLUTION_OUTCOMES };

const PastTime = (what: string) => pastTimestamp(`${what}; defaults to now`);

const Tags = z.array(z.string().trim().min(1).max(50)).max(50).describe('Tags (at most 50)');
/** Stored as a 4-byte float, which cannot hold a value this close to 0 other than 0 itself. */
const Sentiment = z
  .number()
  .min(-1)
  .max(1)
  .refine((v) => v === 0 || Math.abs(v) >= 1e-6, 'must be 0, or at least 0.000001 away from it');

const Metadata = z
  .record(z.string().max(64), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m), 'utf8') <= 16_384, 'must be at most 16 KB of JSON')
  .describe('Anything else worth keeping (at most 16 KB)');

export const CreateInteractionBody = z
  .strictObject({
    customerId: uuid().describe('The customer'),
    channel: z.enum(INTERACTION_CHANNELS).describe('Where it happened'),
    direction: z.enum(['inbound', 'outbound']).describe('From the customer (inbound) or to them (outbound)'),
    type: z
      .enum(INTERACTION_TYPES)
      .describe('What it is; an inbound complaint, claim, suggestion or inquiry opens a case with an SLA'),
    subject: z.string().trim().min(1).max(300).optional().describe('Subject'),
    body: z.string().max(20_000).optional().describe('Content'),
    occurredAt: PastTime('When it happened').optional(),
    intermediaryId: uuid().optional().describe('The employee who handled it'),
    tags: Tags.optional(),
    sentiment: Sentiment.optional().describe('Sentiment from −1 (negative) to 1, given by the caller'),
    metadata: Metadata.optional(),
  })
  .meta({
    id: 'NewInteraction',
    examples: [
      {
        customerId: '01936f0e-8c2a-7d3e-9f10-3b5a2c1d4e5f',
        channel: 'email',
        direction: 'inbound',
        type: 'complaint',
        subject: 'Talla equivocada',
        body: 'Pedí un 42 y llegó un 40.',
        sentiment: -0.6,
      },
    ],
  });
export type CreateInteractionInput = z.output<typeof CreateInteractionBody>;

export const UpdateInteractionBody = z
  .strictObject({
    subject: z.string().trim().min(1).max(300).nullish().describe('Subject'),
    body: z.string().max(20_000).nullish().describe('Content'),
    intermediaryId: uuid().nullish().describe('The employee who handled it'),
    tags: Tags.optional(),
    sentiment: Sentiment.nullish().describe('Sentiment from −1 to 1'),
    metadata: Metadata.optional(),
  })
  .meta({ id: 'InteractionPatch', examples: [{ tags: ['talla'], sentiment: -0.4 }] });
export type UpdateInteractionInput = z.output<typeof UpdateInteractionBody>;

export const ReplyBody = z
  .strictObject({
    channel: z.enum(INTERACTION_CHANNELS).optional().describe('Defaults to the channel of what is answered'),
    subject: z.string().trim().min(1).max(300).optional().describe('Subject'),
    body: z.string().min(1).max(20_000).describe('The answer'),
    occurredAt: PastTime('When it was sent').optional(),
    intermediaryId: uuid().optional().describe('The employee who answered'),
  })
  .meta({ id: 'NewReply', examples: [{ body: 'Le enviamos la talla 42 hoy mismo, sin coste.' }] });
export type ReplyInput = z.output<typeof ReplyBody>;

export const TransitionBody = z
  .strictObject({
    to: z.enum(['in_progress', 'resolved', 'closed', 'reopened']).describe('The new case status'),
    resolution: z
      .strictObject({
        outcome: z.enum(RESOLUTION_OUTCOMES).describe('How it ended'),
        note: z.string().max(5000).optional().describe('What was done'),
      })
      .optional()
      .describe('Required when moving to resolved'),
  })
  .superRefine((b, ctx) => {
    if (b.to === 'resolved' && !b.resolution) {
      ctx.addIssue({ code: 'custom', path: ['resolution'], message: 'is required to resolve a case' });
    }
    if (b.to !== 'resolved' && b.resolution) {
      ctx.addIssue({ code: 'custom', path: ['resolution'], message: 'is only given when resolving' });
    }
  })
  .meta({
    id: 'CaseTransition',
    examples: [
      { to: 'resolved', resolution: { outcome: 'compensated', note: 'Cambio de talla y vale de 10 €' } },
    ],
  });
export type TransitionInput = z.output<typeof TransitionBody>;

export const CaseSchema = z
  .object({
    status: z.enum(CASE_STATUSES).describe('open → in_progress → resolved → closed (and reopened)'),
    firstResponseDueAt: z.string().describe('When the first reply is due (SLA)'),
    dueAt: z.string().describe('When the resolution is due (SLA)'),
    firstResponseAt: z
      .string()
      .nullable()
      .describe(
        'When the customer was first answered: the earliest reply, or the resolution when no reply came before it',
      ),
    resolvedAt: z.string().nullable().describe('When it was resolved'),
    closedAt: z.string().nullable().describe('When it was closed'),
    resolution: z
      .object({ outcome: z.enum(RESOLUTION_OUTCOMES), note: z.string().nullable() })
      .nullable()
      .describe('How it ended'),
    slaBreached: z.boolean().describe('Whether a first reply or the resolution came (or is) late'),
  })
  .describe('The case an inbound complaint, claim, suggestion or inquiry opens; null otherwise');

export const InteractionSchema = z
  .object({
    id: uuid().describe('Interaction id'),
    customerId: uuid().describe('The customer'),
    channel: z.enum(INTERACTION_CHANNELS).describe('Channel'),
    direction: z.enum(['inbound', 'outbound']).describe('Direction'),
    type: z.enum(INTERACTION_TYPES).describe('Type'),
    subject: z.string().nullable().describe('Subject'),
    body: z.string().nullable().describe('Content'),
    occurredAt: timestampOut('When it happened'),
    intermediaryId: uuid().nullable().describe('Who handled it'),
    tags: z.array(z.string()).describe('Tags'),
    sentiment: z.number().nullable().describe('Sentiment −1..1'),
    metadata: z.record(z.string(), z.unknown()).describe('Metadata'),
    replyTo: uuid().nullable().describe('The interaction this answers'),
    case: CaseSchema.nullable(),
    version: z.number().int().describe('Row version; the ETag is `"v<version>"`'),
    createdAt: timestampOut('Recorded'),
    updatedAt: timestampOut('Last changed'),
  })
  .meta({ id: 'Interaction' });
export type Interaction = z.infer<typeof InteractionSchema>;

export const ListInteractionsQuery = z
  .strictObject({
    customerId: uuid().optional().describe('Only this customer'),
    type: z.enum(INTERACTION_TYPES).optional().describe('Only this type'),
    channel: z.enum(INTERACTION_CHANNELS).optional().describe('Only this channel'),
    status: z.enum(CASE_STATUSES).optional().describe('Only cases in this status'),
    intermediaryId: uuid().optional().describe('Only those handled by this intermediary'),
    from: isoDateTime().optional().describe('Occurred at or after'),
    to: isoDateTime().optional().describe('Occurred before'),
    limit: limitParam,
    cursor: cursorParam,
  })
  .refine(...periodInOrder);
export type ListInteractionsFilter = Omit<z.output<typeof ListInteractionsQuery>, 'limit' | 'cursor'>;
export const InteractionPage = pageOf(InteractionSchema).meta({ id: 'InteractionPage' });

export const CustomerVoiceSchema = z
  .object({
    openCases: z
      .array(InteractionSchema)
      .describe('Cases not resolved nor closed, oldest due first (at most 50)'),
    openCaseCount: z.number().int().describe('How many cases are open'),
    lastInteractionAt: z.string().nullable().describe('The latest interaction with the customer'),
  })
  .meta({ id: 'CustomerVoice' });

export const VoiceInsightsQuery = z
  .strictObject({
    from: isoDateTime().optional().describe('Cases opened at or after'),
    to: isoDateTime().optional().describe('Cases opened before'),
  })
  .refine(...periodInOrder);
const Count = z.object({ key: z.string(), cases: z.number().int() });
export const VoiceInsightsSchema = z
  .object({
    cases: z.number().int().describe('Cases opened in the period'),
    byType: z.array(Count).describe('Cases per type'),
    byChannel: z.array(Count).describe('Cases per channel'),
    byMonth: z.array(Count).describe('Cases per month (YYYY-MM, tenant time zone)'),
    answeredWithinSla: z
      .number()
      .nullable()
      .describe(
        'Share (0–1) of cases whose first reply came by its due time, among those answered or overdue',
      ),
    medianFirstResponseHours: z.number().nullable().describe('Median hours to the first reply'),
    medianResolutionHours: z.number().nullable().describe('Median hours to the resolution'),
    openBacklog: z
      .array(z.object({ age: z.enum(['<1d', '1-3d', '3-7d', '>7d']), cases: z.number().int() }))
      .describe('Open cases now, by age'),
  })
  .meta({ id: 'VoiceInsights' });
export type VoiceInsights = z.infer<typeof VoiceInsightsSchema>;
