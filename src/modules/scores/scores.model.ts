import gammaln from '@stdlib/math-base-special-gammaln';
import { nelderMead } from './nelder-mead.ts';

/**
 * Customer-lifetime-value models, pure math: BG/NBD for how many purchases a customer will make
 * (Fader, Hardie & Lee 2005, "Counting your customers the easy way") and Gamma-Gamma for how much
 * they spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves").
 * The formulas follow the Python `lifetimes` package, whose results the tests reproduce.
 * Time is in whatever unit the inputs use (weeks in the tests); money in whatever unit mx uses.
 */

export type BgNbdParams = { r: number; alpha: number; a: number; b: number };
export type GammaGammaParams = { p: number; q: number; gamma: number };
/** Customers compressed into unique (x, tx, T) tuples: x repeat purchases, tx time of the last repeat purchase since the first, T age since the first purchase; count = how many customers share it. */
export type PurchaseTuple = { x: number; tx: number; T: number; count: number };
export type SpendRow = { x: number; mx: number; count: number }; // repeat buyers: x >= 1, mx = mean repeat spend > 0

const HYP2F1_TOLERANCE = 1e-15;
// z = t / (alpha + T + t) approaches 1 only for horizons far longer than the customers' ages; terms then
// shrink like z^n, and a million of them covers z up to about 0.99997 while costing a few milliseconds
const HYP2F1_MAX_TERMS = 1_000_000;

/** Gauss hypergeometric function 2F1(a, b; c; z) by its power series, for |z| < 1. */
export function hyp2f1(a: number, b: number, c: number, z: number): number {
  if (!(Math.abs(z) < 1)) throw new RangeError(`hyp2f1: the series needs |z| < 1, got ${z}`);
  if (c <= 0 && Number.isInteger(c))
    throw new RangeError(`hyp2f1: c must not be a non-positive integer (${c})`);
  let term = 1;
  let sum = 1;
  for (let n = 0; n < HYP2F1_MAX_TERMS; n++) {
    term *= ((a + n) * (b + n) * z) / ((c + n) * (n + 1));
    sum += term;
    // a or b a non-positive integer: the series is a polynomial and has ended
    if (term === 0) return sum;
    if (!Number.isFinite(sum)) throw new RangeError(`hyp2f1(${a}, ${b}; ${c}; ${z}) overflows`);
    // a small term ends the series only if the next ones shrink too: while the terms still grow (large
    // a and b against c) one can be tiny, e.g. when a is close to 0, and the ones after it huge
    const next = ((a + n + 1) * (b + n + 1) * z) / ((c + n + 1) * (n + 2));
    if (Math.abs(term) < HYP2F1_TOLERANCE * Math.abs(sum) && Math.abs(next) < 1) return sum;
  }
  throw new RangeError(`hyp2f1(${a}, ${b}; ${c}; ${z}) did not converge in ${HYP2F1_MAX_TERMS} terms`);
}

/** log(e^u + e^v) without overflow; either may be -Infinity (a term that is absent). */
function logAddExp(u: number, v: number): number {
  if (u === Number.NEGATIVE_INFINITY) return v;
  if (v === Number.NEGATIVE_INFINITY) return u;
  return Math.max(u, v) + Math.log1p(Math.exp(-Math.abs(u - v)));
}

// The BG/NBD log-likelihood is A1 + A2 + log(e^A3 + [x > 0] e^A4) (lifetimes' BetaGeoFitter). A1 + A2
// depends on x alone, which lets the fit evaluate its gammaln terms once per distinct x.
function bgnbdCountPart({ r, alpha, a, b }: BgNbdParams, x: number): number {
  const a1 = gammaln(r + x) - gammaln(r) + r * Math.log(alpha);
  const a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x);
  return a1 + a2;
}

function bgnbdTimingPart({ r, alpha, a, b }: BgNbdParams, x: number, tx: number, T: number): number {
  // still alive at T, or (only after a repeat purchase) dropped out right after the last one at tx
  const a3 = -(r + x) * Math.log(alpha + T);
  const a4 =
    x > 0 ? Math.log(a) - Math.log(b + x - 1) - (r + x) * Math.log(alpha + tx) : Number.NEGATIVE_INFINITY;
  return logAddExp(a3, a4);
}

/**
 * Log-likelihood of one customer with x repeat purchases, the last at tx, observed for T.
 * It is a log density in the purchase times, so it can be positive: it is for x = 200, tx = 38, T = 40.
 */
export function bgnbdLogLikelihood(params: BgNbdParams, x: number, tx: number, T: number): number {
  return bgnbdCountPart(params, x) + bgnbdTimingPart(params, x, tx, T);
}

