import type { Tier } from '../tenants/tenants.schemas.ts';

export const RFM_CELLS = [
  'Champions',
  'Loyal',
  'Potential loyalist',
  'New',
  'Promising',
  'Needs attention',
  'About to sleep',
  'At risk',
  "Can't lose them",
  'Hibernating',
  'Lost',
] as const;
export type RfmCell = (typeof RFM_CELLS)[number];

/**
 * The named cell of each (r, f): RFM_GRID[r - 1][f - 1]. The usual recency × frequency grid, with
 * the worst corner (r = 1, f = 1) split off as Lost. Also compiled into SQL (one definition).
 */
export const RFM_GRID: readonly (readonly RfmCell[])[] = [
  ['Lost', 'Hibernating', 'At risk', 'At risk', "Can't lose them"],
  ['Hibernating', 'Hibernating', 'At risk', 'At risk', "Can't lose them"],
  ['About to sleep', 'About to sleep', 'Needs attention', 'Loyal', 'Loyal'],
  ['Promising', 'Potential loyalist', 'Potential loyalist', 'Loyal', 'Loyal'],
  ['New', 'Potential loyalist', 'Potential loyalist', 'Champions', 'Champions'],
];

export const rfmCell = (r: number, f: number): RfmCell => RFM_GRID[r - 1]![f - 1]!;

/** How many sorted values are below `v` (or at most `v` with `orEqual`), by binary search. */
function countBelow(sorted: readonly number[], v: number, orEqual = false): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (orEqual ? sorted[mid]! <= v : sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A distribution of the last full recompute: `sample` holds every value when it has `population`
 * entries (exact), else evenly spaced quantiles (the position is interpolated).
 */
export type Distribution = { sample: readonly number[]; population: number };

/** The quintile 1–5 of a value: 1 + floor(5 × share strictly worse), as the full recompute ranks. */
export function quintileOf(d: Distribution, v: number, higherIsBetter = true): number {
  const n = d.sample.length;
  if (!n) return 1;
  const worse = higherIsBetter ? countBelow(d.sample, v) : n - countBelow(d.sample, v, true);
  return Math.min(5, 1 + Math.floor((5 * worse) / n));
}

/** cume_dist: the share of the distribution at or below `v` (counting `v` itself when absent). */
export function percentileOf(d: Distribution, v: number): number {
  const n = d.sample.length;
  if (!n) return 1;
  const atOrBelow = countBelow(d.sample, v, true);
  return Math.min(1, atOrBelow === 0 ? 1 / (n + 1) : atOrBelow / n);
}

/** The tier of a value score: vip while fewer than ceil(vip × n) buyers score higher, and so on. */
export function tierOf(
  d: Distribution,
  score: number,
  shares: { vip: number; gold: number; silver: number },
): Tier {
  const n = d.sample.length;
  const higher = n ? ((n - countBelow(d.sample, score, true)) / n) * d.population : 0;
  const population = Math.max(d.population, 1);
  if (higher < Math.ceil(shares.vip * population)) return 'vip';
  if (higher < Math.ceil(shares.gold * population)) return 'gold';
  if (higher < Math.ceil(shares.silver * population)) return 'silver';
  return 'bronze';
}
