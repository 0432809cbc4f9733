import { money } from '../../platform/money.ts';
import type { ScoreSettings, Settings, ValueDimension } from '../tenants/tenants.schemas.ts';
import { DEFAULT_HORIZON_DAYS, modelOutputs } from './scores.compute.ts';
import type { ScoreRow, StateRow } from './scores.repository.ts';
import { type RfmCell, rfmCell } from './scores.rfm.ts';
import type { CustomerScores, ScoreModel } from './scores.schemas.ts';
import type { ModelFit } from './scores.table.ts';

type CustomerStatus = {
  status: CustomerScores['status']['status'];
  lifecyclePhase: CustomerScores['status']['lifecyclePhase'];
};

const UNITS: Record<ValueDimension, string> = {
  volume: 'items bought',
  frequency: 'counted orders',
  amount: 'net revenue (minor units)',
  punctuality: 'share of orders with a due date paid on time, among those paid or past due',
  seniority: 'days since the customer joined or first bought',
};

/** The response of GET /v1/customers/:id/scores, with every number explained. */
/**
 * Expected purchases over another horizon than the stored one: null, with the reason, where the
 * model's series does not converge or the value is not finite for this history (never a made-up
 * number, nor a 500).
 */
export function expectedOver(
  fit: ModelFit,
  history: { x: number; tx: number; age: number },
  monthlyRate: number,
  horizonDays: number,
): { value: number | null; problem: string | null } {
  try {
    const { expected } = modelOutputs(fit, history, monthlyRate, horizonDays);
    if (Number.isFinite(expected)) return { value: expected, problem: null };
    return {
      value: null,
      problem: `no expected purchases over ${horizonDays} days: not finite under this fit`,
    };
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return { value: null, problem: `no expected purchases over ${horizonDays} days: ${error.message}` };
  }
}

/**
 * The score settings the stored scores were made with: the last full recompute's (until the next one
 * adopts a change), else the tenant's current ones.
 */
export function scoringSettings(state: StateRow | undefined, current: ScoreSettings): ScoreSettings {
  return state?.settings ? { ...current, ...state.settings } : current;
}