/** P(the customer has not dropped out by T | x, tx, T); 1 for customers without a repeat purchase. */
export function probabilityAlive({ r, alpha, a, b }: BgNbdParams, x: number, tx: number, T: number): number {
  if (x === 0) return 1;
  // 1 / (1 + e^d) with d the log of FHL's δ-term; e^d overflowing to Infinity correctly gives 0
  const d = Math.log(a) - Math.log(b + x - 1) + (r + x) * (Math.log(alpha + T) - Math.log(alpha + tx));
  return 1 / (1 + Math.exp(d));
}

/**
 * The part of FHL eq. (10) before the division by 1 + δ(...): (a+b+x-1)/(a-1) × [1 - ((α+T)/(α+T+t))^(r+x)
 * · 2F1(r+x, b+x; a+b+x-1; z)], z = t/(α+T+t). Euler's transformation 2F1(A, B; C; z) =
 * (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the bracket into 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z):
 * for large x the direct series has terms around n^x z^n that overflow long before they shrink (and the
 * power in front underflows), while the transformed one has small, fixed upper parameters.
 */
export function expectedPurchasesIfAlive(
  { r, alpha, a, b }: BgNbdParams,
  x: number,
  T: number,
  t: number,
): number {
  if (t === 0) return 0;
  const logOneMinusZ = Math.log(alpha + T) - Math.log(alpha + T + t);
  const series = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, t / (alpha + T + t));
  // -expm1 keeps the digits of 1 - (1-z)^(a-1) F when it is close to 0 (short horizons)
  const bracket =
    series > 0
      ? -Math.expm1((a - 1) * logOneMinusZ + Math.log(series))
      : 1 - Math.exp((a - 1) * logOneMinusZ) * series;
  return ((a + b + x - 1) / (a - 1)) * bracket;
}

/** E[Y(t) | x, tx, T]: expected purchases in the next t, FHL 2005 eq. (10). */
export function expectedPurchases(params: BgNbdParams, x: number, tx: number, T: number, t: number): number {
  // eq. (10)'s denominator 1 + δ(x > 0) a/(b+x-1) ((α+T)/(α+tx))^(r+x) is 1 / P(alive)
  return probabilityAlive(params, x, tx, T) * expectedPurchasesIfAlive(params, x, T, t);
}

/** E[X(t)]: expected purchases of a new customer in their first t, FHL 2005 eq. (9). */
export function unconditionalExpectedPurchases(params: BgNbdParams, t: number): number {
  // eq. (9) is eq. (10) for a customer seen for no time at all (x = tx = T = 0)
  return expectedPurchasesIfAlive(params, 0, 0, t);
}

/**
 * The discounted expected purchases of a customer still alive at T (they do not depend on tx):
 * sum over m = 1..months of (E[Y(m·unitsPerMonth) | alive] - E[Y((m-1)·unitsPerMonth) | alive]) / (1 + monthlyRate)^m.
 */
export function discountedExpectedPurchasesIfAlive(
  params: BgNbdParams,
  x: number,
  T: number,
  months: number,
  unitsPerMonth: number,
  monthlyRate: number,
): number {
  let total = 0;
  let previous = 0;
  for (let m = 1; m <= months; m++) {
    const cumulative = expectedPurchasesIfAlive(params, x, T, m * unitsPerMonth);
    total += (cumulative - previous) / (1 + monthlyRate) ** m;
    previous = cumulative;
  }
  return total;
}

/**
 * Discounted expected purchases over `months` months: sum over m=1..months of (E[Y(m·unitsPerMonth)] -
 * E[Y((m-1)·unitsPerMonth)]) / (1 + monthlyRate)^m (as lifetimes' customer_lifetime_value does), which
 * is P(alive) times the same sum for a customer known to be alive. CLV = this × expectedAverageSpend.
 */
export function discountedExpectedPurchases(
  params: BgNbdParams,
  x: number,
  tx: number,
  T: number,
  months: number,
  unitsPerMonth: number,
  monthlyRate: number,
): number {
  return (
    probabilityAlive(params, x, tx, T) *
    discountedExpectedPurchasesIfAlive(params, x, T, months, unitsPerMonth, monthlyRate)
  );
}

/** Log-likelihood of one repeat buyer's mean repeat spend mx over x repeat purchases (lifetimes' GammaGammaFitter). */
export function gammaGammaLogLikelihood({ p, q, gamma }: GammaGammaParams, x: number, mx: number): number {
  const px = p * x;
  return (
    gammaln(px + q) -
    gammaln(px) -
    gammaln(q) +
    q * Math.log(gamma) +
    (px - 1) * Math.log(mx) +
    px * Math.log(x) -
    (px + q) * Math.log(x * mx + gamma)
  );
}

