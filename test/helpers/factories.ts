import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { Client } from './app.ts';

const unique = () => randomUUID().slice(0, 8);

/** Creates a customer over REST and returns its body. */
export async function newCustomer(client: Client, overrides: Record<string, unknown> = {}) {
  const res = await client.post('/v1/customers', {
    externalId: `ext-${unique()}`,
    email: `c-${unique()}@example.com`,
    firstName: 'Lucía',
    lastName: 'García',
    ...overrides,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as Record<string, any> & { id: string; version: number };
}

export async function newIntermediary(client: Client, overrides: Record<string, unknown> = {}) {
  const res = await client.post('/v1/intermediaries', {
    kind: 'employee',
    name: `Empleado ${unique()}`,
    ...overrides,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as Record<string, any> & { id: string };
}

export async function newAttribute(client: Client, body: Record<string, unknown>) {
  const res = await client.post('/v1/attributes', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as Record<string, any> & { id: string };
}

let orderSeq = 0;
/** A valid order body: 2 × 2500 EUR, paid, placed on 2026-01-02. */
export function orderBody(overrides: Record<string, unknown> = {}) {
  orderSeq += 1;
  return {
    source: 'shop',
    externalId: `o-${unique()}-${orderSeq}`,
    placedAt: '2026-01-02T10:00:00.000Z',
    status: 'paid',
    total: { amount: 5000, currency: 'EUR' },
    items: [
      {
        sku: 'SKU-1',
        name: 'Zapato',
        category: 'shoes',
        quantity: 2,
        unitPrice: { amount: 2500, currency: 'EUR' },
      },
    ],
    ...overrides,
  };
}

export async function newOrder(client: Client, overrides: Record<string, unknown> = {}) {
  const res = await client.post('/v1/orders', orderBody(overrides));
  expect(res.statusCode, res.body).toBe(201);
  return res.json().order as Record<string, any> & { id: string; customerId: string };
}

/** An inbound email complaint (it opens a case). */
export const complaintBody = (customerId: string, extra: Record<string, unknown> = {}) => ({
  customerId,
  channel: 'email',
  direction: 'inbound',
  type: 'complaint',
  subject: 'Talla equivocada',
  ...extra,
});

/** Records, through the API, an order of `amount` (one item) by `customerId` placed at `at` (ms). */
export async function placeOrder(
  client: Client,
  customerId: string,
  at: number,
  amount: number,
  extra: Record<string, unknown> = {},
) {
  const placedAt = new Date(at).toISOString();
  const res = await client.post(
    '/v1/orders',
    orderBody({
      customerId,
      placedAt,
      sourceUpdatedAt: placedAt,
      total: { amount, currency: 'EUR' },
      items: [{ sku: 'X', quantity: 1, unitPrice: { amount, currency: 'EUR' } }],
      ...extra,
    }),
  );
  expect(res.statusCode, res.body).toBe(201);
}
