import { z } from 'zod';
import { MoneySchema } from '../../platform/money.ts';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { ProblemSchema } from '../../platform/problem.ts';
import { isoDateTime, pastTimestamp, startBeforeEnd, timestampOut, uuid } from '../../platform/schemas.ts';
import { CreateCustomerBody } from '../customers/customers.schemas.ts';

export const ORDER_STATUSES = [
  'placed',
  'paid',
  'fulfilled',
  'cancelled',
  'refunded',
  'partially_refunded',
] as const;
export const ORDER_CHANNELS = [
  'web',
  'app',
  'store',
  'marketplace',
  'phone',
  'distributor',
  'social',
  'other',
] as const;
export const ORDER_BATCH_MAX = 1000;
const Timestamp = (what: string) =>
  pastTimestamp(what).refine(
    (t) => Date.parse(t) >= Date.parse('1970-01-01T00:00:00Z'),
    'must be after 1970',
  );

export const OrderItemSchema = z
  .strictObject({
    sku: z.string().trim().min(1).max(100).describe('Product code'),
    name: z.string().trim().min(1).max(300).optional().describe('Product name'),
    category: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .optional()
      .describe('Product category (segments filter on it)'),
    quantity: z.number().int().min(1).max(100_000).describe('Units'),
    unitPrice: MoneySchema.describe('Price of one unit, in the order’s currency, taxes included'),
  })
  .meta({ id: 'OrderItem' });

const CustomerIdentity = CreateCustomerBody.refine(
  (c) => Boolean(c.externalId || c.email || c.phone),
  'needs at least one of externalId, email or phone to match or create the customer',
).describe(
  'The customer by identity: matched by externalId, else email, else phone; created with these profile fields when none matches',
);

export const RecordOrderBody = z
  .strictObject({
    source: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .describe(
        'Where the order comes from, e.g. `shopify`, `pos-madrid`; with externalId, unique per tenant',
      ),
    externalId: z.string().trim().min(1).max(200).describe('The order’s id in its source'),
    customerId: uuid().optional().describe('The customer, when you know Vínculo’s id'),
    customer: CustomerIdentity.optional(),
    placedAt: Timestamp('When the order was placed'),
    status: z.enum(ORDER_STATUSES).describe('Order status; cancellations and refunds are updates'),
    currency: z.string().optional().describe('ISO 4217; defaults to total.currency and must agree with it'),
    total: MoneySchema.describe('What the customer pays: items − discount + shipping'),
    discount: MoneySchema.optional().describe('Discount on the items (default 0)'),
    shipping: MoneySchema.optional().describe('Shipping charged (default 0)'),
    refunded: MoneySchema.optional().describe(
      'Amount refunded so far (default 0; the total when status is refunded)',
    ),
    baseTotal: MoneySchema.optional().describe(
      'The total converted to the tenant’s currency; required when the order is in another currency',
    ),
    items: z.array(OrderItemSchema).max(500).optional().describe('Lines of the order (at most 500)'),
    channel: z.enum(ORDER_CHANNELS).optional().describe('Sales channel'),
    intermediaryId: uuid().optional().describe('The distributor, prescriber or employee it came through'),
    payment: z
      .strictObject({
        method: z.string().trim().min(1).max(50).optional().describe('e.g. card, transfer, invoice'),
        dueAt: isoDateTime().optional().describe('When payment is due (invoices)'),
        paidAt: Timestamp('When it was paid').optional(),
      })
      .optional()
      .describe('Payment terms: whether customers pay on time is one of the value dimensions'),
    couponCode: z.string().trim().min(1).max(100).optional().describe('Coupon used'),
    sourceUpdatedAt: Timestamp('The source’s own update time; defaults to placedAt').optional(),
  })
  .superRefine((o, ctx) => {
    if (Boolean(o.customerId) === Boolean(o.customer)) {
      ctx.addIssue({
        code: 'custom',
        path: ['customerId'],
        message: 'give exactly one of customerId or customer',
      });
    }
    const currency = o.currency ?? o.total.currency;
    if (o.currency && o.currency !== o.total.currency) {
      ctx.addIssue({
        code: 'custom',
        path: ['currency'],
        message: `must agree with total.currency (${o.total.currency})`,
      });
    }
    const same = (path: (string | number)[], m?: { currency: string }) => {
      if (m && m.currency !== currency) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'currency'],
          message: `must be the order’s currency ${currency}`,
        });
      }
    };
    same(['discount'], o.discount);
    same(['shipping'], o.shipping);
    same(['refunded'], o.refunded);
    o.items?.forEach((item, i) => {
      same(['items', i, 'unitPrice'], item.unitPrice);
    });
    // a refund above the total breaks a rule of the status (422 order_refund_inconsistent)
  })
  .meta({
    id: 'OrderRecord',
    examples: [
      {
        source: 'shopify',
        externalId: '#1001',
        customer: { email: 'lucia.garcia@example.com', firstName: 'Lucía' },
        placedAt: '2026-03-01T10:15:00Z',
        status: 'paid',
        total: { amount: 5490, currency: 'EUR' },
        discount: { amount: 500, currency: 'EUR' },
        items: [
          {
            sku: 'ZAP-42',
            name: 'Zapatilla running',
            category: 'shoes',
            quantity: 1,
            unitPrice: { amount: 5990, currency: 'EUR' },
          },
        ],
        channel: 'web',
        payment: { method: 'card', paidAt: '2026-03-01T10:15:00Z' },
        sourceUpdatedAt: '2026-03-01T10:16:00Z',
      },
    ],
  });