/** E[mean spend | x, mx]: the population mean p γ/(q-1) moved towards mx the more purchases there are. */
export function expectedAverageSpend({ p, q, gamma }: GammaGammaParams, x: number, mx: number): number {
  // the spend per transaction has a finite mean only for q > 1
  if (!(q > 1)) throw new RangeError(`expectedAverageSpend needs q > 1, got ${q}`);
  if (x === 0) return (p * gamma) / (q - 1);
  return (p * (gamma + x * mx)) / (p * x + q - 1);
}

/** Groups customers with the same (x, tx, T), the input fitBgNbd expects. */
export function compressPurchases(
  customers: Iterable<{ x: number; tx: number; T: number }>,
): PurchaseTuple[] {
  const byKey = new Map<string, PurchaseTuple>();
  for (const { x, tx, T } of customers) {
    const key = `${x}|${tx}|${T}`;
    const tuple = byKey.get(key);
    if (tuple) tuple.count++;
    else byKey.set(key, { x, tx, T, count: 1 });
  }
  return [...byKey.values()];
}

// Nelder–Mead settings, in log-parameters. The log-likelihoods are sums over many customers (about
// -1e4 on CDNOW, where 1e-10 is some 50 ulps); 1e-9 on the log-parameters is far below the 3 decimals
// the tests check.
// Tolerances relative to the objective's size: a tenant's log-likelihood grows with its customers
// (about −1e7 for a million), and an absolute 1e-10 would ask for digits a double does not have.
const NELDER_MEAD = { maxIterations: 5000, xTolerance: 1e-8, initialStep: 0.1 };
// From a previous optimum (a refit on data that has usually barely moved) the first simplex is
// smaller: it expands where the optimum has moved further, and shrinks from closer otherwise.
const WARM_STEP = 0.01;
const RELATIVE_TOLERANCE = 1e-13;
// Restart Nelder–Mead from its optimum with a fresh simplex until a round improves the objective by no
// more than this (relative): a simplex can collapse short of the optimum (McKinnon 1998). On all of
// CDNOW the first round is already there; on flat likelihoods (samples of 50 customers) a restart
// still moves the parameters.
const RESTART_IMPROVEMENT = 1e-12;
const MAX_ROUNDS = 20;

/** Minimises f from x0 by Nelder–Mead with restarts; returns the optimum and the iterations used. */
function minimise(
  f: (v: number[]) => number,
  x0: number[],
  warm: boolean,
): { x: number[]; fx: number; iterations: number } {
  const scale = (fx: number) => Math.max(1, Math.abs(fx));
  let best = nelderMead(f, x0, {
    ...NELDER_MEAD,
    ...(warm ? { initialStep: WARM_STEP } : {}),
    tolerance: RELATIVE_TOLERANCE * scale(f(x0)),
  });
  let iterations = best.iterations;
  for (let round = 1; round < MAX_ROUNDS; round++) {
    // from a warm start a restart is small too; from a cold one it explores (flat likelihoods)
    const result = nelderMead(f, best.x, {
      ...NELDER_MEAD,
      ...(warm ? { initialStep: WARM_STEP } : {}),
      tolerance: RELATIVE_TOLERANCE * scale(best.fx),
    });
    iterations += result.iterations;
    const improvement = best.fx - result.fx;
    if (result.fx < best.fx) best = result;
    if (!(improvement > RESTART_IMPROVEMENT * scale(best.fx))) break;
  }
  return { x: best.x, fx: best.fx, iterations };
}

function checkWeights(rows: { count: number }[], what: string): void {
  if (rows.length === 0) throw new RangeError(`${what}: no data`);
  for (const row of rows) {
    if (!(row.count > 0)) throw new RangeError(`${what}: count must be positive, got ${row.count}`);
  }
}

