import { createHash } from 'node:crypto';
import type { ScoreSettings } from '../tenants/tenants.schemas.ts';
import {
  discountedExpectedPurchasesIfAlive,
  expectedAverageSpend,
  expectedPurchasesIfAlive,
  fitBgNbd,
  fitGammaGamma,
  type PurchaseTuple,
  probabilityAlive,
  type SpendRow,
} from './scores.model.ts';
import type { ScoreBase, StagedScore, TupleOutput } from './scores.repository.ts';
import { percentileOf, quintileOf, tierOf } from './scores.rfm.ts';
import type { Cutpoints, ModelFit } from './scores.table.ts';

/** Below these, the models are not fitted: too little repeat behaviour to estimate anything honest. */
export const MIN_CUSTOMERS = 50;
export const MIN_REPEAT_BUYERS = 20;
/** Days per month of the CLV's monthly discounting. */
export const DAYS_PER_MONTH = 365.25 / 12;
export const CLV_MONTHS = 12;
export const DEFAULT_HORIZON_DAYS = 90;
/** A fitted parameter beyond this is a degenerate fit, not an estimate. */
export const MAX_PARAMETER = 1e5;

type Tuple = { x: number; tx: number; age: number; count: number };

/** A digest of what a fit is made from, the rows in the order the queries sort them. */
export function fitInputDigest(tuples: Tuple[], spend: SpendRow[], window: ModelFit['window']): string {
  const hash = createHash('sha256').update(JSON.stringify(window));
  for (const t of tuples) hash.update(`${t.x},${t.tx},${t.age},${t.count};`);
  hash.update('|');
  for (const s of spend) hash.update(`${s.x},${s.mx},${s.count};`);
  return hash.digest('hex');
}

/**
 * The fit for these inputs: the previous one when it was made from the same inputs (maximum
 * likelihood is a function of its data: a re-run with no new data skips the optimisation), else a
 * refit starting from it.
 */
export function fitFor(
  tuples: Tuple[],
  spend: SpendRow[],
  window: ModelFit['window'],
  previous?: ModelFit | null,
): ModelFit {
  const inputDigest = fitInputDigest(tuples, spend, window);
  if (previous?.inputDigest === inputDigest) return previous;
  return { ...fitModels(tuples, spend, window, previous), inputDigest };
}

