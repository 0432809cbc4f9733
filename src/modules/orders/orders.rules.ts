import { AppError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { OrderWrite } from './orders.repository.ts';
import type { RecordOrderInput } from './orders.schemas.ts';

/**
 * The pure side of recording orders: the rules no schema can express, the row written and its event
 * payload (what it adds to its customer's aggregates is computed in the write's statement).
 */

/** Business rules no schema can express; the first broken one becomes the item's error. */
export function checkRules(o: RecordOrderInput, tenantCurrency: string): AppError | undefined {
  if (o.total.currency !== tenantCurrency) {
    if (!o.baseTotal) {
      return new AppError(
        'currency_conversion_required',
        `the order is in ${o.total.currency} and the tenant reports in ${tenantCurrency}: send baseTotal in ${tenantCurrency}`,
        { errors: [{ path: 'baseTotal', message: `required: the total converted to ${tenantCurrency}` }] },
      );
    }
  }
  if (o.baseTotal && o.baseTotal.currency !== tenantCurrency) {
    return new AppError('validation_failed', `baseTotal must be in the tenant's currency ${tenantCurrency}`, {
      errors: [{ path: 'baseTotal.currency', message: `must be ${tenantCurrency}` }],
    });
  }
  if (o.items?.length) {
    const lines = o.items.reduce((sum, i) => sum + i.quantity * i.unitPrice.amount, 0);
    const expected = lines - (o.discount?.amount ?? 0) + (o.shipping?.amount ?? 0);
    if (expected !== o.total.amount) {
      return new AppError(
        'order_total_mismatch',
        `items (${lines}) − discount (${o.discount?.amount ?? 0}) + shipping (${o.shipping?.amount ?? 0}) = ${expected}, but total is ${o.total.amount}`,
        { errors: [{ path: 'total.amount', message: `must be ${expected}: items − discount + shipping` }] },
      );
    }
  }
  const refunded = o.refunded?.amount ?? 0;
  if (o.status === 'refunded' && o.refunded && refunded !== o.total.amount) {
    return new AppError('order_refund_inconsistent', 'a refunded order has refunded equal to its total', {
      errors: [{ path: 'refunded.amount', message: 'must equal the total when status is refunded' }],
    });
  }
  if (o.status === 'partially_refunded' && !(refunded > 0 && refunded < o.total.amount)) {
    return new AppError('order_refund_inconsistent', 'a partially refunded order has 0 < refunded < total', {
      errors: [{ path: 'refunded.amount', message: 'must be above 0 and below the total' }],
    });
  }
  if (refunded > 0 && o.status !== 'refunded' && o.status !== 'partially_refunded') {
    return new AppError(
      'order_refund_inconsistent',
      `an order with a refund has status refunded or partially_refunded, not ${o.status}`,
      { errors: [{ path: 'status', message: 'must be refunded or partially_refunded when refunded > 0' }] },
    );
  }
  return undefined;
}

export function toWrite(o: RecordOrderInput, customerId: string, tenantCurrency: string): OrderWrite {
  const refunded = o.status === 'refunded' ? o.total.amount : (o.refunded?.amount ?? 0);
  const baseTotal = o.total.currency === tenantCurrency ? o.total.amount : o.baseTotal!.amount;
  return {
    id: newId(),
    source: o.source,
    externalId: o.externalId,
    customerId,
    placedAt: new Date(o.placedAt),
    status: o.status,
    currency: o.total.currency,
    total: o.total.amount,
    discount: o.discount?.amount ?? 0,
    shipping: o.shipping?.amount ?? 0,
    refunded,
    baseCurrency: tenantCurrency,
    baseTotal,
    // refunds convert at the order's own rate
    baseRefunded: o.total.amount ? Math.round((refunded * baseTotal) / o.total.amount) : 0,
    items: (o.items ?? []).map((i) => ({ ...i, unitPrice: i.unitPrice.amount })),
    itemCount: (o.items ?? []).reduce((n, i) => n + i.quantity, 0),
    channel: o.channel ?? null,
    intermediaryId: o.intermediaryId ?? null,
    paymentMethod: o.payment?.method ?? null,
    paymentDueAt: o.payment?.dueAt ? new Date(o.payment.dueAt) : null,
    paymentPaidAt: o.payment?.paidAt ? new Date(o.payment.paidAt) : null,
    couponCode: o.couponCode ?? null,
    sourceUpdatedAt: new Date(o.sourceUpdatedAt ?? o.placedAt),
  };
}
