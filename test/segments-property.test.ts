import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';

/**
 * The segment compiler against an in-memory evaluator written here, independently: for random
 * customers (profile, consents, a custom attribute, orders, interactions) and random definitions,
 * the SQL count and members equal what the evaluator selects.
 */
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const TODAY = '2026-03-01'; // Europe/Madrid, the tenant's default zone
const DAY = 86_400_000;
let t: TestApp;
let client: Client;

type Order = { category: string; channel: string; daysAgo: number; total: number; cancelled: boolean };
type Interaction = { type: string; daysAgo: number };
type Person = {
  id: string;
  country: string | null;
  city: string | null;
  tags: string[];
  birthDate: string | null;
  emailConsent: boolean | null;
  size: number | null;
  orders: Order[];
  interactions: Interaction[];
};
const people: Person[] = [];

const COUNTRIES = ['ES', 'FR', 'PT'];
const CITIES = ['Madrid', 'Málaga', 'Lyon'];
const TAGS = ['a', 'b', 'c'];

beforeAll(async () => {
  t = await createTestApp({ clock: { now: () => new Date(NOW) } });
  ({ client } = await t.newTenant());
  expect(
    (await client.post('/v1/attributes', { key: 'size', label: 'Size', type: 'number' })).statusCode,
  ).toBe(201);
  const world = fc.sample(
    fc.record({
      country: fc.option(fc.constantFrom(...COUNTRIES)),
      city: fc.option(fc.constantFrom(...CITIES)),
      tags: fc.subarray(TAGS),
      birthDate: fc.option(
        fc
          .date({ min: new Date('1950-01-01'), max: new Date('2026-02-28'), noInvalidDate: true })
          .map((d) => d.toISOString().slice(0, 10)),
      ),
      emailConsent: fc.option(fc.boolean()),
      size: fc.option(fc.integer({ min: 30, max: 48 })),
      orders: fc.array(
        fc.record({
          category: fc.constantFrom('shoes', 'bags'),
          channel: fc.constantFrom('web', 'store'),
          daysAgo: fc.integer({ min: 0, max: 200 }),
          total: fc.integer({ min: 100, max: 20_000 }),
          cancelled: fc.boolean(),
        }),
        { maxLength: 3 },
      ),
      interactions: fc.array(
        fc.record({
          type: fc.constantFrom('complaint', 'inquiry'),
          daysAgo: fc.integer({ min: 0, max: 120 }),
        }),
        { maxLength: 2 },
      ),
    }),
    { numRuns: 40, seed: 20261201 },
  );
  const orders: object[] = [];
  for (const [i, p] of world.entries()) {
    const res = await client.post('/v1/customers', {
      externalId: `p-${i}`,
      address: { country: p.country, city: p.city },
      tags: p.tags,
      birthDate: p.birthDate,
      ...(p.emailConsent === null ? {} : { consent: { email: { granted: p.emailConsent } } }),
      ...(p.size === null ? {} : { attributes: { size: p.size } }),
    });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().id as string;
    people.push({ id, ...p });
    for (const [j, o] of p.orders.entries()) {
      const placedAt = new Date(NOW - o.daysAgo * DAY - 3_600_000).toISOString();
      orders.push({
        source: 'prop',
        externalId: `${i}-${j}`,
        customerId: id,
        placedAt,
        sourceUpdatedAt: placedAt,
        status: o.cancelled ? 'cancelled' : 'paid',
        channel: o.channel,
        total: { amount: o.total, currency: 'EUR' },
        items: [
          { sku: 'X', category: o.category, quantity: 1, unitPrice: { amount: o.total, currency: 'EUR' } },
        ],
      });
    }
    for (const x of p.interactions) {
      const created = await client.post('/v1/interactions', {
        customerId: id,
        channel: 'email',
        direction: 'inbound',
        type: x.type,
        occurredAt: new Date(NOW - x.daysAgo * DAY - 3_600_000).toISOString(),
      });
      expect(created.statusCode, created.body).toBe(201);
    }
  }
  const batch = await client.post('/v1/orders/batch', { items: orders });
  expect(batch.statusCode, batch.body).toBe(200);
  expect(batch.json().results.every((r: { status: string }) => r.status === 'created')).toBe(true);
});
afterAll(() => t.close());

// ---- the independent evaluator ----

type Def = Record<string, any>;

const minusDays = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) - n * DAY).toISOString().slice(0, 10);
const minusYears = (day: string, n: number) => {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const last = new Date(Date.UTC(y - n, m, 0)).getUTCDate();
  return `${y - n}-${String(m).padStart(2, '0')}-${String(Math.min(d, last)).padStart(2, '0')}`;
};
const relativeDay = (duration: string) =>
  duration.endsWith('Y')
    ? minusYears(TODAY, Number(duration.slice(1, -1)))
    : minusDays(TODAY, Number(duration.slice(1, -1)));

