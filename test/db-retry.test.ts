import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { newCustomer } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** Two transactions that lock customers a and b in opposite orders, each waiting for the other. */
async function deadlock(retryConflicts: boolean) {
  const tenant = await t.newTenant();
  const [a, b] = [await newCustomer(tenant.client), await newCustomer(tenant.client)];
  let attempts = 0;
  let locked = 0;
  let bothLocked: () => void = () => {};
  const barrier = new Promise<void>((resolve) => {
    bothLocked = resolve;
  });
  const lock = (first: string, second: string) =>
    t.db.withTenant(
      tenant.id,
      async (tx) => {
        attempts += 1;
        await tx.execute(sql`SELECT 1 FROM customers WHERE id = ${first}::uuid FOR UPDATE`);
        if (++locked === 2) bothLocked();
        await barrier;
        await tx.execute(sql`SELECT 1 FROM customers WHERE id = ${second}::uuid FOR UPDATE`);
        return 'done';
      },
      { retryConflicts },
    );
  const outcomes = await Promise.allSettled([lock(a.id, b.id), lock(b.id, a.id)]);
  return { outcomes, attempts };
}

describe('Database.withTenant with retryConflicts', () => {
  it('runs the deadlock victim again, so both transactions succeed', async () => {
    const { outcomes, attempts } = await deadlock(true);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(attempts).toBe(3);
  });

  it('without it, the victim fails with deadlock_detected', async () => {
    const { outcomes, attempts } = await deadlock(false);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
    const failed = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(JSON.stringify(failed.reason?.cause?.code ?? failed.reason?.code)).toContain('40P01');
    expect(attempts).toBe(2);
  });
});
