import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { isoDateTime, pastTimestamp, periodInOrder, timestampOut, uuid } from '../../platform/schemas.ts';
import { FEEDBACK_DIMENSIONS } from './feedback.table.ts';

export { FEEDBACK_DIMENSIONS };

const Scale = (min: number, max: number, what: string) => z.number().int().min(min).max(max).describe(what);

export const CreateFeedbackBody = z
  .strictObject({
    customerId: uuid().describe('The customer'),
    interactionId: uuid().optional().describe('The interaction it is about'),
    orderId: uuid().optional().describe('The order it is about'),
    dimension: z
      .enum(FEEDBACK_DIMENSIONS)
      .default('overall')
      .describe(
        'overall, or a SERVQUAL dimension: reliability, responsiveness, assurance, empathy, tangibles',
      ),
    expectation: Scale(1, 7, 'What the customer expected, 1–7'),
    perception: Scale(1, 7, 'What the customer perceived, 1–7 (the gap perception − expectation is derived)'),
    nps: Scale(0, 10, 'Likelihood to recommend, 0–10').optional(),
    csat: Scale(1, 5, 'Satisfaction, 1–5').optional(),
    comment: z.string().max(5000).optional().describe('What the customer said'),
    channel: z.string().trim().min(1).max(50).optional().describe('Where it was collected (survey, email…)'),
    occurredAt: pastTimestamp('When it was given; defaults to now').optional(),
  })
  .meta({
    id: 'NewFeedback',
    examples: [
      {
        customerId: '01936f0e-8c2a-7d3e-9f10-3b5a2c1d4e5f',
        dimension: 'responsiveness',
        expectation: 6,
        perception: 4,
        nps: 7,
        csat: 3,
      },
    ],
  });
export type CreateFeedbackInput = z.output<typeof CreateFeedbackBody>;

export const FeedbackSchema = z
  .object({
    id: uuid().describe('Feedback id'),
    customerId: uuid().describe('The customer'),
    interactionId: uuid().nullable().describe('The interaction it is about'),
    orderId: uuid().nullable().describe('The order it is about'),
    dimension: z.enum(FEEDBACK_DIMENSIONS).describe('Dimension'),
    expectation: z.number().int().describe('Expectation 1–7'),
    perception: z.number().int().describe('Perception 1–7'),
    gap: z.number().int().describe('perception − expectation: below 0, worse than expected'),
    nps: z.number().int().nullable().describe('NPS answer 0–10'),
    csat: z.number().int().nullable().describe('CSAT answer 1–5'),
    comment: z.string().nullable().describe('Comment'),
    channel: z.string().nullable().describe('Channel'),
    occurredAt: timestampOut('Given'),
    createdAt: timestampOut('Recorded'),
  })
  .meta({ id: 'Feedback' });
export type Feedback = z.infer<typeof FeedbackSchema>;

export const ListFeedbackQuery = z
  .strictObject({
    customerId: uuid().optional().describe('Only this customer'),
    dimension: z.enum(FEEDBACK_DIMENSIONS).optional().describe('Only this dimension'),
    from: isoDateTime().optional().describe('Given at or after'),
    to: isoDateTime().optional().describe('Given before'),
    limit: limitParam,
    cursor: cursorParam,
  })
  .refine(...periodInOrder);
export type ListFeedbackFilter = Omit<z.output<typeof ListFeedbackQuery>, 'limit' | 'cursor'>;
export const FeedbackPage = pageOf(FeedbackSchema).meta({ id: 'FeedbackPage' });

export const SatisfactionQuery = z
  .strictObject({
    groupBy: z
      .enum(['dimension', 'month', 'channel', 'intermediary'])
      .default('dimension')
      .describe('How to group'),
    from: isoDateTime().optional().describe('Given at or after'),
    to: isoDateTime().optional().describe('Given before'),
  })
  .refine(...periodInOrder);
export const SatisfactionSchema = z
  .object({
    groupBy: z.string().describe('The grouping'),
    groups: z.array(
      z.object({
        key: z.string().nullable().describe('The group (null: none, e.g. no intermediary)'),
        responses: z.number().int().describe('Feedback records'),
        meanExpectation: z.number().describe('Mean expectation'),
        meanPerception: z.number().describe('Mean perception'),
        meanGap: z.number().describe('Mean gap (perception − expectation)'),
        npsResponses: z.number().int().describe('Records with an NPS answer'),
        nps: z.number().nullable().describe('% promoters (9–10) − % detractors (0–6), −100..100'),
        csatResponses: z.number().int().describe('Records with a CSAT answer'),
        csat: z.number().nullable().describe('% of CSAT answers that are 4 or 5'),
        meanCsat: z.number().nullable().describe('Mean CSAT answer'),
      }),
    ),
  })
  .meta({ id: 'SatisfactionInsights' });
export type Satisfaction = z.infer<typeof SatisfactionSchema>;
