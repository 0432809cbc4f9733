import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { isoDateTime, timestampOut, uuid } from '../../platform/schemas.ts';
import { CUSTOMER_STATUSES } from '../customers/customers.schemas.ts';
import { shift } from '../segments/segments.compiler.ts';
import { TIERS } from '../tenants/tenants.schemas.ts';
import { CAMPAIGN_KINDS, CAMPAIGN_STATUSES, CHANNELS, MESSAGE_STATUSES } from './campaigns.table.ts';

const DURATION_RE = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;
const Duration = z.string().regex(DURATION_RE, 'must be an ISO 8601 duration such as P1W');

const REFERENCE = new Date('2001-01-01T00:00:00Z');

const TEN_YEARS_MS = shift(REFERENCE, 'P10Y', 1).getTime() - REFERENCE.getTime();

/**
 * On a create or a change only (a campaign stored before the rule still reads): a repeat of at
 * least an hour and at most ten years (a longer one runs past the dates a schedule can hold). A
 * malformed duration is the format check's to report.
 */
const repeatAtLeastAnHour = (body: { trigger?: { type: string; every?: string } }, ctx: z.RefinementCtx) => {
  const every = body.trigger?.type === 'scheduled' ? body.trigger.every : undefined;
  if (!every || !DURATION_RE.test(every)) return;
  // an invalid date (a duration past the dates JavaScript has) is NaN, which no comparison passes
  const ms = shift(REFERENCE, every, 1).getTime() - REFERENCE.getTime();
  if (!(ms >= 3_600_000 && ms <= TEN_YEARS_MS))
    ctx.addIssue({
      code: 'custom',
      path: ['trigger', 'every'],
      message: ms < 3_600_000 ? 'must be at least an hour (PT1H)' : 'must be at most ten years (P10Y)',
    });
};

export const TriggerSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('scheduled'),
      at: isoDateTime().optional().describe('When to send (default: at launch)'),
      every: Duration.optional().describe('Repeat this often after `at` (e.g. P1M; at least PT1H)'),
    }),
    z.object({ type: z.literal('segment_entered'), segmentId: uuid().describe('The segment') }),
    z.object({
      type: z.literal('status_changed'),
      from: z.enum(CUSTOMER_STATUSES).optional(),
      to: z.enum(CUSTOMER_STATUSES).optional().describe('e.g. inactive, for reactivation'),
    }),
    z.object({ type: z.literal('case_resolved').describe('Recovery after a complaint or claim') }),
    z.object({ type: z.literal('first_order').describe('Welcome') }),
    z.object({ type: z.literal('birthday'), daysBefore: z.number().int().min(0).max(60).default(0) }),
    z.object({ type: z.literal('tier_changed'), to: z.enum(TIERS).optional().describe('e.g. vip') }),
  ])
  .describe('What makes a customer enter the campaign');

export const VariantSchema = z
  .object({
    key: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'lower-case letters, digits, - and _')
      .describe('Unique in the campaign'),
    name: z.string().max(200).optional(),
    segmentId: uuid().optional().describe('Only for members of this segment (else: the default variant)'),
    subject: z.string().max(500).optional().describe('Liquid template'),
    body: z
      .string()
      .min(1)
      .max(20_000)
      .describe('Liquid template: {{ customer.firstName }}, {{ offer.code }}, …'),
    offer: z
      .object({ code: z.string().max(100).optional(), description: z.string().max(1000).optional() })
      .optional(),
  })
  .strict();

const CampaignFields = {
  name: z.string().trim().min(1).max(200),
  kind: z.enum(CAMPAIGN_KINDS),
  channel: z.enum(CHANNELS),
  segmentIds: z
    .array(uuid())
    .max(50)
    .describe('Audience: members of any of these segments (empty: anyone the trigger brings)'),
  excludeSegmentIds: z.array(uuid()).max(50).describe('Never for members of these'),
  trigger: TriggerSchema,
  variants: z
    .array(VariantSchema)
    .min(1)
    .max(20)
    .describe('The first variant whose segment the customer is in; else the first without a segment'),
  holdoutPercent: z.number().int().min(0).max(50).describe('Control group share (0–50)'),
  attributionWindowDays: z
    .number()
    .int()
    .min(1)
    .max(365)
    .describe('Orders this many days after a message count as its conversions'),
  startsAt: isoDateTime().nullable(),
  endsAt: isoDateTime().nullable(),
};