function ageOf(birth: string): number {
  const years = Number(TODAY.slice(0, 4)) - Number(birth.slice(0, 4));
  return TODAY.slice(5) < birth.slice(5) ? years - 1 : years;
}

function daysToBirthday(birth: string): number {
  const today = Date.parse(`${TODAY}T00:00:00Z`);
  for (const year of [Number(TODAY.slice(0, 4)), Number(TODAY.slice(0, 4)) + 1]) {
    const month = Number(birth.slice(5, 7));
    const day = Math.min(Number(birth.slice(8, 10)), new Date(Date.UTC(year, month, 0)).getUTCDate());
    const at = Date.UTC(year, month - 1, day);
    if (at >= today) return Math.round((at - today) / DAY);
  }
  throw new Error('unreachable');
}

function test(measure: Record<string, number>, n: number): boolean {
  return Object.entries(measure).every(([op, v]) =>
    op === 'eq' ? n === v : op === 'gt' ? n > v : op === 'gte' ? n >= v : op === 'lt' ? n < v : n <= v,
  );
}

function scalar(op: string, actual: any, value: any): boolean {
  switch (op) {
    case 'eq':
      return actual !== null && actual === value;
    case 'neq':
      return !scalar('eq', actual, value);
    case 'in':
      return actual !== null && value.includes(actual);
    case 'nin':
      return !scalar('in', actual, value);
    case 'contains':
      return typeof actual === 'string' && actual.toLowerCase().includes(value.toLowerCase());
    case 'startsWith':
      return typeof actual === 'string' && actual.toLowerCase().startsWith(value.toLowerCase());
    case 'exists':
      return (actual !== null) === value;
    case 'gt':
      return actual !== null && actual > value;
    case 'gte':
      return actual !== null && actual >= value;
    case 'lt':
      return actual !== null && actual < value;
    case 'lte':
      return actual !== null && actual <= value;
    case 'between':
      return actual !== null && actual >= value[0] && actual <= value[1];
    case 'within':
      return actual !== null && actual >= relativeDay(value) && actual <= TODAY;
    case 'before':
      return actual !== null && actual < relativeDay(value);
    case 'after':
      return actual !== null && actual > relativeDay(value);
  }
  throw new Error(`evaluator: no ${op}`);
}

function holds(def: Def, p: Person): boolean {
  if (def.all) return def.all.every((d: Def) => holds(d, p));
  if (def.any) return def.any.some((d: Def) => holds(d, p));
  if (def.not) return !holds(def.not, p);
  if (def.orders) {
    const { within, where = {}, count, sum } = def.orders;
    const rows = p.orders.filter(
      (o) =>
        !o.cancelled &&
        (!within || o.daysAgo < Number(within.slice(1, -1))) &&
        (!where.category || [where.category].flat().includes(o.category)) &&
        (!where.channel || [where.channel].flat().includes(o.channel)),
    );
    const total = rows.reduce((s, o) => s + o.total, 0);
    if (!count && !sum) return rows.length >= 1;
    return (!count || test(count, rows.length)) && (!sum || test(sum, total));
  }
  if (def.interactions) {
    const { within, where = {}, count = { gte: 1 } } = def.interactions;
    const rows = p.interactions.filter(
      (x) =>
        (!within || x.daysAgo < Number(within.slice(1, -1))) &&
        (!where.type || [where.type].flat().includes(x.type)),
    );
    return test(count, rows.length);
  }
  const { field, op, value = true } = def;
  switch (field) {
    case 'country':
      return scalar(op, p.country, value);
    case 'city':
      return scalar(op, p.city, value);
    case 'tags':
      if (op === 'contains') return p.tags.includes(value);
      if (op === 'in') return p.tags.some((x) => value.includes(x));
      if (op === 'nin') return !p.tags.some((x) => value.includes(x));
      return p.tags.length > 0 === value;
    case 'consent.email':
      return op === 'exists' ? (p.emailConsent !== null) === value : (p.emailConsent ?? false) === value;
    case 'attributes.size':
      return scalar(op, p.size, value);
    case 'status':
      return scalar(op, p.orders.some((o) => !o.cancelled) ? 'active' : 'potential', value);
    case 'birthDate':
      return scalar(op, p.birthDate, value);
    case 'age':
      return scalar(op, p.birthDate === null ? null : ageOf(p.birthDate), value);
    case 'birthday':
      return p.birthDate !== null && daysToBirthday(p.birthDate) <= Number(value.slice(1, -1));
  }
  throw new Error(`evaluator: no field ${field}`);
}

// ---- random definitions ----

