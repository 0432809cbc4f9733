// Hand-written because fmin 0.0.4, the only maintained-looking JS Nelder–Mead on npm, ships a UMD bundle
// under "type": "module" (so importing it yields nothing) and crashes in its shrink step under strict mode.

export type NelderMeadOptions = {
  /** Iterations (reflections, expansions, contractions, shrinks) before giving up; default 200 × dimensions. */
  maxIterations?: number;
  /** Converged once max f - min f over the simplex is below this (and xTolerance holds); default 1e-8. */
  tolerance?: number;
  /** Converged once every vertex is within this of the best one in every coordinate; default 1e-8. */
  xTolerance?: number;
  /** The initial simplex is x0 and x0 + initialStep along each axis; default 0.1. */
  initialStep?: number;
};

export type NelderMeadResult = { x: number[]; fx: number; iterations: number; converged: boolean };

// Lagarias, Reeds, Wright & Wright 1998, "Convergence properties of the Nelder–Mead simplex method in
// low dimensions": reflection ρ, expansion χ, contraction γ, shrink σ
const RHO = 1;
const CHI = 2;
const GAMMA = 0.5;
const SIGMA = 0.5;

type Vertex = { x: number[]; fx: number };

/**
 * Minimises f by the Nelder–Mead downhill simplex method from x0, which it does not modify. Non-finite
 * values of f count as +Infinity, worse than any finite value, so f may return NaN where it is undefined
 * as long as x0 is not such a point. Deterministic: the same f and x0 give the same steps.
 */
export function nelderMead(
  f: (x: number[]) => number,
  x0: readonly number[],
  options: NelderMeadOptions = {},
): NelderMeadResult {
  const n = x0.length;
  const {
    maxIterations = 200 * Math.max(n, 1),
    tolerance = 1e-8,
    xTolerance = 1e-8,
    initialStep = 0.1,
  } = options;
  if (!x0.every(Number.isFinite))
    throw new RangeError(`nelderMead: x0 must be finite, got [${x0.join(', ')}]`);
  if (!(maxIterations >= 0))
    throw new RangeError(`nelderMead: maxIterations must be >= 0, got ${maxIterations}`);
  if (!(tolerance >= 0 && xTolerance >= 0))
    throw new RangeError(`nelderMead: tolerances must be >= 0, got ${tolerance} and ${xTolerance}`);
  if (!(Number.isFinite(initialStep) && initialStep !== 0))
    throw new RangeError(`nelderMead: initialStep must be finite and non-zero, got ${initialStep}`);

  const evaluate = (x: number[]): Vertex => {
    // f gets its own copy, so whatever it does to its argument cannot corrupt the simplex
    const value = f(x.slice());
    return { x, fx: Number.isFinite(value) ? value : Number.POSITIVE_INFINITY };
  };
  // the point centre + t (centre - from), for reflection (t = ρ), expansion (ρχ) and contractions (±γ)
  const along = (centre: number[], from: number[], t: number): number[] =>
    centre.map((c, j) => c + t * (c - from[j]!));

  const simplex: Vertex[] = [evaluate(x0.slice())];
  for (let i = 0; i < n; i++) {
    const x = x0.slice();
    x[i]! += initialStep;
    simplex.push(evaluate(x));
  }

  let iterations = 0;
  for (;;) {
    // A stable sort keeps the older of two equal vertices first: Lagarias et al.'s tie-breaking rule,
    // as the new vertex of a step replaces the last one and the shrink keeps the best at the front.
    simplex.sort((u, v) => (u.fx < v.fx ? -1 : u.fx > v.fx ? 1 : 0));
    const best = simplex[0]!;
    const worst = simplex[n]!;
    if (hasConverged(simplex, tolerance, xTolerance)) {
      return { x: best.x.slice(), fx: best.fx, iterations, converged: true };
    }
    if (iterations >= maxIterations) {
      return { x: best.x.slice(), fx: best.fx, iterations, converged: false };
    }
    iterations++;

    const centroid = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) centroid[j]! += simplex[i]!.x[j]! / n;
    }
    const secondWorst = simplex[n - 1]!;

    const reflected = evaluate(along(centroid, worst.x, RHO));
    if (reflected.fx < best.fx) {
      const expanded = evaluate(along(centroid, worst.x, RHO * CHI));
      simplex[n] = expanded.fx < reflected.fx ? expanded : reflected;
      continue;
    }
    if (reflected.fx < secondWorst.fx) {
      simplex[n] = reflected;
      continue;
    }
    if (reflected.fx < worst.fx) {
      const outside = evaluate(along(centroid, worst.x, RHO * GAMMA));
      if (outside.fx <= reflected.fx) {
        simplex[n] = outside;
        continue;
      }
    } else {
      const inside = evaluate(along(centroid, worst.x, -GAMMA));
      if (inside.fx < worst.fx) {
        simplex[n] = inside;
        continue;
      }
    }
    for (let i = 1; i <= n; i++) {
      simplex[i] = evaluate(simplex[i]!.x.map((v, j) => best.x[j]! + SIGMA * (v - best.x[j]!)));
    }
  }
}

/** Both the values and the vertices of a sorted simplex lie within the tolerances of its best vertex. */
function hasConverged(simplex: Vertex[], tolerance: number, xTolerance: number): boolean {
  const best = simplex[0]!;
  // Infinity - Infinity is NaN, which fails the test: a simplex of undefined points has not converged
  if (!(simplex[simplex.length - 1]!.fx - best.fx < tolerance || simplex.length === 1)) return false;
  for (let i = 1; i < simplex.length; i++) {
    const { x } = simplex[i]!;
    for (let j = 0; j < x.length; j++) {
      if (!(Math.abs(x[j]! - best.x[j]!) < xTolerance)) return false;
    }
  }
  return true;
}