export const CreateCampaignBody = z
  .object({
    ...CampaignFields,
    segmentIds: CampaignFields.segmentIds.default([]),
    excludeSegmentIds: CampaignFields.excludeSegmentIds.default([]),
    holdoutPercent: CampaignFields.holdoutPercent.default(0),
    attributionWindowDays: CampaignFields.attributionWindowDays.default(7),
    startsAt: CampaignFields.startsAt.optional(),
    endsAt: CampaignFields.endsAt.optional(),
  })
  .strict()
  .superRefine(repeatAtLeastAnHour)
  .meta({
    id: 'CreateCampaign',
    examples: [
      {
        name: 'Come back',
        kind: 'reactivation',
        channel: 'email',
        trigger: { type: 'status_changed', to: 'inactive' },
        variants: [
          {
            key: 'default',
            subject: 'We miss you, {{ customer.firstName }}',
            body: 'Use {{ offer.code }} for 15 % off.',
            offer: { code: 'VUELVE15', description: '15 % off' },
          },
        ],
        holdoutPercent: 10,
      },
    ],
  });
export type CreateCampaignInput = z.infer<typeof CreateCampaignBody>;

export const UpdateCampaignBody = z
  .object(
    Object.fromEntries(Object.entries(CampaignFields).map(([k, v]) => [k, v.optional()])) as {
      [K in keyof typeof CampaignFields]: z.ZodOptional<(typeof CampaignFields)[K]>;
    },
  )
  .strict()
  .superRefine(repeatAtLeastAnHour)
  .meta({ id: 'UpdateCampaign', examples: [{ holdoutPercent: 20 }] });
export type UpdateCampaignInput = z.infer<typeof UpdateCampaignBody>;

export const CampaignSchema = z
  .object({
    id: uuid(),
    ...CampaignFields,
    status: z.enum(CAMPAIGN_STATUSES).describe('draft, scheduled, running, paused, completed, archived'),
    launchedAt: timestampOut('Launched').nullable(),
    nextRunAt: timestampOut('The next run of a scheduled trigger').nullable(),
    version: z.number().int(),
    createdAt: timestampOut('Created'),
    updatedAt: timestampOut('Last changed'),
  })
  .meta({ id: 'Campaign' });
export type Campaign = z.infer<typeof CampaignSchema>;
export const CampaignPage = pageOf(CampaignSchema).meta({ id: 'CampaignPage' });
export const ListCampaignsQuery = z.object({
  status: z.enum(CAMPAIGN_STATUSES).optional(),
  limit: limitParam,
  cursor: cursorParam,
});

export const CAMPAIGN_ACTIONS = ['launch', 'pause', 'resume', 'complete', 'archive'] as const;
export type CampaignAction = (typeof CAMPAIGN_ACTIONS)[number];
export const ActionParams = z.object({ id: uuid(), action: z.enum(CAMPAIGN_ACTIONS) });

export const PreviewBody = z
  .object({ customerId: uuid().describe('Whose message to render') })
  .strict()
  .meta({ id: 'CampaignPreviewRequest', examples: [{ customerId: '01936f0e-8c2a-7d3e-9f10-3b5a2c1d4e5f' }] });

export const RenderedSchema = z
  .object({
    variant: z.string().nullable(),
    subject: z.string().nullable(),
    body: z.string().nullable(),
    to: z.string().nullable().describe('The contact for the channel'),
    decision: z
      .enum(['queued', 'skipped', 'held_out', 'failed'])
      .describe('What entering the campaign now would do'),
    reason: z.string().nullable().describe('Why it would be skipped or fail'),
  })
  .meta({ id: 'CampaignPreview' });
