import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { lift } from './campaigns.report.ts';
import { inHoldout } from './campaigns.sending.ts';
import { render, templateErrors } from './campaigns.templates.ts';

describe('holdout', () => {
  it('is deterministic per campaign and customer, and holds out the set share of 10,000 customers', () => {
    const campaign = randomUUID();
    const customers = Array.from({ length: 10_000 }, () => randomUUID());
    const first = customers.map((c) => inHoldout(campaign, c, 10));
    expect(customers.map((c) => inHoldout(campaign, c, 10))).toEqual(first);
    const share = first.filter(Boolean).length / customers.length;
    // binomial standard deviation at n = 10,000, p = 0.1 is 0.3 %: 1.5 % is five of them
    expect(Math.abs(share - 0.1)).toBeLessThan(0.015);
    expect(customers.some((c) => inHoldout(campaign, c, 0))).toBe(false);
    // another campaign draws another group
    const other = randomUUID();
    expect(customers.map((c) => inHoldout(other, c, 10))).not.toEqual(first);
  });
});

describe('templates', () => {
  it('refuses what does not parse, with the path', () => {
    expect(templateErrors([{ key: 'a', body: 'Hola {{ customer.firstName' }])).toEqual([
      { path: 'variants[0].body', message: expect.stringMatching(/does not parse/) },
    ]);
    expect(templateErrors([{ key: 'a', subject: '{% if %}', body: 'ok' }])[0]?.path).toBe(
      'variants[0].subject',
    );
    expect(templateErrors([{ key: 'a', body: 'Hola {{ customer.firstName | upcase }}' }])).toEqual([]);
  });

  it('renders with the customer and the offer; a missing variable fails instead of sending blank; no file access', async () => {
    const variant = {
      key: 'a',
      subject: 'Hola {{ customer.firstName }}',
      body: 'Code {{ offer.code }}',
      offer: { code: 'X1' },
    };
    expect(await render(variant, { customer: { firstName: 'Lola' } })).toEqual({
      subject: 'Hola Lola',
      body: 'Code X1',
    });
    const missing = await render(variant, { customer: {} });
    expect(missing).toEqual({ error: expect.stringMatching(/undefined variable: customer.firstName/) });
    // the guards the README shows: an `if` on a missing field, and the `default` filter
    const guarded = {
      key: 'g',
      subject: 'Hola{% if customer.firstName %} {{ customer.firstName }}{% endif %}',
      body: 'Hola {{ customer.firstName | default: "amigo" }}{% unless scores.tier %}.{% endunless %}',
    };
    expect(await render(guarded, { customer: {}, scores: {} })).toEqual({
      subject: 'Hola',
      body: 'Hola amigo.',
    });
    expect(await render(guarded, { customer: { firstName: 'Lola' }, scores: {} })).toEqual({
      subject: 'Hola Lola',
      body: 'Hola Lola.',
    });
    const include = await render({ key: 'b', body: "{% include '/etc/passwd' %}" }, { customer: {} });
    expect('error' in include).toBe(true);
    expect(JSON.stringify(include)).not.toContain('root:');
    // a runaway loop is stopped by the limits instead of holding the worker
    const loop = await render(
      { key: 'c', body: '{% for i in (1..100000000) %}{{ i }}{% endfor %}' },
      { customer: {} },
    );
    expect(loop).toEqual({ error: expect.stringMatching(/limit exceeded/) });
  });
});

describe('lift', () => {
  it('computes the difference of rates, its 95 % interval and the two-proportion p-value', () => {
    // treatment 30 of 100, control 20 of 100: by hand
    const result = lift(
      { customers: 100, converted: 30, revenue: 0 },
      { customers: 100, converted: 20, revenue: 0 },
    );
    expect(result.absolute).toBeCloseTo(0.1, 10);
    expect(result.relative).toBeCloseTo(0.5, 10);
    const se = Math.sqrt((0.3 * 0.7) / 100 + (0.2 * 0.8) / 100); // 0.06083
    expect(result.ci95![0]).toBeCloseTo(0.1 - 1.96 * se, 3);
    expect(result.ci95![1]).toBeCloseTo(0.1 + 1.96 * se, 3);
    // pooled p = 0.25, z = 0.1 / sqrt(0.25 · 0.75 · 0.02) = 1.633, two-sided p = 0.1025
    expect(result.pValue!).toBeCloseTo(0.1025, 3);
    expect(
      lift({ customers: 5, converted: 1, revenue: 0 }, { customers: 0, converted: 0, revenue: 0 }).absolute,
    ).toBeNull();
  });
});
