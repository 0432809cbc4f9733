import type { Actor, TenantActor } from '../../platform/auth.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { newId, UUID } from '../../platform/ids.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { tenantsRepository as repo, type TenantRow } from './tenants.repository.ts';
import {
  type CreateTenantInput,
  DEFAULT_CAMPAIGN_SETTINGS,
  DEFAULT_SCORE_SETTINGS,
  DEFAULT_SLA,
  type Settings,
  type Tenant,
  type UpdateSettingsInput,
} from './tenants.schemas.ts';

export const toTenant = (row: TenantRow): Tenant => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  currency: row.currency,
  timezone: row.timezone,
  createdAt: row.createdAt.toISOString(),
});

const toSettings = (row: TenantRow): Settings => {
  const stored = row.settings as {
    sla?: Partial<Settings['sla']>;
    scores?: Partial<Settings['scores']>;
    campaigns?: Partial<Settings['campaigns']>;
  };
  return {
    tenantId: row.id,
    name: row.name,
    currency: row.currency,
    timezone: row.timezone,
    sla: { ...DEFAULT_SLA, ...stored.sla },
    scores: { ...DEFAULT_SCORE_SETTINGS, ...stored.scores },
    campaigns: { ...DEFAULT_CAMPAIGN_SETTINGS, ...stored.campaigns },
    updatedAt: row.updatedAt.toISOString(),
  };
};

export class TenantsService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #scoreSettingsListeners: ((tenantId: string) => Promise<void>)[] = [];

  constructor(deps: { db: Database; cursors: Cursors }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
  }

  create(input: CreateTenantInput): Promise<Tenant> {
    return this.#db.withPlatform(async (tx) => toTenant(await repo.insert(tx, { id: newId(), ...input })));
  }

  list(actor: Actor, limit: number, cursor?: string): Promise<Page<Tenant>> {
    const scope = { tenantId: null, list: `tenants:${actor.sub}`, filters: {} };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#db.withPlatform(
      async (tx) =>
        this.#cursors.page(scope, await repo.page(tx, after, limit), limit, (r) => r.id, toTenant),
      { readOnly: true },
    );
  }

  /** Every tenant's id (platform jobs that sweep each tenant). */
  allIds(): Promise<string[]> {
    return this.#db.withPlatform(async (tx) => (await repo.ids(tx)).map((r) => r.id), { readOnly: true });
  }

  /** A tenant by id or slug (platform use: tokens, boot). */
  find(idOrSlug: string): Promise<Tenant | undefined> {
    // a slug never has the form of a UUID (creation refuses it), so the two cannot be confused
    const isId = UUID.test(idOrSlug);
    return this.#db.withPlatform(
      async (tx) => {
        const row = isId ? await repo.findById(tx, idOrSlug) : await repo.findBySlug(tx, idOrSlug);
        return row && toTenant(row);
      },
      { readOnly: true },
    );
  }

  /** The default tenant of a fresh installation: created once, found afterwards. */
  async ensure(slug: string, name: string): Promise<Tenant> {
    const existing = await this.find(slug);
    if (existing) return existing;
    try {
      return await this.create({ slug, name, currency: 'EUR', timezone: 'Europe/Madrid' });
    } catch (error) {
      // another process created it first
      const raced = await this.find(slug);
      if (raced) return raced;
      throw error;
    }
  }

  /** For other modules: the tenant's settings in the caller's transaction. */
  async settingsIn(tx: Tx, tenantId: string): Promise<Settings> {
    const row = await repo.findById(tx, tenantId);
    if (!row) throw new AppError('tenant_not_found', 'the token names a tenant that does not exist');
    return toSettings(row);
  }

  /** The currency orders are written in, fixed until the transaction ends (see updateSettings). */
  async orderCurrencyIn(tx: Tx, tenantId: string): Promise<string> {
    const currency = await repo.lockCurrency(tx, tenantId);
    if (!currency) throw new AppError('tenant_not_found', 'the token names a tenant that does not exist');
    return currency;
  }

  getSettings(actor: TenantActor): Promise<Settings> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const row = await repo.findById(tx, actor.tenantId);
        if (!row) throw new AppError('tenant_not_found', 'the token names a tenant that does not exist');
        return toSettings(row);
      },
      { readOnly: true },
    );
  }

  /** Called after a change of the score settings has committed (the scores module recomputes). */
  onScoreSettingsChanged(listener: (tenantId: string) => Promise<void>): void {
    this.#scoreSettingsListeners.push(listener);
  }

  async updateSettings(actor: TenantActor, input: UpdateSettingsInput): Promise<Settings> {
    const updated = await this.#db.withTenant(actor.tenantId, async (tx) => {
      // locked: each section merges into what is stored, so two patches of different sections at
      // the same time must not both start from the same stored settings
      const row = await repo.lockById(tx, actor.tenantId);
      if (!row) throw new AppError('tenant_not_found', 'the token names a tenant that does not exist');
      // recorded amounts (orders' base totals, aggregates, scores) are in the tenant's currency; order
      // writes share-lock the row (orderCurrencyIn), so the lock above waited for those in flight and
      // this statement's fresh snapshot sees their orders
      if (input.currency && input.currency !== row.currency && (await repo.hasOrders(tx))) {
        throw new AppError(
          'currency_in_use',
          `the tenant has orders in ${row.currency}: their amounts, aggregates and scores are in it`,
          {
            errors: [
              { path: 'currency', message: `cannot change once orders are recorded in ${row.currency}` },
            ],
          },
        );
      }
      const { sla, scores, campaigns, ...columns } = input;
      const current = toSettings(row);
      // each settings section merges into what is stored; other sections are kept
      const settings =
        sla || scores || campaigns
          ? {
              ...row.settings,
              ...(sla ? { sla: { ...current.sla, ...sla } } : {}),
              ...(scores ? { scores: { ...current.scores, ...scores } } : {}),
              ...(campaigns ? { campaigns: { ...current.campaigns, ...campaigns } } : {}),
            }
          : undefined;
      return toSettings(
        await repo.update(tx, actor.tenantId, { ...columns, ...(settings ? { settings } : {}) }),
      );
    });
    if (input.scores || input.timezone) {
      for (const listener of this.#scoreSettingsListeners) await listener(actor.tenantId);
    }
    return updated;
  }
}