/** Fits BG/NBD on the (x, tx, T) tuples (days) and Gamma-Gamma on the repeat buyers' mean spend. */
export function fitModels(
  tuples: Tuple[],
  spend: SpendRow[],
  window: ModelFit['window'],
  previous?: ModelFit | null,
): ModelFit {
  const started = performance.now();
  const customers = tuples.reduce((n, t) => n + t.count, 0);
  const repeatBuyers = tuples.reduce((n, t) => n + (t.x > 0 ? t.count : 0), 0);
  const base = { customers, repeatBuyers, tuples: tuples.length, window };
  if (customers < MIN_CUSTOMERS || repeatBuyers < MIN_REPEAT_BUYERS) {
    return {
      ...base,
      bgnbd: null,
      gammaGamma: null,
      fitMs: 0,
      reason: `not fitted: ${customers} buyers and ${repeatBuyers} repeat buyers; the models need at least ${MIN_CUSTOMERS} buyers and ${MIN_REPEAT_BUYERS} repeat buyers`,
    };
  }
  const data: PurchaseTuple[] = tuples.map((t) => ({ x: t.x, tx: t.tx, T: t.age, count: t.count }));
  const bg = fitBgNbd(data, previous?.bgnbd ?? undefined);
  // regular purchase histories without heterogeneity drive r and alpha towards infinity (the Poisson
  // limit): such a fit is refused rather than reported
  const sane = Object.values(bg.params).every((v) => Number.isFinite(v) && v > 1e-8 && v < MAX_PARAMETER);
  if (!sane) {
    return {
      ...base,
      bgnbd: null,
      gammaGamma: null,
      fitMs: Math.round(performance.now() - started),
      reason: `not fitted: the BG/NBD fit degenerated (a parameter left (1e-8, ${MAX_PARAMETER})); the purchase histories are too alike`,
    };
  }
  // data the spend model cannot describe leaves it out (and CLV null), never the whole recompute
  let gg: ReturnType<typeof fitGammaGamma> | undefined;
  try {
    gg = spend.length ? fitGammaGamma(spend, previous?.gammaGamma ?? undefined) : undefined;
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
  // the expected spend needs q > 1; otherwise the spend model is left out and CLV stays null
  const usable =
    gg &&
    gg.params.q > 1 &&
    Object.values(gg.params).every((v) => Number.isFinite(v) && v > 0 && v < MAX_PARAMETER)
      ? gg
      : undefined;
  const fitted: ModelFit = {
    ...base,
    bgnbd: { ...bg.params, logLikelihood: bg.logLikelihood, iterations: bg.iterations },
    gammaGamma: usable
      ? { ...usable.params, logLikelihood: usable.logLikelihood, iterations: usable.iterations }
      : null,
    fitMs: Math.round(performance.now() - started),
    reason: usable ? null : 'Gamma-Gamma not fitted (too few repeat buyers with a positive spend, or q ≤ 1)',
  };
  // a refit that moved no parameter by more than a millionth keeps the previous one exactly, so that a
  // re-run on the same data changes nothing (the warm start may wander in the last digits)
  return previous && sameParameters(previous, fitted)
    ? { ...fitted, bgnbd: previous.bgnbd, gammaGamma: previous.gammaGamma }
    : fitted;
}

function sameParameters(a: ModelFit, b: ModelFit): boolean {
  const close = (u: Record<string, number> | null, v: Record<string, number> | null, keys: string[]) =>
    u === null || v === null ? u === v : keys.every((k) => Math.abs(u[k]! - v[k]!) <= 1e-6 * Math.abs(u[k]!));
  return (
    close(a.bgnbd, b.bgnbd, ['r', 'alpha', 'a', 'b']) &&
    close(a.gammaGamma, b.gammaGamma, ['p', 'q', 'gamma'])
  );
}

const paramsOf = (fit: ModelFit) => {
  const { r, alpha, a, b } = fit.bgnbd!;
  return { r, alpha, a, b };
};

/** What a history's outputs need beyond P(alive): they depend on x and T only, not on tx. */
function aliveParts(fit: ModelFit, x: number, age: number, monthlyRate: number, horizonDays: number) {
  const p = paramsOf(fit);
  return {
    expected: expectedPurchasesIfAlive(p, x, age, horizonDays),
    det: discountedExpectedPurchasesIfAlive(p, x, age, CLV_MONTHS, DAYS_PER_MONTH, monthlyRate),
  };
}

/**
 * The model outputs of one purchase history under a fit: P(alive), the expected purchases over the
 * horizon and the discounted ones over the CLV's months (each P(alive) times the alive customer's).
 * `alive` may hold the second part, computed once for histories of the same x and T.
 */
export function modelOutputs(
  fit: ModelFit,
  h: { x: number; tx: number; age: number },
  monthlyRate: number,
  horizonDays = DEFAULT_HORIZON_DAYS,
  alive = aliveParts(fit, h.x, h.age, monthlyRate, horizonDays),
) {
  const pAlive = probabilityAlive(paramsOf(fit), h.x, h.tx, h.age);
  return { pAlive, expected: pAlive * alive.expected, det: pAlive * alive.det };
}

/** The outputs, or null where this history's series does not converge under the fit. */
function safeOutputs(fit: ModelFit, h: { x: number; tx: number; age: number }, monthlyRate: number) {
  try {
    const o = modelOutputs(fit, h, monthlyRate);
    return [o.pAlive, o.expected, o.det].every(Number.isFinite) ? o : null;
  } catch (error) {
    if (error instanceof RangeError) return null;
    throw error;
  }
}

/**
 * The outputs of every tuple, for the set-based recompute to join. A fit whose outputs cannot be
 * computed for some history (a series that does not converge) is dropped, with the reason.
 */
export function tupleOutputs(
  fit: ModelFit,
  tuples: Tuple[],
  settings: ScoreSettings,
): { fit: ModelFit; outputs: TupleOutput[] } {
  if (!fit.bgnbd) return { fit, outputs: [] };
  try {
    // the series (13 per history) are the cost: once per distinct (x, T), far fewer than the tuples
    const alive = new Map<string, ReturnType<typeof aliveParts>>();
    const outputs = tuples.map((t) => {
      const key = `${t.x}:${t.age}`;
      let parts = alive.get(key);
      if (!parts) {
        parts = aliveParts(fit, t.x, t.age, settings.monthlyDiscountRate, DEFAULT_HORIZON_DAYS);
        alive.set(key, parts);
      }
      const o = modelOutputs(fit, t, settings.monthlyDiscountRate, DEFAULT_HORIZON_DAYS, parts);
      if (![o.pAlive, o.expected, o.det].every(Number.isFinite)) throw new RangeError('non-finite output');
      return { x: t.x, tx: t.tx, age: t.age, p_alive: o.pAlive, e90: o.expected, det: o.det };
    });
    return { fit, outputs };
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return {
      fit: {
        ...fit,
        bgnbd: null,
        gammaGamma: null,
        reason: `not fitted: the model's outputs do not converge (${error.message})`,
        // not a fit to keep: the next recompute fits again
        inputDigest: undefined,
      },
      outputs: [],
    };
  }
}

/** Gamma-Gamma's expected average spend: conditional for repeat buyers with a spend, else the mean. */
export function expectedSpendOf(
  fit: ModelFit,
  x: number | null,
  meanRepeatSpend: number | null,
): number | null {
  const gg = fit.gammaGamma;
  if (!gg) return null;
  const params = { p: gg.p, q: gg.q, gamma: gg.gamma };
  return x && meanRepeatSpend && meanRepeatSpend > 0
    ? expectedAverageSpend(params, x, meanRepeatSpend)
    : expectedAverageSpend(params, 0, 0);
}

const WEIGHTED: [keyof ScoreSettings['weights'], keyof StagedScore][] = [
  ['volume', 'n_volume'],
  ['frequency', 'n_frequency'],
  ['amount', 'n_amount'],
  ['punctuality', 'n_punctuality'],
  ['seniority', 'n_seniority'],
];

/** The weighted mean of the available normalized dimensions, 0–100 (as the full recompute's SQL). */
export function valueScore(
  row: Pick<StagedScore, 'n_volume' | 'n_frequency' | 'n_amount' | 'n_punctuality' | 'n_seniority'>,
  weights: ScoreSettings['weights'],
): number | null {
  let num = 0;
  let den = 0;
  for (const [dimension, column] of WEIGHTED) {
    const v = row[column as keyof typeof row];
    if (v === null || v === undefined) continue;
    num += weights[dimension] * v;
    den += weights[dimension];
  }
  return den > 0 ? (100 * num) / den : null;
}

/** One customer's row between full recomputes: placed against the last recompute's distributions. */
export function placeRow(
  base: ScoreBase,
  context: { fit: ModelFit; cutpoints: Cutpoints; settings: ScoreSettings },
): StagedScore {
  const { fit, cutpoints: c, settings } = context;
  const d = (sample: number[], population = c.buyers) => ({ sample, population });
  if (base.frequency === 0 || base.recency_days === null) {
    return {
      ...base,
      r: null,
      f: null,
      m: null,
      n_volume: null,
      n_frequency: null,
      n_amount: null,
      n_punctuality: null,
      n_seniority: null,
      value_score: null,
      tier: null,
      p_alive: null,
      expected_90: null,
      expected_spend: null,
      clv: null,
    };
  }
  const normalized = {
    n_volume: percentileOf(d(c.volume), base.volume),
    n_frequency: percentileOf(d(c.frequency), base.frequency),
    n_amount: percentileOf(d(c.monetary), base.monetary),
    n_punctuality:
      base.punctuality === null ? null : percentileOf(d(c.punctuality, c.punctualityCount), base.punctuality),
    n_seniority: percentileOf(d(c.seniority), base.seniority_days),
  };
  const score = valueScore(normalized, settings.weights);
  const model =
    fit.bgnbd && base.x !== null && base.tx !== null && base.age !== null
      ? safeOutputs(fit, { x: base.x, tx: base.tx, age: base.age }, settings.monthlyDiscountRate)
      : null;
  const spend = model ? expectedSpendOf(fit, base.x, base.mean_repeat_spend) : null;
  return {
    ...base,
    r: quintileOf(d(c.recency), base.recency_days, false),
    f: quintileOf(d(c.frequency), base.frequency),
    m: quintileOf(d(c.monetary), base.monetary),
    ...normalized,
    value_score: score,
    tier: score === null ? null : tierOf(d(c.score), score, settings.tiers),
    p_alive: model?.pAlive ?? null,
    expected_90: model?.expected ?? null,
    expected_spend: spend,
    clv: model && spend !== null ? model.det * spend : null,
  };
}