/** BG/NBD by maximum likelihood, each tuple weighted by its count. */
export function fitBgNbd(
  tuples: PurchaseTuple[],
  start?: BgNbdParams,
): {
  params: BgNbdParams;
  logLikelihood: number;
  iterations: number;
} {
  checkWeights(tuples, 'fitBgNbd');
  for (const { x, tx, T } of tuples) {
    if (!(Number.isInteger(x) && x >= 0 && tx >= 0 && tx <= T && (x > 0 || tx === 0))) {
      throw new RangeError(`fitBgNbd: invalid tuple x = ${x}, tx = ${tx}, T = ${T}`);
    }
  }
  const countByX = new Map<number, number>();
  for (const { x, count } of tuples) countByX.set(x, (countByX.get(x) ?? 0) + count);
  // the timing part of every tuple needs log(α + T), log(α + tx) and log(b + x − 1): one log per
  // distinct value of each per evaluation (a few hundred days), then an exp and a log1p per tuple
  const n = tuples.length;
  const xs = new Int32Array(n);
  const txIndex = new Int32Array(n);
  const tIndex = new Int32Array(n);
  const counts = new Float64Array(n);
  const days = [...new Set(tuples.flatMap((t) => [t.tx, t.T]))].sort((u, v) => u - v);
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const maxX = tuples.reduce((m, t) => Math.max(m, t.x), 0);
  tuples.forEach((t, i) => {
    xs[i] = t.x;
    txIndex[i] = dayIndex.get(t.tx)!;
    tIndex[i] = dayIndex.get(t.T)!;
    counts[i] = t.count;
  });
  const logDay = new Float64Array(days.length);
  const logBx = new Float64Array(maxX + 1);
  const negativeLogLikelihood = (params: BgNbdParams) => {
    const { r, alpha, a, b } = params;
    let sum = 0;
    for (const [x, count] of countByX) sum += count * bgnbdCountPart(params, x);
    for (let d = 0; d < days.length; d++) logDay[d] = Math.log(alpha + days[d]!);
    for (let x = 1; x <= maxX; x++) logBx[x] = Math.log(b + x - 1);
    const logA = Math.log(a);
    for (let i = 0; i < n; i++) {
      const x = xs[i]!;
      const a3 = -(r + x) * logDay[tIndex[i]!]!;
      // as bgnbdTimingPart: log(e^A3 + [x > 0] e^A4)
      const timing = x > 0 ? logAddExp(a3, logA - logBx[x]! - (r + x) * logDay[txIndex[i]!]!) : a3;
      sum += counts[i]! * timing;
    }
    return -sum;
  };
  const toParams = ([r, alpha, a, b]: number[]): BgNbdParams => ({
    r: Math.exp(r!),
    alpha: Math.exp(alpha!),
    a: Math.exp(a!),
    b: Math.exp(b!),
  });
  // log-parameters keep all four positive; lifetimes starts from all ones too (a refit starts from the
  // previous optimum, which the new data has usually barely moved)
  const x0 = start ? [start.r, start.alpha, start.a, start.b].map(Math.log) : [0, 0, 0, 0];
  const best = minimise((v) => negativeLogLikelihood(toParams(v)), x0, start !== undefined);
  return { params: toParams(best.x), logLikelihood: -best.fx, iterations: best.iterations };
}

/** Gamma-Gamma by maximum likelihood over repeat buyers, each row weighted by its count. */
export function fitGammaGamma(
  rows: SpendRow[],
  start?: GammaGammaParams,
): {
  params: GammaGammaParams;
  logLikelihood: number;
  iterations: number;
} {
  checkWeights(rows, 'fitGammaGamma');
  for (const { x, mx } of rows) {
    if (!(x >= 1 && mx > 0))
      throw new RangeError(`fitGammaGamma: needs x >= 1 and mx > 0, got x = ${x}, mx = ${mx}`);
  }
  // the gammaln terms depend on x alone and the logs of x and mx on the row alone: computed once each,
  // an evaluation costs one log per row (gammaGammaLogLikelihood, term by term)
  const countByX = new Map<number, number>();
  for (const { x, count } of rows) countByX.set(x, (countByX.get(x) ?? 0) + count);
  const prepared = rows.map(({ x, mx, count }) => ({ x, mx, count, logMx: Math.log(mx), logX: Math.log(x) }));
  const total = rows.reduce((n, r) => n + r.count, 0);
  const negativeLogLikelihood = ({ p, q, gamma }: GammaGammaParams) => {
    let sum = total * (q * Math.log(gamma) - gammaln(q));
    for (const [x, count] of countByX) sum += count * (gammaln(p * x + q) - gammaln(p * x));
    for (const { x, mx, count, logMx, logX } of prepared) {
      const px = p * x;
      sum += count * ((px - 1) * logMx + px * logX - (px + q) * Math.log(x * mx + gamma));
    }
    return -sum;
  };
  const toParams = ([p, q, gamma]: number[]): GammaGammaParams => ({
    p: Math.exp(p!),
    q: Math.exp(q!),
    gamma: Math.exp(gamma!),
  });
  const x0 = start ? [start.p, start.q, start.gamma].map(Math.log) : [0, 0, 0];
  const best = minimise((v) => negativeLogLikelihood(toParams(v)), x0, start !== undefined);
  return { params: toParams(best.x), logLikelihood: -best.fx, iterations: best.iterations };
}
