import cdf from '@stdlib/stats-base-dists-normal-cdf';

/** One arm of a campaign: customers, conversions and attributed revenue. */
export type ArmCounts = { customers: number; converted: number; revenue: number };

export function arm(counts: ArmCounts) {
  return {
    ...counts,
    conversionRate: counts.customers ? counts.converted / counts.customers : null,
    revenuePerCustomer: counts.customers ? counts.revenue / counts.customers : null,
  };
}

/**
 * Lift of treatment over control: the difference of conversion rates, relative to control, its
 * 95 % interval (unpooled standard error) and the two-sided p-value of the two-proportion z-test
 * (pooled standard error). Null where a group is empty or the test is undefined.
 */
export function lift(t: ArmCounts, c: ArmCounts) {
  if (!t.customers || !c.customers)
    return { absolute: null, relative: null, ci95: null, pValue: null } as const;
  const pt = t.converted / t.customers;
  const pc = c.converted / c.customers;
  const absolute = pt - pc;
  const se = Math.sqrt((pt * (1 - pt)) / t.customers + (pc * (1 - pc)) / c.customers);
  const pooled = (t.converted + c.converted) / (t.customers + c.customers);
  const sePooled = Math.sqrt(pooled * (1 - pooled) * (1 / t.customers + 1 / c.customers));
  return {
    absolute,
    relative: pc ? absolute / pc : null,
    ci95: [absolute - 1.959964 * se, absolute + 1.959964 * se] as [number, number],
    pValue: sePooled ? 2 * (1 - cdf(Math.abs(absolute / sePooled), 0, 1)) : null,
  };
}

export const share = (
  rows: { control: boolean; targeted: number; succeeded: number }[],
  control: boolean,
) => {
  const row = rows.find((r) => r.control === control);
  return row?.targeted ? row.succeeded / row.targeted : null;
};
