import { sql } from 'drizzle-orm';
import type { TenantActor } from '../../platform/auth.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { AppError, type FieldError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import { ifMatchSatisfied, isoDate } from '../../platform/schemas.ts';
import { type AttributeRow, attributesRepository as repo } from './attributes.repository.ts';
import type {
  Attribute,
  AttributeShape,
  CreateAttributeInput,
  UpdateAttributeInput,
} from './attributes.schemas.ts';

export function toAttribute(row: AttributeRow): Attribute {
  return {
    id: row.id,
    key: row.key,
    label: row.label,
    type: row.type,
    values: row.enumValues,
    description: row.description,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const notFound = (id: string) =>
  new AppError('attribute_not_found', `no attribute definition ${id} in this tenant`);

/** `If-Match` against the definition's version: 412 when it has changed since it was read. */
function checkVersion(current: AttributeRow, ifMatch: string | undefined) {
  if (!ifMatchSatisfied(ifMatch, current.version))
    throw new AppError(
      'precondition_failed',
      `the attribute definition is at version ${current.version} (ETag "v${current.version}")`,
    );
}

/** The advisory lock class of a tenant's attribute definitions (shared by writers of values). */
const DEFINITIONS_LOCK = 7203;
const lockDefinitions = (tx: Tx) =>
  tx.execute(
    sql`SELECT pg_advisory_xact_lock(${DEFINITIONS_LOCK}, hashtext(vinculo_current_tenant()::text))`,
  );

/** Why a value does not fit its definition, or null when it fits. */
export function attributeProblem(def: AttributeRow, value: unknown): string | null {
  switch (def.type) {
    case 'string':
      return typeof value === 'string' ? null : 'must be a string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : 'must be a number';
    case 'boolean':
      return typeof value === 'boolean' ? null : 'must be true or false';
    case 'date':
      // isoDate() refuses days that do not exist (2021-02-30), which Date.parse rolls over
      return typeof value === 'string' && isoDate().safeParse(value).success
        ? null
        : 'must be a date (YYYY-MM-DD)';
    case 'enum':
      return typeof value === 'string' && def.enumValues?.includes(value)
        ? null
        : `must be one of ${def.enumValues?.map((v) => JSON.stringify(v)).join(', ')}`;
  }
}

/**
 * Another module's users of an attribute (segments): what a change would break, given the
 * attribute after it (null: removed), as short descriptions; empty when nothing breaks.
 */
export type AttributeUsers = (
  tx: Tx,
  tenantId: string,
  key: string,
  next: AttributeShape | null,
) => Promise<string[]>;

export class AttributesService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #users: AttributeUsers[] = [];

  constructor(deps: { db: Database; cursors: Cursors }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
  }

  /** For other modules: reports who refers to an attribute, so that it is not removed or narrowed under them. */
  onUsedBy(users: AttributeUsers): void {
    this.#users.push(users);
  }

  async #refuseIfUsed(
    tx: Tx,
    actor: TenantActor,
    change: { key: string; next: Parameters<AttributeUsers>[3]; what: string },
  ) {
    for (const users of this.#users) {
      const found = await users(tx, actor.tenantId, change.key, change.next);
      if (found.length) {
        throw new AppError(
          'attribute_in_use',
          `${change.what} would break the definitions of the segments ${found.join(', ')}: change them first`,
          { extra: { segments: found } },
        );
      }
    }
  }

  create(actor: TenantActor, input: CreateAttributeInput): Promise<Attribute> {
    return this.#db.withTenant(actor.tenantId, async (tx) =>
      toAttribute(
        await repo.insert(tx, {
          tenantId: actor.tenantId,
          id: newId(),
          key: input.key,
          label: input.label,
          type: input.type,
          enumValues: input.values ?? null,
          description: input.description ?? null,
        }),
      ),
    );
  }

  get(actor: TenantActor, id: string): Promise<Attribute> {
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) => {
        const row = await repo.findById(tx, id);
        if (!row) throw notFound(id);
        return toAttribute(row);
      },
      { readOnly: true },
    );
  }

  list(actor: TenantActor, limit: number, cursor?: string): Promise<Page<Attribute>> {
    const scope = { tenantId: actor.tenantId, list: 'attributes', filters: {} };
    const after = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) =>
        this.#cursors.page(scope, await repo.page(tx, after, limit), limit, (r) => r.id, toAttribute),
      { readOnly: true },
    );
  }

  update(actor: TenantActor, id: string, input: UpdateAttributeInput, ifMatch?: string): Promise<Attribute> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      await lockDefinitions(tx);
      const current = await repo.findById(tx, id);
      if (!current) throw notFound(id);
      checkVersion(current, ifMatch);
      if (input.values) {
        if (current.type !== 'enum') {
          throw new AppError('validation_failed', 'values are only allowed for type enum', {
            errors: [{ path: 'values', message: 'is only allowed for type enum' }],
          });
        }
        const removed = (current.enumValues ?? []).filter((v) => !input.values!.includes(v));
        if (removed.length && (await repo.usage(tx, current.key, removed)) > 0) {
          throw new AppError('attribute_in_use', `customers still hold the values ${removed.join(', ')}`);
        }
        if (removed.length)
          await this.#refuseIfUsed(tx, actor, {
            key: current.key,
            next: { type: current.type, values: input.values },
            what: `removing the values ${removed.join(', ')} of "${current.key}"`,
          });
      }
      const row = await repo.update(tx, id, {
        label: input.label,
        enumValues: input.values,
        description: input.description,
      });
      return toAttribute(row!);
    });
  }

  remove(actor: TenantActor, id: string, ifMatch?: string): Promise<void> {
    return this.#db.withTenant(actor.tenantId, async (tx) => {
      await lockDefinitions(tx);
      const current = await repo.findById(tx, id);
      if (!current) throw notFound(id);
      checkVersion(current, ifMatch);
      const used = await repo.usage(tx, current.key);
      if (used > 0) throw new AppError('attribute_in_use', `${used} customers hold "${current.key}"`);
      await this.#refuseIfUsed(tx, actor, {
        key: current.key,
        next: null,
        what: `removing "${current.key}"`,
      });
      await repo.remove(tx, id);
    });
  }

  /** For other modules: the tenant's definitions by key, in the caller's transaction. */
  async definitions(tx: Tx): Promise<Map<string, AttributeRow>> {
    return new Map((await repo.all(tx)).map((d) => [d.key, d]));
  }

  /**
   * For writers of attribute values: the definitions, held until the writer commits (a shared lock
   * of the tenant's definitions, in memory), so that a definition is not removed or narrowed while a
   * value it no longer allows is being written. Changes of definitions take the lock exclusively.
   */
  async definitionsForWrite(tx: Tx): Promise<Map<string, AttributeRow>> {
    await tx.execute(
      sql`SELECT pg_advisory_xact_lock_shared(${DEFINITIONS_LOCK}, hashtext(vinculo_current_tenant()::text))`,
    );
    return this.definitions(tx);
  }

  /** Checks custom attribute values against the definitions; each problem names the attribute. */
  static check(defs: Map<string, AttributeRow>, attributes: Record<string, unknown>, prefix = 'attributes') {
    const errors: FieldError[] = [];
    for (const [key, value] of Object.entries(attributes)) {
      const def = defs.get(key);
      // null removes a value, even one whose definition is gone
      if (!def && value === null) continue;
      if (!def) {
        errors.push({
          path: `${prefix}.${key}`,
          message: `unknown attribute "${key}" (define it in /v1/attributes)`,
        });
      } else if (value !== null) {
        const problem = attributeProblem(def, value);
        if (problem) errors.push({ path: `${prefix}.${key}`, message: problem });
      }
    }
    if (errors.length) {
      const code = errors.some((e) => e.message.startsWith('unknown'))
        ? 'unknown_attribute'
        : 'invalid_attribute';
      throw new AppError(code, errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
    }
  }
}