export function toCustomerScores(input: {
  customerId: string;
  customer: CustomerStatus;
  row: ScoreRow | undefined;
  state: StateRow | undefined;
  settings: Settings;
  horizonDays?: number;
}): CustomerScores {
  const { customerId, customer, row, state } = input;
  const currency = input.settings.currency;
  const settings = { ...input.settings, scores: scoringSettings(state, input.settings.scores) };
  const weights = settings.scores.weights;
  const raw: Record<ValueDimension, number | null> = {
    volume: row?.volume ?? 0,
    frequency: row?.frequency ?? 0,
    amount: row?.monetary ?? 0,
    punctuality: row?.punctuality ?? null,
    seniority: row?.seniorityDays ?? null,
  };
  const normalized: Record<ValueDimension, number | null> = {
    volume: row?.nVolume ?? null,
    frequency: row?.nFrequency ?? null,
    amount: row?.nAmount ?? null,
    punctuality: row?.nPunctuality ?? null,
    seniority: row?.nSeniority ?? null,
  };
  const used = (Object.keys(weights) as ValueDimension[]).filter((d) => normalized[d] !== null);
  const weightSum = used.reduce((s, d) => s + weights[d], 0);
  const dimensions = Object.fromEntries(
    (Object.keys(UNITS) as ValueDimension[]).map((d) => [
      d,
      {
        raw: raw[d],
        unit: UNITS[d],
        normalized: normalized[d],
        weight: weights[d],
        contribution:
          normalized[d] !== null && weightSum > 0 ? (100 * weights[d] * normalized[d]!) / weightSum : 0,
      },
    ]),
  ) as CustomerScores['value']['dimensions'];
  const score = row?.valueScore ?? null;
  const explanation =
    score === null
      ? 'No value score: the customer has no counted orders yet.'
      : `score = 100 × Σ(weight × percentile) / Σ weight over ${used.join(', ')} = ${score.toFixed(1)}` +
        `${used.length < 5 ? ' (punctuality left out: no order with a due date)' : ''}; tier ${row?.tier} by rank among the buyers (vip top ${settings.scores.tiers.vip * 100} %, gold top ${settings.scores.tiers.gold * 100} %, silver top ${settings.scores.tiers.silver * 100} %).`;

  const fit = state?.fit ?? null;
  const fitted = Boolean(fit?.bgnbd);
  const hasModel = fitted && row?.pAlive !== null && row?.pAlive !== undefined;
  const horizon = input.horizonDays ?? DEFAULT_HORIZON_DAYS;
  let expected: number | null = row?.expected90 ?? null;
  let horizonProblem: string | null = null;
  if (hasModel && input.horizonDays && row?.x !== null && row?.tx !== null && row?.age !== null) {
    ({ value: expected, problem: horizonProblem } = expectedOver(
      fit!,
      { x: row!.x!, tx: row!.tx!, age: row!.age! },
      settings.scores.monthlyDiscountRate,
      horizon,
    ));
  }
  const minor = (v: number | null | undefined) =>
    v === null || v === undefined ? null : money(Math.round(v), currency);
  const reason = !row
    ? 'not computed yet: the customer has no scores row (no order since the last recompute)'
    : !fitted
      ? (fit?.reason ?? 'no model fitted yet: run POST /v1/scores/recompute')
      : row.pAlive === null
        ? row.x === null
          ? 'no purchase history: the model describes buyers only'
          : 'the fitted model could not be evaluated for this purchase history (a series did not converge)'
        : // BG/NBD fitted without the spend model: the expected order value and CLV are null, and say why
          [
            horizonProblem,
            fit!.gammaGamma
              ? null
              : `${fit!.reason ?? 'Gamma-Gamma not fitted'}: expected order value and CLV are null`,
          ]
            .filter(Boolean)
            .join('; ') || null;
  return {
    customerId,
    asOf: row?.asOf ?? null,
    computedAt: row?.computedAt.toISOString() ?? null,
    modelVersion: hasModel ? (row?.modelVersion ?? null) : null,
    rfm: {
      recencyDays: row?.recencyDays ?? null,
      frequency: row?.frequency ?? 0,
      monetary: money(row?.monetary ?? 0, currency),
      r: row?.r ?? null,
      f: row?.f ?? null,
      m: row?.m ?? null,
      cell: row?.r && row.f ? (rfmCell(row.r, row.f) as RfmCell) : null,
    },
    value: { score, tier: (row?.tier as CustomerScores['value']['tier']) ?? null, dimensions, explanation },
    status: { status: customer.status, lifecyclePhase: customer.lifecyclePhase },
    model: {
      fitted,
      reason,
      probabilityAlive: hasModel ? row!.pAlive : null,
      churnRisk: hasModel ? 1 - row!.pAlive! : null,
      expectedPurchases: hasModel && expected !== null ? { days: horizon, value: expected } : null,
      expectedOrderValue: hasModel ? minor(row!.expectedSpend) : null,
      clv: hasModel ? minor(row!.clv) : null,
      inputs:
        row && row.x !== null && row.tx !== null && row.age !== null
          ? { x: row.x, tx: row.tx, T: row.age, meanRepeatSpend: row.meanRepeatSpend }
          : null,
    },
    sixR: {
      relationship: {
        interactions90d: row?.interactions90 ?? 0,
        inbound90d: row?.inbound90 ?? 0,
        feedback90d: row?.feedback90 ?? 0,
        twoWay: (row?.inbound90 ?? 0) > 0 && (row?.interactions90 ?? 0) > (row?.inbound90 ?? 0),
      },
      retention: { probabilityAlive: hasModel ? row!.pAlive : null },
      profitability: {
        netRevenue: money(row?.monetary ?? 0, currency),
        clv: hasModel ? minor(row!.clv) : null,
      },
      referral: {
        referredCustomers: row?.referrals ?? 0,
        referredRevenue: money(row?.referralRevenue ?? 0, currency),
      },
      recovery: { complaints: row?.complaints ?? 0, recovered: row?.recoveries ?? 0 },
      reactivation: { times: row?.reactivations ?? 0 },
    },
  };
}

export function toModel(state: StateRow | undefined): ScoreModel {
  const fit = state?.fit ?? null;
  return {
    fitted: Boolean(fit?.bgnbd),
    reason: fit ? fit.reason : 'never recomputed: run POST /v1/scores/recompute',
    modelVersion: state?.modelVersion ?? 0,
    timeUnit: 'days',
    bgnbd: fit?.bgnbd
      ? {
          r: fit.bgnbd.r,
          alpha: fit.bgnbd.alpha,
          a: fit.bgnbd.a,
          b: fit.bgnbd.b,
          logLikelihood: fit.bgnbd.logLikelihood,
        }
      : null,
    gammaGamma: fit?.gammaGamma
      ? {
          p: fit.gammaGamma.p,
          q: fit.gammaGamma.q,
          gamma: fit.gammaGamma.gamma,
          logLikelihood: fit.gammaGamma.logLikelihood,
        }
      : null,
    customersUsed: fit?.customers ?? 0,
    repeatBuyers: fit?.repeatBuyers ?? 0,
    tuples: fit?.tuples ?? 0,
    fitMs: fit?.fitMs ?? 0,
    window: { from: fit?.window.from ?? null, to: fit?.window.to ?? null },
    fittedAt: state?.fittedAt?.toISOString() ?? null,
    recomputedAt: state?.recomputedAt?.toISOString() ?? null,
  };
}
