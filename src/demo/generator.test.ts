import { describe, expect, it } from 'vitest';
import { attributeProblem } from '../modules/attributes/attributes.service.ts';
import { CreateCustomerBody } from '../modules/customers/customers.schemas.ts';
import { ORDER_CHANNELS, ORDER_STATUSES, RecordOrderBody } from '../modules/orders/orders.schemas.ts';
import {
  asciiName,
  BLOCK,
  COMMON_SURNAMES,
  customerBody,
  DEFAULT_PARAMS,
  DEMO_ATTRIBUTES,
  type DemoCustomer,
  DemoGenerator,
  type DemoOptions,
  EMAIL_PATTERNS,
  FIRST_NAMES,
  orderBody,
  REFERRAL_LAG_BLOCKS,
  Rng,
  SURNAMES,
} from './generator.ts';

const DAY = 86_400_000;
const UNTIL = new Date('2025-06-01T00:00:00Z');
const base: DemoOptions = { seed: 42, customers: 20_000, years: 2, until: UNTIL };

function generate(options: DemoOptions) {
  const gen = new DemoGenerator(options);
  const customers: DemoCustomer[] = [];
  while (!gen.done) customers.push(...gen.nextBlock());
  return { gen, customers };
}

// one large run shared by the statistical checks (about 3 s)
const { gen, customers } = generate(base);
const buyers = customers.filter((c) => !c.prospect);
const orders = customers.flatMap((c) => c.orders.map((o) => ({ c, o })));
const resolve = {
  customer: (i: number) => `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`,
  intermediary: (ref: string) =>
    `00000000-0000-7000-9000-${String(gen.intermediaries.findIndex((i) => i.ref === ref)).padStart(12, '0')}`,
};

describe('determinism', () => {
  it('gives the same customers and orders for the same options, and others for another seed', () => {
    const first = (seed: number) => new DemoGenerator({ ...base, seed }).nextBlock(500);
    const a = first(42);
    expect(JSON.stringify(a)).toBe(JSON.stringify(first(42)));
    expect(JSON.stringify(a.slice(0, 300))).toBe(JSON.stringify(customers.slice(0, 300)));
    const other = first(43);
    const same = a.filter((c, i) => c.profile.email === other[i]!.profile.email).length;
    expect(same).toBeLessThan(25);
    expect(JSON.stringify(a[0]!.orders)).not.toBe(JSON.stringify(other[0]!.orders));
    expect(new DemoGenerator(base).intermediaries).toEqual(gen.intermediaries);
  });

  it('draws from the distributions it names', () => {
    const rng = new Rng(1, 2, 3);
    const n = 40_000;
    let gamma = 0;
    let beta = 0;
    for (let i = 0; i < n; i++) {
      gamma += rng.gamma(0.8, 2);
      beta += rng.beta(2, 6);
    }
    expect(gamma / n).toBeCloseTo(1.6, 1);
    expect(beta / n).toBeCloseTo(0.25, 2);
  });
});

