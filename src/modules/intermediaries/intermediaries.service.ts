import type { TenantActor } from '../../platform/auth.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { ifMatchSatisfied } from '../../platform/schemas.ts';
import { type IntermediaryRow, intermediariesRepository as repo } from './intermediaries.repository.ts';
import type {
  CreateIntermediaryInput,
  Intermediary,
  ListIntermediariesFilter,
  UpdateIntermediaryInput,
} from './intermediaries.schemas.ts';

export function toIntermediary(row: IntermediaryRow): Intermediary {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    email: row.email,
    phone: row.phone,
    externalId: row.externalId,
    active: row.active,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const notFound = (id: string) =>
  new AppError('intermediary_not_found', `no intermediary ${id} in this tenant`);

export class IntermediariesService {
  #managed: ((tx: Tx, intermediaryId: string) => Promise<number>) | undefined;
  readonly #db: Database;
  readonly #cursors: Cursors;

  constructor(deps: { db: Database; cursors: Cursors }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
  }

  create(actor: TenantActor, input: CreateIntermediaryInput): Promise<Intermediary> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      const row = await repo.insert(tx, {
        tenantId: actor.tenantId,
        id: newId(),
        kind: input.kind,
        name: input.name,
        email: input.email?.toLowerCase() ?? null,
        phone: input.phone ?? null,
        externalId: input.externalId ?? null,
        active: input.active ?? true,
      });
      return toIntermediary(row);
    });
  }

  get(actor: TenantActor, id: string): Promise<Intermediary> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const row = await repo.findById(tx, id);
        if (!row) throw notFound(id);
        return toIntermediary(row);
      },
      { readOnly: true },
    );
  }

  update(actor: TenantActor, id: string, input: UpdateIntermediaryInput, ifMatch?: string) {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      const current = await repo.findById(tx, id, true);
      if (!current) throw notFound(id);
      if (!ifMatchSatisfied(ifMatch, current.version)) {
        throw new AppError('precondition_failed', `the intermediary is at version ${current.version}`);
      }
      if (input.kind && input.kind !== 'employee' && current.kind === 'employee') {
        const managed = (await this.#managed?.(tx, id)) ?? 0;
        if (managed)
          throw new AppError(
            'intermediary_in_use',
            `${managed} customer(s) have this employee as account manager: reassign them before changing its kind`,
          );
      }
      const row = await repo.update(tx, id, {
        ...input,
        email: input.email === undefined ? undefined : (input.email?.toLowerCase() ?? null),
      });
      return toIntermediary(row);
    });
  }

  list(actor: TenantActor, filter: ListIntermediariesFilter, limit: number, cursor?: string) {
    const scope = { tenantId: actor.tenantId, list: 'intermediaries', filters: filter };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx): Promise<Page<Intermediary>> => {
        const rows = await repo.list(tx, filter, after, limit);
        return this.#cursors.page(scope, rows, limit, (r) => r.id, toIntermediary);
      },
      { readOnly: true },
    );
  }

  /** Intermediaries by id (GraphQL loaders); unknown ids are left out. */
  getMany(actor: TenantActor, ids: readonly string[]): Promise<Intermediary[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => (await repo.findByIds(tx, ids)).map(toIntermediary),
      {
        readOnly: true,
      },
    );
  }

  /**
   * For other modules: the intermediaries with these ids, in the caller's transaction; `share` keeps
   * them (their kind) from changing until it commits.
   */
  findByIds(tx: Tx, ids: readonly string[], lock?: 'share'): Promise<IntermediaryRow[]> {
    return repo.findByIds(tx, ids, lock);
  }

  /** For the customers module: how many customers an intermediary manages (it must stay an employee). */
  onManaged(count: (tx: Tx, intermediaryId: string) => Promise<number>): void {
    this.#managed = count;
  }
}