export type RecordOrderInput = z.output<typeof RecordOrderBody>;

export const OrderSchema = z
  .object({
    id: uuid().describe('Order id'),
    source: z.string().describe('Source system'),
    externalId: z.string().describe('Id in the source'),
    customerId: uuid().describe('The customer'),
    placedAt: timestampOut('Placed'),
    status: z.enum(ORDER_STATUSES).describe('Status'),
    currency: z.string().describe('Currency of the amounts'),
    total: MoneySchema.describe('Total'),
    discount: MoneySchema.describe('Discount'),
    shipping: MoneySchema.describe('Shipping'),
    refunded: MoneySchema.describe('Refunded'),
    baseTotal: MoneySchema.describe('Total in the tenant’s currency'),
    netTotal: MoneySchema.describe(
      'Net amount in the tenant’s currency (0 when cancelled): what aggregates count',
    ),
    items: z.array(OrderItemSchema).describe('Lines'),
    channel: z.string().nullable().describe('Sales channel'),
    intermediaryId: uuid().nullable().describe('Intermediary it came through'),
    payment: z
      .object({ method: z.string().nullable(), dueAt: z.string().nullable(), paidAt: z.string().nullable() })
      .describe('Payment'),
    couponCode: z.string().nullable().describe('Coupon used'),
    sourceUpdatedAt: timestampOut('The source’s update time of the version held'),
    version: z.number().int().describe('Row version; the ETag is `"v<version>"`'),
    createdAt: timestampOut('Recorded'),
    updatedAt: timestampOut('Last changed'),
  })
  .meta({ id: 'Order' });
export type Order = z.infer<typeof OrderSchema>;

export const RecordOrderResponse = z
  .object({
    result: z.enum(['created', 'updated', 'unchanged']).describe('What the write did'),
    reason: z.string().optional().describe('Why nothing changed (unchanged)'),
    order: OrderSchema,
  })
  .meta({ id: 'OrderRecordResult' });
export type RecordOrderResult = z.infer<typeof RecordOrderResponse>;

/** What a batch route validates: each item is then validated on its own by the service. */
export const RecordOrdersBodyLoose = z.strictObject({
  items: z.array(z.unknown()).min(1).max(ORDER_BATCH_MAX).describe('The items'),
});

export const RecordOrdersBody = z
  .strictObject({
    items: z
      .array(RecordOrderBody)
      .min(1)
      .max(ORDER_BATCH_MAX)
      .describe(
        `Up to ${ORDER_BATCH_MAX} orders; each is validated on its own and a bad one never rejects the others`,
      ),
  })
  .meta({
    id: 'OrderBatch',
    examples: [
      {
        items: [
          {
            source: 'pos-madrid',
            externalId: 'T-77',
            customer: { phone: '+34 600 111 222' },
            placedAt: '2026-03-02T18:00:00Z',
            status: 'paid',
            total: { amount: 1200, currency: 'EUR' },
          },
        ],
      },
    ],
  });

export const OrderBatchItemResult = z.object({
  index: z.number().int().describe('Position in the request'),
  status: z.enum(['created', 'updated', 'unchanged', 'error']).describe('What happened'),
  id: uuid().optional().describe('The order id'),
  customerId: uuid().optional().describe('The customer it was recorded for'),
  reason: z.string().optional().describe('Why nothing changed'),
  error: ProblemSchema.optional().describe('Why the item was rejected'),
});
export type OrderBatchResult = z.infer<typeof OrderBatchItemResult>;
export const RecordOrdersResponse = z.object({
  results: z.array(OrderBatchItemResult),
  summary: z.object({
    created: z.number().int(),
    updated: z.number().int(),
    unchanged: z.number().int(),
    errors: z.number().int(),
  }),
});

const OrderFilterFields = z.strictObject({
  customerId: uuid().optional().describe('Only this customer’s orders'),
  source: z.string().min(1).max(100).optional().describe('Only this source'),
  status: z.enum(ORDER_STATUSES).optional().describe('Only this status'),
  placedFrom: isoDateTime().optional().describe('Placed at or after'),
  placedTo: isoDateTime().optional().describe('Placed before'),
  limit: limitParam,
  cursor: cursorParam,
});
const placedInOrder = startBeforeEnd('placedFrom', 'placedTo');
export const ListOrdersQuery = OrderFilterFields.refine(...placedInOrder);
export type ListOrdersFilter = Omit<z.output<typeof ListOrdersQuery>, 'limit' | 'cursor'>;
export const CustomerOrdersQuery = OrderFilterFields.omit({ customerId: true }).refine(...placedInOrder);
export const OrderPage = pageOf(OrderSchema).meta({ id: 'OrderPage' });

export const PurchasesSchema = z
  .object({
    customerId: uuid().describe('The customer'),
    orders: z.number().int().describe('Orders counted (not cancelled, not fully refunded)'),
    firstOrderAt: z.string().nullable().describe('First counted order'),
    lastOrderAt: z.string().nullable().describe('Last counted order'),
    netRevenue: MoneySchema.describe('Sum of net amounts, in the tenant’s currency'),
    items: z.number().int().describe('Units bought'),
    ordersWithDueDate: z.number().int().describe('Orders with a payment due date'),
    ordersPaidOnTime: z.number().int().describe('Of those, paid on or before the due date'),
  })
  .meta({ id: 'Purchases' });
export type Purchases = z.infer<typeof PurchasesSchema>;
