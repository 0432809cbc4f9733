import { describe, expect, it } from 'vitest';
import { checkRules, toWrite } from './orders.rules.ts';
import type { RecordOrderInput } from './orders.schemas.ts';

const eur = (amount: number) => ({ amount, currency: 'EUR' });
const order = (extra: Partial<RecordOrderInput> = {}): RecordOrderInput => ({
  source: 's',
  externalId: 'e',
  customerId: '01936f0e-0000-7000-8000-000000000001',
  placedAt: '2026-01-02T10:00:00Z',
  status: 'paid',
  total: eur(5000),
  ...extra,
});

describe('order rules', () => {
  it('needs baseTotal in the tenant currency for a foreign order', () => {
    expect(checkRules(order({ total: { amount: 100, currency: 'USD' } }), 'EUR')?.code).toBe(
      'currency_conversion_required',
    );
    expect(
      checkRules(order({ total: { amount: 100, currency: 'USD' }, baseTotal: eur(90) }), 'EUR'),
    ).toBeUndefined();
    expect(
      checkRules(
        order({ total: { amount: 100, currency: 'USD' }, baseTotal: { amount: 90, currency: 'USD' } }),
        'EUR',
      )?.errors?.[0]?.path,
    ).toBe('baseTotal.currency');
  });

  it('checks items − discount + shipping = total', () => {
    const items = [{ sku: 'a', quantity: 2, unitPrice: eur(2600) }];
    expect(checkRules(order({ items, discount: eur(500), shipping: eur(300) }), 'EUR')).toBeUndefined();
    const wrong = checkRules(order({ items, discount: eur(500) }), 'EUR');
    expect(wrong?.code).toBe('order_total_mismatch');
    expect(wrong?.errors).toEqual([
      { path: 'total.amount', message: 'must be 4700: items − discount + shipping' },
    ]);
  });

  it('keeps refunds consistent with the status', () => {
    expect(checkRules(order({ status: 'refunded', refunded: eur(100) }), 'EUR')?.code).toBe(
      'order_refund_inconsistent',
    );
    expect(checkRules(order({ status: 'partially_refunded', refunded: eur(5000) }), 'EUR')?.code).toBe(
      'order_refund_inconsistent',
    );
    expect(checkRules(order({ status: 'paid', refunded: eur(1) }), 'EUR')?.errors?.[0]?.path).toBe('status');
    expect(checkRules(order({ status: 'partially_refunded', refunded: eur(1000) }), 'EUR')).toBeUndefined();
  });

  it('converts refunds at the order’s own rate (the aggregates: test/orders-aggregates.test.ts)', () => {
    const usd = toWrite(
      order({
        total: { amount: 1000, currency: 'USD' },
        baseTotal: eur(900),
        status: 'partially_refunded',
        refunded: { amount: 100, currency: 'USD' },
      }),
      'c',
      'EUR',
    );
    expect(usd).toMatchObject({ baseTotal: 900, baseRefunded: 90, baseCurrency: 'EUR' });
    const full = toWrite(order({ status: 'refunded' }), 'c', 'EUR');
    expect(full.refunded).toBe(5000);
  });
});
