import { describe, expect, it } from 'vitest';
import { wallClock } from '../../platform/clock.ts';
import { DEFAULT_SCORE_SETTINGS } from '../tenants/tenants.schemas.ts';
import { fitModels, MIN_REPEAT_BUYERS, valueScore } from './scores.compute.ts';
import { percentileOf, quintileOf, RFM_CELLS, RFM_GRID, rfmCell, tierOf } from './scores.rfm.ts';
import type { ModelFit } from './scores.table.ts';
import { expectedOver } from './scores.view.ts';

describe('the RFM grid', () => {
  it('names every one of the 25 cells, and every name is used', () => {
    expect(RFM_GRID).toHaveLength(5);
    for (const row of RFM_GRID) expect(row).toHaveLength(5);
    expect(new Set(RFM_GRID.flat())).toEqual(new Set(RFM_CELLS));
    expect(rfmCell(5, 5)).toBe('Champions');
    expect(rfmCell(1, 1)).toBe('Lost');
    expect(rfmCell(1, 5)).toBe("Can't lose them");
    expect(rfmCell(5, 1)).toBe('New');
    expect(rfmCell(3, 3)).toBe('Needs attention');
  });
});

describe('placing a customer against a recompute’s distribution (exact samples)', () => {
  const ten = { sample: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], population: 10 };

  it('quintiles: 1 + floor(5 × share strictly worse), ties share the lower one', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v) => quintileOf(ten, v))).toEqual([
      1, 1, 2, 2, 3, 3, 4, 4, 5, 5,
    ]);
    // lower is better for recency: 1 day is the best of ten
    expect(quintileOf(ten, 1, false)).toBe(5);
    expect(quintileOf(ten, 10, false)).toBe(1);
    const ties = { sample: [1, 1, 1, 1, 1, 1, 2, 3, 4, 5], population: 10 };
    expect(quintileOf(ties, 1)).toBe(1);
    expect(quintileOf(ties, 2)).toBe(4);
    expect(quintileOf(ties, 99)).toBe(5);
  });

  it('percentiles: the share at or below the value', () => {
    expect(percentileOf(ten, 3)).toBeCloseTo(0.3, 12);
    expect(percentileOf(ten, 10)).toBe(1);
    expect(percentileOf(ten, 11)).toBe(1);
    expect(percentileOf(ten, 3.5)).toBeCloseTo(0.3, 12);
  });

  it('tiers: vip while fewer than ceil(5 % of n) score higher, then gold, silver, bronze', () => {
    const scores = { sample: Array.from({ length: 20 }, (_, i) => i + 1), population: 20 };
    const shares = DEFAULT_SCORE_SETTINGS.tiers;
    expect(tierOf(scores, 20, shares)).toBe('vip');
    expect(tierOf(scores, 19, shares)).toBe('gold');
    expect(tierOf(scores, 17, shares)).toBe('gold');
    expect(tierOf(scores, 16, shares)).toBe('silver');
    expect(tierOf(scores, 11, shares)).toBe('silver');
    expect(tierOf(scores, 10, shares)).toBe('bronze');
  });

  it('interpolates the position between quantiles for a large population', () => {
    const quantiles = { sample: Array.from({ length: 101 }, (_, i) => i * 10), population: 1_000_000 };
    expect(percentileOf(quantiles, 500)).toBeCloseTo(51 / 101, 12);
    expect(quintileOf(quantiles, 500)).toBe(3);
  });
});

describe('the value score', () => {
  it('is the weighted mean of the known dimensions × 100; unknown ones are left out of both sums', () => {
    const weights = { volume: 1, frequency: 2, amount: 3, punctuality: 4, seniority: 0 };
    const row = { n_volume: 0.5, n_frequency: 1, n_amount: 0.25, n_punctuality: null, n_seniority: 1 };
    expect(valueScore(row, weights)).toBeCloseTo((100 * (0.5 + 2 + 0.75)) / 6, 12);
    expect(valueScore({ ...row, n_punctuality: 0 }, weights)).toBeCloseTo((100 * 3.25) / 10, 12);
    expect(
      valueScore(
        { n_volume: null, n_frequency: null, n_amount: null, n_punctuality: null, n_seniority: null },
        weights,
      ),
    ).toBeNull();
  });
});

describe('fitting', () => {
  const window = { from: '2025-01-01', to: '2026-01-01' };
  it('refuses to fit below the minimum of repeat buyers, and says so', () => {
    const tuples = [
      { x: 0, tx: 0, age: 100, count: 200 },
      { x: 2, tx: 30, age: 100, count: MIN_REPEAT_BUYERS - 1 },
    ];
    const fit = fitModels(tuples, [], window);
    expect(fit).toMatchObject({ bgnbd: null, gammaGamma: null, customers: 200 + MIN_REPEAT_BUYERS - 1 });
    expect(fit.reason).toMatch(/at least 50 buyers and 20 repeat buyers/);
  });

  it('refuses a degenerate fit: identical regular buyers drive r and alpha to infinity', () => {
    // everyone bought every 10 days for 100 days: no heterogeneity, the Poisson limit
    const fit = fitModels(
      [{ x: 10, tx: 100, age: 100, count: 500 }],
      [{ x: 10, mx: 2000, count: 500 }],
      window,
    );
    expect(fit.bgnbd).toBeNull();
    expect(fit.reason).toMatch(/degenerated/);
  });
});

describe('the wall clock of a tenant', () => {
  it('gives the local day and time of an instant', () => {
    const instant = new Date('2026-03-01T23:30:00.000Z');
    expect(wallClock(instant, 'Europe/Madrid')).toEqual({ day: '2026-03-02', time: '00:30' });
    expect(wallClock(instant, 'America/Mexico_City')).toEqual({ day: '2026-03-01', time: '17:30' });
    expect(wallClock(new Date('2026-03-01T00:05:00.000Z'), 'UTC')).toEqual({
      day: '2026-03-01',
      time: '00:05',
    });
  });
});

describe('expected purchases over another horizon', () => {
  const fitWith = (a: number) =>
    ({
      bgnbd: { r: 5, alpha: 1, a, b: 2, logLikelihood: 0, iterations: 1 },
      gammaGamma: { p: 6, q: 4, gamma: 15, logLikelihood: 0, iterations: 1 },
    }) as ModelFit;
  const history = { x: 5, tx: 300, age: 3000 };

  it('is the model’s value where it is finite', () => {
    const { value, problem } = expectedOver(fitWith(0.8), history, 0.01, 365);
    expect(problem).toBeNull();
    expect(value).toBeGreaterThan(0);
    expect(value).toBeLessThan(expectedOver(fitWith(0.8), history, 0.01, 3650).value!);
  });

  it('is null with the reason where the expectation is not finite (a = 1 divides by zero)', () => {
    expect(expectedOver(fitWith(1), history, 0.01, 3650)).toEqual({
      value: null,
      problem: 'no expected purchases over 3650 days: not finite under this fit',
    });
  });
});
