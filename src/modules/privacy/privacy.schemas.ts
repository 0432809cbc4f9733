import { z } from 'zod';
import { timestampOut, uuid } from '../../platform/schemas.ts';
import { MessageSchema } from '../campaigns/campaigns.schemas.ts';
import { ConsentChangeSchema, CustomerSchema, StatusChangeSchema } from '../customers/customers.schemas.ts';
import { FeedbackSchema } from '../feedback/feedback.schemas.ts';
import { InteractionSchema } from '../interactions/interactions.schemas.ts';
import { OrderSchema } from '../orders/orders.schemas.ts';
import { CustomerScoresSchema, TierChangeSchema } from '../scores/scores.schemas.ts';
import { CustomerSegmentSchema, HistoryEntrySchema } from '../segments/segments.schemas.ts';

/** Everything held about one customer (GDPR articles 15 and 20), as one JSON document. */
export const CustomerExportSchema = z
  .object({
    exportedAt: timestampOut('When this export was made'),
    format: z.literal('vinculo.customer-export/1').describe('The document’s format and version'),
    customer: CustomerSchema.describe('The profile, personal data included'),
    consentHistory: z.array(ConsentChangeSchema).describe('Every consent given or withdrawn'),
    orders: z.array(OrderSchema).describe('Every order, oldest first'),
    interactions: z.array(InteractionSchema).describe('Every interaction and case, oldest first'),
    feedback: z.array(FeedbackSchema).describe('Every satisfaction answer, oldest first'),
    scores: CustomerScoresSchema.describe('The customer’s current scores'),
    statusHistory: z.array(StatusChangeSchema).describe('Every change of status and phase'),
    tierHistory: z.array(TierChangeSchema).describe('Every change of tier'),
    segments: z.array(CustomerSegmentSchema).describe('The segments the customer is in'),
    segmentHistory: z
      .array(HistoryEntrySchema)
      .describe('Every entry into and exit from a segment, newest first'),
    campaignMessages: z.array(MessageSchema).describe('Every campaign decision and message, newest first'),
  })
  .meta({ id: 'CustomerExport' });
export type CustomerExport = z.infer<typeof CustomerExportSchema>;

export const ErasureSchema = z
  .object({
    customerId: uuid().describe('The erased customer'),
    erasedAt: timestampOut('When the personal data was removed'),
    requestedBy: z.string().describe('The client (token subject) that asked'),
  })
  .meta({ id: 'Erasure' });
export type Erasure = z.infer<typeof ErasureSchema>;