describe('orders', () => {
  it('every order is accepted by the API schema and its total follows the documented rule', () => {
    expect(orders.length).toBeGreaterThan(4 * customers.length);
    for (const { c, o } of orders.slice(0, 10_000)) {
      const parsed = RecordOrderBody.safeParse(orderBody(o, customerBody(c, resolve), resolve));
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    }
    const broken = orders.filter(({ o }) => {
      const lines = o.items.reduce((sum, i) => sum + i.quantity * i.unitPrice.amount, 0);
      const refunded = o.refunded?.amount ?? 0;
      return (
        o.total.amount !== lines - (o.discount?.amount ?? 0) + (o.shipping?.amount ?? 0) ||
        o.items.length === 0 ||
        o.items.some((i) => i.quantity < 1 || i.unitPrice.currency !== o.total.currency) ||
        Boolean(o.baseTotal) !== (o.total.currency !== 'EUR') ||
        (o.status === 'refunded'
          ? refunded !== o.total.amount
          : o.status === 'partially_refunded'
            ? !(refunded > 0 && refunded < o.total.amount)
            : refunded !== 0)
      );
    });
    expect(broken.slice(0, 3)).toEqual([]);
  });

  it('has valid statuses and channels, in realistic shares', () => {
    const share = (s: string) => orders.filter(({ o }) => o.status === s).length / orders.length;
    const invalid = orders.filter(
      ({ o }) =>
        !(ORDER_STATUSES as readonly string[]).includes(o.status) ||
        !(ORDER_CHANNELS as readonly string[]).includes(o.channel) ||
        !(o.source === 'shop' || /^pos-[a-z-]+$/.test(o.source)) ||
        o.source.startsWith('pos-') !== (o.channel === 'store'),
    );
    expect(invalid.slice(0, 3)).toEqual([]);
    expect(share('paid') + share('fulfilled')).toBeGreaterThan(0.85);
    expect(share('cancelled')).toBeGreaterThan(0.02);
    expect(share('cancelled')).toBeLessThan(0.06);
    expect(share('refunded')).toBeGreaterThan(0.01);
    expect(share('partially_refunded')).toBeGreaterThan(0.01);
    expect(new Set(orders.map(({ o }) => o.total.currency))).toEqual(
      new Set(['EUR', 'MXN', 'ARS', 'COP', 'CLP', 'PEN', 'USD']),
    );
  });

  it('dates none in the future nor before the customer’s first date; payments after placement', () => {
    const start = UNTIL.getTime() - Math.round(2 * 365.25) * DAY;
    const end = UNTIL.getTime();
    const wrong = orders.filter(({ c, o }) => {
      const placed = Date.parse(o.placedAt);
      const updated = Date.parse(o.sourceUpdatedAt);
      const paid = o.payment.paidAt ? Date.parse(o.payment.paidAt) : undefined;
      return (
        placed < Date.parse(c.since) ||
        placed < start ||
        placed >= end ||
        updated < placed ||
        updated >= end ||
        (paid !== undefined && (paid < placed || paid > updated)) ||
        (o.status === 'cancelled' && paid !== undefined) ||
        (o.payment.dueAt !== undefined && Date.parse(o.payment.dueAt) <= placed)
      );
    });
    expect(wrong.slice(0, 3)).toEqual([]);
    // punctuality varies: most orders with a due date are paid on time, a good share is not
    const due = orders.filter(({ o }) => o.payment.dueAt);
    const onTime = due.filter(({ o }) => o.payment.paidAt && o.payment.paidAt <= o.payment.dueAt!);
    expect(due.length / orders.length).toBeGreaterThan(0.05);
    expect(onTime.length / due.length).toBeGreaterThan(0.5);
    expect(onTime.length / due.length).toBeLessThan(0.9);
  });

  it('order keys are unique and distributor orders name their distributor', () => {
    const keys = new Set(orders.map(({ o }) => `${o.source}/${o.externalId}`));
    expect(keys.size).toBe(orders.length);
    const kinds = new Map(gen.intermediaries.map((i) => [i.ref, i.kind]));
    for (const { o } of orders) {
      if (o.channel === 'distributor') expect(kinds.get(o.intermediary!)).toBe('distributor');
      else if (o.intermediary) expect(['employee', 'prescriber']).toContain(kinds.get(o.intermediary));
    }
    expect(orders.filter(({ o }) => o.channel === 'distributor').length).toBeGreaterThan(0);
  });
});

describe('the purchase process', () => {
  it('the share of prospects matches the parameter, and prospects never buy', () => {
    const share = (customers.length - buyers.length) / customers.length;
    expect(Math.abs(share - DEFAULT_PARAMS.prospectShare)).toBeLessThan(0.015);
    for (const c of customers) expect(c.orders.length === 0).toBe(c.prospect);
  });

  it('dropouts follow P(dropped by the end) = 1 − (1 − p)·e^(−λ·p·exposure)', () => {
    const expected = buyers.reduce(
      (sum, c) =>
        sum + 1 - (1 - c.model.dropout) * Math.exp(-c.model.lambda * c.model.dropout * c.model.exposure),
      0,
    );
    const dropped = buyers.filter((c) => c.model.droppedOut).length;
    expect(Math.abs(dropped - expected) / buyers.length).toBeLessThan(0.02);
    expect(dropped / buyers.length).toBeGreaterThan(0.2);
  });

  it('a few dropped-out customers come back, as often as the comeback parameter allows', () => {
    const { probability, minDays, maxDays } = DEFAULT_PARAMS.comeback;
    const dropped = buyers.filter((c) => c.model.droppedOut);
    const days = gen.days;
    const expected = dropped.reduce((sum, c) => {
      const room = (days - c.model.droppedOutAt! - minDays) / (maxDays - minDays);
      return sum + probability * Math.min(1, Math.max(0, room));
    }, 0);
    const returned = dropped.filter((c) => c.model.returned).length;
    expect(returned).toBeGreaterThan(50);
    expect(Math.abs(returned - expected)).toBeLessThan(4 * Math.sqrt(expected));
  });

  it('buyers differ: order counts are heavy-tailed and spend varies', () => {
    const counts = buyers.map((c) => c.orders.length).sort((a, b) => a - b);
    const median = counts[Math.floor(counts.length / 2)]!;
    const p95 = counts[Math.floor(counts.length * 0.95)]!;
    expect(counts.filter((n) => n === 1).length / buyers.length).toBeGreaterThan(0.15);
    expect(p95).toBeGreaterThan(3 * median);
    expect(orders.length / customers.length).toBeGreaterThan(4);
    expect(orders.length / customers.length).toBeLessThan(6);
  });
});

