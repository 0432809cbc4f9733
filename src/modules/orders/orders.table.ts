import { sql } from 'drizzle-orm';
import {
  bigint,
  char,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, tenantReference, timestamps } from '../../platform/tenancy.ts';
import { customers } from '../customers/customers.table.ts';
import { intermediaries } from '../intermediaries/intermediaries.table.ts';

export type OrderItem = {
  sku: string;
  name?: string;
  category?: string;
  quantity: number;
  unitPrice: number;
};

const money = (name: string) => bigint(name, { mode: 'number' });
const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const orders = pgTable(
  'orders',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    source: text('source').notNull(),
    externalId: text('external_id').notNull(),
    customerId: uuid('customer_id').notNull(),
    placedAt: at('placed_at').notNull(),
    status: text('status', {
      enum: ['placed', 'paid', 'fulfilled', 'cancelled', 'refunded', 'partially_refunded'],
    }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    total: money('total').notNull(),
    discount: money('discount').notNull().default(0),
    shipping: money('shipping').notNull().default(0),
    refunded: money('refunded').notNull().default(0),
    // the total and the refunds in the tenant's currency: every aggregate is computed from these
    baseCurrency: char('base_currency', { length: 3 }).notNull(),
    baseTotal: money('base_total').notNull(),
    baseRefunded: money('base_refunded').notNull().default(0),
    items: jsonb('items').$type<OrderItem[]>().notNull().default([]),
    itemCount: integer('item_count').notNull().default(0),
    channel: text('channel'),
    intermediaryId: uuid('intermediary_id'),
    paymentMethod: text('payment_method'),
    paymentDueAt: at('payment_due_at'),
    paymentPaidAt: at('payment_paid_at'),
    couponCode: text('coupon_code'),
    sourceUpdatedAt: at('source_updated_at').notNull(),
    version: integer('version').notNull().default(1),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantReference('orders_customer_fk', [t.tenantId, t.customerId], customers),
    tenantReference('orders_intermediary_fk', [t.tenantId, t.intermediaryId], intermediaries),
    uniqueIndex('orders_source_external_id_key').on(t.tenantId, t.source, t.externalId),
    index('orders_customer_placed_idx').on(t.tenantId, t.customerId, t.placedAt),
    index('orders_placed_idx').on(t.tenantId, t.placedAt),
    index('orders_intermediary_idx')
      .on(t.tenantId, t.intermediaryId)
      .where(sql`${t.intermediaryId} IS NOT NULL`),
    index('orders_coupon_idx').on(t.tenantId, t.couponCode).where(sql`${t.couponCode} IS NOT NULL`),
    // the orders still awaiting a payment with a due date: a punctuality leaves out those not yet due
    index('orders_awaiting_payment_idx')
      .on(t.tenantId, t.customerId, t.paymentDueAt)
      .where(sql`${t.paymentDueAt} IS NOT NULL AND ${t.paymentPaidAt} IS NULL`),
    tenantIsolation(),
  ],
);

/** Per-customer purchase aggregates, recomputed from `orders` for every customer an order write touches. */
export const customerAggregates = pgTable(
  'customer_aggregates',
  {
    tenantId: tenantId(),
    customerId: uuid('customer_id').notNull(),
    orders: integer('orders').notNull(),
    firstOrderAt: at('first_order_at'),
    lastOrderAt: at('last_order_at'),
    netRevenue: money('net_revenue').notNull(),
    // units bought: a distributor's can pass what an integer holds
    items: bigint('items', { mode: 'number' }).notNull(),
    ordersWithDueDate: integer('orders_with_due_date').notNull(),
    ordersPaidOnTime: integer('orders_paid_on_time').notNull(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.customerId] }),
    tenantReference('customer_aggregates_customer_fk', [t.tenantId, t.customerId], customers),
    // the score refresh picks up the customers whose aggregates changed since its last pass
    index('customer_aggregates_updated_idx').on(t.tenantId, t.updatedAt),
    tenantIsolation(),
  ],
);
