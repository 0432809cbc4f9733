import type { TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database } from '../../platform/db.ts';
import { validationError } from '../../platform/errors.ts';
import { money } from '../../platform/money.ts';
import { REACTIVATION_REASONS } from '../customers/status-history.table.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import { insightsRepository as repo } from './insights.repository.ts';
import type { LifecycleInsights, RfmInsights, SixRInsights } from './insights.schemas.ts';
import { RFM_CELLS, rfmCell } from './scores.rfm.ts';

const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);

/** Tenant insights: the RFM grid, lifecycle flows and the 6R scorecard. */
export class InsightsService {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #tenants: TenantsService;

  constructor(deps: { db: Database; clock: Clock; tenants: TenantsService }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#tenants = deps.tenants;
  }

  rfm(actor: TenantActor): Promise<RfmInsights> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const { currency } = await this.#tenants.settingsIn(tx, actor.tenantId);
        const rows = new Map((await repo.rfmGrid(tx)).map((r) => [`${r.r}${r.f}`, r]));
        const grid = [1, 2, 3, 4, 5].flatMap((r) =>
          [1, 2, 3, 4, 5].map((f) => {
            const cell = rows.get(`${r}${f}`);
            return {
              r,
              f,
              cell: rfmCell(r, f),
              customers: cell?.customers ?? 0,
              revenue: money(cell?.revenue ?? 0, currency),
            };
          }),
        );
        const cells = RFM_CELLS.map((name) => {
          const inCell = grid.filter((g) => g.cell === name);
          return {
            cell: name,
            customers: inCell.reduce((n, g) => n + g.customers, 0),
            revenue: money(
              inCell.reduce((n, g) => n + g.revenue.amount, 0),
              currency,
            ),
          };
        });
        return { grid, cells, buyers: grid.reduce((n, g) => n + g.customers, 0) };
      },
      { readOnly: true },
    );
  }

  lifecycle(actor: TenantActor, period: { from?: string; to?: string }): Promise<LifecycleInsights> {
    const to = period.to ? new Date(period.to) : this.#clock.now();
    const from = period.from ? new Date(period.from) : new Date(to.getTime() - 30 * 86_400_000);
    if (from >= to) throw validationError([{ path: 'from', message: 'must be before `to`' }]);
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const transitions = await repo.flows(tx, from, to);
        const sum = (test: (t: (typeof transitions)[number]) => boolean) =>
          transitions.filter(test).reduce((n, t) => n + t.changes, 0);
        return {
          from: from.toISOString(),
          to: to.toISOString(),
          current: (await repo.currentStatuses(tx)).map((c) => ({
            status: c.status as LifecycleInsights['current'][number]['status'],
            lifecyclePhase: c.lifecycle_phase as LifecycleInsights['current'][number]['lifecyclePhase'],
            customers: c.customers,
          })),
          flows: {
            acquired: sum((t) => t.from_status === 'potential' && t.to_status === 'active'),
            atRisk: sum((t) => t.to_status === 'at_risk'),
            lapsed: sum((t) => t.to_status === 'inactive'),
            reactivated: sum(
              (t) =>
                t.from_status === 'inactive' &&
                (REACTIVATION_REASONS as readonly string[]).includes(t.reason),
            ),
            recovered: sum((t) => t.reason === 'recovered'),
          },
          transitions: transitions.map((t) => ({
            fromStatus: t.from_status as LifecycleInsights['transitions'][number]['fromStatus'],
            toStatus: t.to_status as LifecycleInsights['transitions'][number]['toStatus'],
            reason: t.reason,
            changes: t.changes,
          })),
        };
      },
      { readOnly: true },
    );
  }

  sixR(actor: TenantActor): Promise<SixRInsights> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const { currency } = await this.#tenants.settingsIn(tx, actor.tenantId);
        const s = await repo.sixR(tx);
        return {
          customers: s.customers,
          buyers: s.buyers,
          relationship: { twoWayShare: ratio(s.twoWay, s.customers) },
          retention: {
            repeatPurchaseRate: ratio(s.repeatBuyers, s.buyers),
            retentionRate: ratio(s.retained, s.buyers),
            meanProbabilityAlive: s.meanPAlive,
          },
          profitability: {
            revenuePerBuyer: s.buyers ? money(Math.round(s.revenue / s.buyers), currency) : null,
            clvPerBuyer: s.meanClv === null ? null : money(Math.round(s.meanClv), currency),
          },
          referral: {
            referralRate: ratio(s.referred, s.customers),
            referredRevenue: money(s.referredRevenue, currency),
          },
          recovery: { recoveryRate: ratio(s.recoveries, s.complaints), complaints: s.complaints },
          reactivation: {
            reactivationRate: ratio(s.reactivated, s.everInactive),
            reactivated: s.reactivated,
          },
        };
      },
      { readOnly: true },
    );
  }
}
