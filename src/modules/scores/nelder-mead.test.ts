import { describe, expect, it } from 'vitest';
import { nelderMead } from './nelder-mead.ts';

const rosenbrock = ([x, y]: number[]) => 100 * (y! - x! ** 2) ** 2 + (1 - x!) ** 2;

describe('nelderMead', () => {
  it('finds the minimum of the Rosenbrock function from (-1.2, 1)', () => {
    const result = nelderMead(rosenbrock, [-1.2, 1], {
      tolerance: 1e-12,
      xTolerance: 1e-10,
      maxIterations: 2000,
    });
    expect(result.converged).toBe(true);
    expect(Math.abs(result.x[0]! - 1)).toBeLessThan(1e-4);
    expect(Math.abs(result.x[1]! - 1)).toBeLessThan(1e-4);
    expect(result.fx).toBeLessThan(1e-8);
    expect(result.fx).toBe(rosenbrock(result.x));
    // the banana valley takes ~100 or more iterations: a run that stops after a few has not searched
    expect(result.iterations).toBeGreaterThan(50);
    expect(result.iterations).toBeLessThan(2000);
  });

  it('finds the minimum of a 4-d quadratic with mixed scales and a cross term', () => {
    const centre = [3, -2, 0.5, 10];
    const weights = [1, 10, 0.1, 4];
    const f = (x: number[]) =>
      7 +
      x.reduce((sum, v, i) => sum + weights[i]! * (v - centre[i]!) ** 2, 0) +
      (x[0]! - centre[0]!) * (x[1]! - centre[1]!);
    const result = nelderMead(f, [0, 0, 0, 0], { tolerance: 1e-14, xTolerance: 1e-8, initialStep: 1 });
    expect(result.converged).toBe(true);
    for (const [i, c] of centre.entries()) expect(Math.abs(result.x[i]! - c)).toBeLessThan(1e-6);
    expect(result.fx - 7).toBeLessThan(1e-12);
    expect(result.fx).toBeGreaterThanOrEqual(7);
  });

  it('treats NaN and Infinity as worse than any value and stays where f is defined', () => {
    // defined only for x > 0 and y > 0, with its minimum near the edge, at (0.01, 2); the first
    // reflections from x0 leave the region
    let undefinedCalls = 0;
    const f = ([x, y]: number[]) => {
      if (!(x! > 0 && y! > 0)) {
        undefinedCalls++;
        return x! < -1 ? Number.POSITIVE_INFINITY : Number.NaN;
      }
      return (Math.log(x!) - Math.log(0.01)) ** 2 + (y! - 2) ** 2;
    };
    const result = nelderMead(f, [0.5, 0.5], { initialStep: 0.4, tolerance: 1e-12, xTolerance: 1e-9 });
    expect(undefinedCalls).toBeGreaterThan(0);
    expect(result.converged).toBe(true);
    expect(result.x[0]).toBeGreaterThan(0);
    expect(result.x[0]! / 0.01).toBeCloseTo(1, 4);
    expect(result.x[1]).toBeCloseTo(2, 6);
    expect(Number.isFinite(result.fx)).toBe(true);
  });

  it('counts every non-finite value as +Infinity, -Infinity included', () => {
    // the same bowl, undefined for x < 0.5 in three ways: the runs must not tell them apart
    const bowl =
      (undefinedValue: number) =>
      ([x, y]: number[]) =>
        x! < 0.5 ? undefinedValue : (x! - 0.6) ** 2 + (y! + 1) ** 2;
    const options = { initialStep: -0.3, tolerance: 1e-12, xTolerance: 1e-9 };
    const reference = nelderMead(bowl(Number.POSITIVE_INFINITY), [0.7, 0], options);
    expect(reference.converged).toBe(true);
    expect(reference.x[0]).toBeCloseTo(0.6, 6);
    expect(reference.x[1]).toBeCloseTo(-1, 6);
    expect(nelderMead(bowl(Number.NaN), [0.7, 0], options)).toEqual(reference);
    expect(nelderMead(bowl(Number.NEGATIVE_INFINITY), [0.7, 0], options)).toEqual(reference);
  });

  it('takes the reflection, expansion and contraction steps of Lagarias et al.', () => {
    // the points a 1-d run evaluates, in order
    const trace = (f: (x: number) => number, x0: number, options: Parameters<typeof nelderMead>[2]) => {
      const points: number[] = [];
      nelderMead(
        ([x]: number[]) => {
          points.push(x!);
          return f(x!);
        },
        [x0],
        options,
      );
      return points;
    };
    const square = (x: number) => x ** 2;
    // simplex {1, 2}: reflection to 0 is the best, expansion to -1 is not better; simplex {0, 1}:
    // reflection to -1 is no better than the worst, inside contraction to 0.5; simplex {0, 0.5}: the same
    expect(trace(square, 1, { initialStep: 1, maxIterations: 3 })).toEqual([
      1, 2, 0, -1, -1, 0.5, -0.5, 0.25,
    ]);
    // steeper for x > 0, so the reflection of 1 to -1 is better than the worst: outside contraction to -0.5
    const lopsided = (x: number) => (x > 0 ? x ** 2 : x ** 2 / 2);
    expect(trace(lopsided, 0, { initialStep: 1, maxIterations: 2 })).toEqual([0, 1, -1, -0.5, 0.5, -0.25]);
    // the default step of 0.1; the expansion to 0.8 beats the reflection to 0.9 and is kept
    const points = trace(square, 1, { maxIterations: 2 });
    expect(points).toHaveLength(6);
    for (const [i, x] of [1, 1.1, 0.9, 0.8, 0.6, 0.4].entries()) expect(points[i]).toBeCloseTo(x, 12);
  });

  it('does not modify x0, even when f modifies its argument', () => {
    const x0 = [-1.2, 1];
    const frozen = Object.freeze([3, 4]);
    const result = nelderMead((x) => {
      const value = rosenbrock(x);
      x[0] = Number.NaN;
      return value;
    }, x0);
    expect(x0).toEqual([-1.2, 1]);
    expect(result.x).not.toBe(x0);
    expect(Number.isFinite(result.fx)).toBe(true);
    expect(result.x.every(Number.isFinite)).toBe(true);
    // readonly input is fine
    expect(nelderMead(rosenbrock, frozen, { maxIterations: 5 }).iterations).toBe(5);
    expect(frozen).toEqual([3, 4]);
  });

  it('stops at maxIterations and says it has not converged', () => {
    let calls = 0;
    const f = (x: number[]) => {
      calls++;
      return rosenbrock(x);
    };
    const result = nelderMead(f, [-1.2, 1], { maxIterations: 10 });
    expect(result.iterations).toBe(10);
    expect(result.converged).toBe(false);
    // n + 1 for the initial simplex, then at most n + 2 per iteration (a reflection and a contraction
    // that fails, then a shrink of n vertices)
    expect(calls).toBeLessThanOrEqual(3 + 10 * 4);
    expect(result.fx).toBeLessThan(rosenbrock([-1.2, 1]));
    // no iterations: the best vertex of the initial simplex, here x0 itself
    const bowl = (x: number[]) => x[0]! ** 2 + x[1]! ** 2;
    expect(nelderMead(bowl, [0, 0], { maxIterations: 0 })).toEqual({
      x: [0, 0],
      fx: 0,
      iterations: 0,
      converged: false,
    });
  });

  it('is deterministic', () => {
    const a = nelderMead(rosenbrock, [-1.2, 1]);
    const b = nelderMead(rosenbrock, [-1.2, 1]);
    expect(a).toEqual(b);
  });

  it('needs both tolerances: a flat direction is not convergence', () => {
    // f ignores y, so the values agree long before the vertices do
    const f = ([x]: number[]) => (x! - 1) ** 2;
    const loose = nelderMead(f, [0, 0], { tolerance: 1e-3, xTolerance: 1e100 });
    const strict = nelderMead(f, [0, 0], { tolerance: 1e-3, xTolerance: 1e-6 });
    expect(loose.converged && strict.converged).toBe(true);
    expect(strict.iterations).toBeGreaterThan(loose.iterations);
    expect(Math.abs(strict.x[0]! - 1)).toBeLessThan(1e-6);
  });

  it('rejects a non-finite starting point', () => {
    expect(() => nelderMead(rosenbrock, [Number.NaN, 1])).toThrow(RangeError);
    expect(() => nelderMead(rosenbrock, [1, 1], { initialStep: 0 })).toThrow(RangeError);
  });
});