describe('customers', () => {
  it('every customer is accepted by the API schema with attributes that fit their definitions', () => {
    const defs = new Map<string, unknown>(
      DEMO_ATTRIBUTES.map((d) => [d.key, { type: d.type, enumValues: 'values' in d ? [...d.values] : null }]),
    );
    for (const c of customers.slice(0, 5000)) {
      const parsed = CreateCustomerBody.safeParse(customerBody(c, resolve));
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
      for (const [key, value] of Object.entries(c.profile.attributes)) {
        expect(attributeProblem(defs.get(key) as never, value)).toBeNull();
      }
    }
  });

  it('emails, phones and externalIds are unique within a run; emails derive from the name', () => {
    const emails = customers.flatMap((c) => (c.profile.email ? [c.profile.email] : []));
    const phones = customers.flatMap((c) => (c.profile.phone ? [c.profile.phone] : []));
    expect(new Set(emails).size).toBe(emails.length);
    expect(new Set(phones).size).toBe(phones.length);
    expect(new Set(customers.map((c) => c.profile.externalId)).size).toBe(customers.length);
    expect(emails.length).toBeGreaterThan(0.9 * customers.length);
    for (const c of customers.slice(0, 2000)) {
      if (!c.profile.email) continue;
      const last = asciiName(c.profile.lastName.split(' ')[0]!);
      expect(c.profile.email).toContain(last);
      expect(c.profile.email).toMatch(/@[a-z]+\.example$/);
    }
  });

  it('name lists have no duplicates and every email pattern is injective', () => {
    const firsts = FIRST_NAMES.map(asciiName);
    const lasts = SURNAMES.map(asciiName);
    expect(new Set(firsts).size).toBe(firsts.length);
    expect(new Set(lasts).size).toBe(lasts.length);
    const seen = new Map<string, string>();
    const clashes: string[] = [];
    const add = (local: string, key: string) => {
      const before = seen.get(local);
      if (before !== undefined && before !== key) clashes.push(`${local}: ${before} and ${key}`);
      seen.set(local, key);
    };
    EMAIL_PATTERNS.forEach((pattern, p) => {
      for (const f of firsts) {
        for (const l of lasts) add(pattern(f, l), `${p}:${p >= 2 ? f[0] : f}:${l}`);
      }
    });
    expect(clashes.slice(0, 3)).toEqual([]);
  });

  it('ages are 18–85, locations consistent, references point at the right records', () => {
    const kinds = new Map(gen.intermediaries.map((i) => [i.ref, i.kind]));
    for (const c of customers) {
      const { birthDate, address, locale } = c.profile;
      if (birthDate) {
        const age = (UNTIL.getTime() - Date.parse(birthDate)) / (365.2425 * DAY);
        expect(age).toBeGreaterThanOrEqual(18);
        expect(age).toBeLessThan(86);
      }
      expect(locale.endsWith(address.country) || /^(ca|eu|gl)-ES$/.test(locale)).toBe(true);
      if (c.accountManager) expect(kinds.get(c.accountManager)).toBe('employee');
      const ref = c.referredBy;
      if (ref?.kind === 'intermediary') expect(kinds.get(ref.ref)).toBe('prescriber');
      if (ref?.kind === 'customer') {
        // written REFERRAL_LAG_BLOCKS blocks earlier, a buyer acquired before
        expect(Math.floor(ref.index / BLOCK)).toBeLessThanOrEqual(
          Math.floor(c.index / BLOCK) - REFERRAL_LAG_BLOCKS,
        );
        const referrer = customers[ref.index]!;
        expect(referrer.prospect).toBe(false);
        expect(referrer.since < c.since).toBe(true);
      }
    }
    const referred = customers.filter((c) => c.referredBy).length / customers.length;
    expect(referred).toBeGreaterThan(0.05);
    expect(customers.filter((c) => c.accountManager).length).toBeGreaterThan(0);
    expect(new Set(customers.map((c) => c.profile.address.country)).size).toBe(7);
  });

  it('items lean to the customer’s favourite category', () => {
    const prefixes = { shoes: 'ZAP', bags: 'BOL', accessories: 'ACC', clothing: 'ROP', sport: 'DEP' };
    let favourite = 0;
    let all = 0;
    const wrongSku: string[] = [];
    for (const { c, o } of orders) {
      const fav = c.profile.attributes.favouriteCategory;
      for (const i of o.items) {
        if (i.sku.slice(0, 3) !== prefixes[i.category as keyof typeof prefixes]) wrongSku.push(i.sku);
        if (!fav) continue;
        all++;
        if (i.category === fav) favourite++;
      }
    }
    expect(wrongSku.slice(0, 3)).toEqual([]);
    expect(favourite / all).toBeGreaterThan(0.6);
  });

  it('uses common surnames most', () => {
    const common = new Set(COMMON_SURNAMES);
    const share =
      customers.filter((c) => common.has(c.profile.lastName.split(' ')[0]!)).length / customers.length;
    expect(share).toBeGreaterThan(0.7);
  });
});