export type Rendered = z.infer<typeof RenderedSchema>;

export const MessageSchema = z
  .object({
    id: uuid(),
    campaignId: uuid(),
    customerId: uuid(),
    status: z.enum(MESSAGE_STATUSES),
    reason: z.string().nullable().describe('Why skipped or failed'),
    variant: z.string().nullable(),
    subject: z.string().nullable(),
    body: z.string().nullable(),
    enteredAt: timestampOut('When the customer entered the campaign'),
    deliveredAt: timestampOut('Delivered').nullable(),
    openedAt: timestampOut('Opened').nullable(),
    clickedAt: timestampOut('Clicked').nullable(),
  })
  .meta({ id: 'CampaignMessage' });
export type Message = z.infer<typeof MessageSchema>;
export const MessagePage = pageOf(MessageSchema).meta({ id: 'CampaignMessagePage' });
export const ListMessagesQuery = z.object({
  status: z.enum(MESSAGE_STATUSES).optional(),
  limit: limitParam,
  cursor: cursorParam,
});

export const MESSAGE_EVENT_TYPES = [
  'delivered',
  'opened',
  'clicked',
  'bounced',
  'complained',
  'unsubscribed',
  'failed',
] as const;
export const MessageEventsBody = z
  .object({
    items: z
      .array(
        z
          .object({
            messageId: uuid(),
            type: z.enum(MESSAGE_EVENT_TYPES),
            occurredAt: isoDateTime(),
          })
          .strict(),
      )
      .min(1)
      .max(1000),
  })
  .strict()
  .meta({
    id: 'MessageEvents',
    examples: [
      {
        items: [
          {
            messageId: '01936f0e-c1b2-7c3d-8e4f-5a6b7c8d9e0f',
            type: 'opened',
            occurredAt: '2026-03-01T10:00:00Z',
          },
        ],
      },
    ],
  });
export const MessageEventsResult = z
  .object({
    results: z.array(
      z.object({
        messageId: z.string(),
        status: z.enum(['recorded', 'error']),
        error: z.object({ code: z.string(), detail: z.string() }).optional(),
      }),
    ),
  })
  .meta({ id: 'MessageEventsResult' });

const Arm = z.object({
  customers: z.number().int(),
  converted: z.number().int(),
  conversionRate: z.number().nullable(),
  revenue: z.number().int().describe('Attributed net revenue, minor units'),
  revenuePerCustomer: z.number().nullable(),
});
const Lift = z.object({
  absolute: z.number().nullable().describe('Treatment − control conversion rate'),
  relative: z.number().nullable().describe('Absolute lift ÷ control rate'),
  ci95: z.tuple([z.number(), z.number()]).nullable().describe('95 % interval of the absolute lift'),
  pValue: z.number().nullable().describe('Two-proportion z-test, two-sided'),
});
export const ReportSchema = z
  .object({
    campaignId: uuid(),
    enrolled: z.number().int(),
    heldOut: z.number().int(),
    skipped: z.record(z.string(), z.number().int()).describe('By reason'),
    failed: z.number().int(),
    sent: z.number().int(),
    delivered: z.number().int(),
    opened: z.number().int(),
    clicked: z.number().int(),
    converted: z.number().int(),
    revenue: z.number().int(),
    treatment: Arm,
    control: Arm,
    lift: Lift,
    variants: z.array(z.object({ variant: z.string(), treatment: Arm, lift: Lift })),
    reactivation: z
      .object({ treatment: z.number().nullable(), control: z.number().nullable() })
      .nullable()
      .describe('Reactivation campaigns: the share of targeted inactive customers active again'),
    recovery: z
      .object({ treatment: z.number().nullable(), control: z.number().nullable() })
      .nullable()
      .describe('Recovery campaigns: the share of targeted customers kept (bought again, not inactive)'),
    attribution: z.string().describe('How conversions are attributed'),
  })
  .meta({ id: 'CampaignReport' });
export type Report = z.infer<typeof ReportSchema>;