const text = (field: string, pool: string[]) =>
  fc.oneof(
    fc.record({
      field: fc.constant(field),
      op: fc.constantFrom('eq', 'neq', 'contains', 'startsWith'),
      value: fc.constantFrom(...pool, pool[0]!.slice(0, 2).toLowerCase()),
    }),
    fc.record({
      field: fc.constant(field),
      op: fc.constantFrom('in', 'nin'),
      value: fc.subarray(pool, { minLength: 1 }),
    }),
    fc.record({ field: fc.constant(field), op: fc.constant('exists'), value: fc.boolean() }),
  );
const numeric = (field: string, min: number, max: number) =>
  fc.oneof(
    fc.record({
      field: fc.constant(field),
      op: fc.constantFrom('eq', 'neq', 'gt', 'gte', 'lt', 'lte'),
      value: fc.integer({ min, max }),
    }),
    fc
      .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
      .map(([a, b]) => ({ field, op: 'between', value: [Math.min(a, b), Math.max(a, b)] })),
    fc.record({ field: fc.constant(field), op: fc.constant('exists'), value: fc.boolean() }),
  );
const measure = (max: number) =>
  fc.oneof(
    fc.record({ gte: fc.integer({ min: 0, max }) }),
    fc.record({ lt: fc.integer({ min: 0, max }) }),
    fc.record({ eq: fc.integer({ min: 0, max }) }),
    fc.record({ gte: fc.integer({ min: 0, max }), lte: fc.integer({ min: 0, max }) }),
  );
const windows = fc.constantFrom(undefined, 'P30D', 'P90D', 'P150D');
const withoutUndefined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const condition = fc.oneof(
  text('country', COUNTRIES),
  text('city', CITIES),
  fc.oneof(
    fc.record({ field: fc.constant('tags'), op: fc.constant('contains'), value: fc.constantFrom(...TAGS) }),
    fc.record({
      field: fc.constant('tags'),
      op: fc.constantFrom('in', 'nin'),
      value: fc.subarray(TAGS, { minLength: 1 }),
    }),
    fc.record({ field: fc.constant('tags'), op: fc.constant('exists'), value: fc.boolean() }),
  ),
  fc.record({
    field: fc.constant('consent.email'),
    op: fc.constantFrom('eq', 'exists'),
    value: fc.boolean(),
  }),
  numeric('attributes.size', 30, 48),
  numeric('age', 0, 80),
  fc.record({
    field: fc.constant('status'),
    op: fc.constantFrom('eq', 'neq'),
    value: fc.constantFrom('active', 'potential'),
  }),
  fc.record({
    field: fc.constant('birthDate'),
    op: fc.constantFrom('within', 'before', 'after'),
    value: fc.constantFrom('P20Y', 'P40Y', 'P3000D'),
  }),
  fc.record({
    field: fc.constant('birthday'),
    op: fc.constant('within'),
    value: fc.constantFrom('P7D', 'P30D', 'P200D'),
  }),
  fc
    .record({
      within: windows,
      where: fc.option(
        fc.record(
          { category: fc.constantFrom('shoes', 'bags'), channel: fc.constantFrom('web', ['web', 'store']) },
          { requiredKeys: [] },
        ),
      ),
      count: fc.option(measure(3)),
      sum: fc.option(measure(30_000)),
    })
    .map((o) => ({
      orders: withoutUndefined({
        within: o.within,
        where: o.where ?? undefined,
        count: o.count ?? undefined,
        sum: o.sum ?? undefined,
      }),
    })),
  fc
    .record({ within: windows, type: fc.constantFrom(undefined, 'complaint'), count: measure(2) })
    .map((o) => ({
      interactions: withoutUndefined({
        within: o.within,
        where: o.type ? { type: o.type } : undefined,
        count: o.count,
      }),
    })),
);

const { node } = fc.letrec<{ node: Def }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    condition,
    fc.record({ all: fc.array(tie('node'), { maxLength: 3 }) }),
    fc.record({ any: fc.array(tie('node'), { maxLength: 3 }) }),
    fc.record({ not: tie('node') }),
  ),
}));

describe('segment compiler vs an independent in-memory evaluator', () => {
  it('selects exactly the same customers for random definitions', async () => {
    await fc.assert(
      fc.asyncProperty(node, async (root) => {
        const definition = {
          version: 1,
          ...('all' in root || 'any' in root || 'not' in root ? root : { all: [root] }),
        };
        const res = await client.post('/v1/segments/preview', { definition, sampleSize: 100 });
        expect(res.statusCode, res.body).toBe(200);
        const got = res
          .json()
          .sample.map((c: { id: string }) => c.id)
          .sort();
        const expected = people
          .filter((p) => holds(definition, p))
          .map((p) => p.id)
          .sort();
        expect(got).toEqual(expected);
        expect(res.json().count).toBe(expected.length);
      }),
      { numRuns: 150, seed: 42 },
    );
  });
});
