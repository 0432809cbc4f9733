import type { FastifyRequest } from 'fastify';
import { parse } from 'graphql';
import type { Actor, TenantActor } from '../../platform/auth.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import { newId } from '../../platform/ids.ts';
import type { Cursors, Page } from '../../platform/pagination.ts';
import type { AuditEntry, ListAuditQueryInput } from './audit.schemas.ts';
import { type AuditFilter, type AuditRow, privacyRepository as repo } from './privacy.repository.ts';

/** What the audit hook knows of a finished request: never its body's data, never its token. */
export type AuditedRequest = {
  method: string;
  route: string | undefined;
  params: Record<string, string>;
  status: number;
  requestId: string;
  actor: Actor | null;
  graphqlQuery?: unknown;
  graphqlOperation?: unknown;
};

/** What the log keeps of a request answered (or about to be answered) with `status`. */
export function auditedOf(request: FastifyRequest, status: number): AuditedRequest {
  const body = request.body as { query?: unknown; operationName?: unknown } | undefined;
  return {
    method: request.method,
    route: request.routeOptions.url,
    params: (request.params ?? {}) as Record<string, string>,
    status,
    requestId: request.id,
    actor: request.actor,
    graphqlQuery: body?.query,
    graphqlOperation: body?.operationName,
  };
}

const toEntry = (row: AuditRow): AuditEntry => ({
  id: row.id,
  at: row.at.toISOString(),
  actor: row.actor,
  kind: row.kind,
  action: row.action,
  resource: row.resource,
  status: row.status,
  requestId: row.requestId,
});

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The GraphQL mutation a request ran, if it was one (queries are reads). */
function mutationOf(query: unknown, operationName: unknown): string | undefined {
  // most GraphQL requests are reads: only a document that says "mutation" is parsed (again)
  if (typeof query !== 'string' || !/\bmutation\b/.test(query)) return undefined;
  try {
    const operations = parse(query).definitions.filter((d) => d.kind === 'OperationDefinition');
    const operation =
      operations.find((o) => typeof operationName === 'string' && o.name?.value === operationName) ??
      operations[0];
    if (operation?.operation !== 'mutation') return undefined;
    const fields = operation.selectionSet.selections.flatMap((s) =>
      s.kind === 'Field' ? [s.name.value] : [],
    );
    return fields.join(',') || 'mutation';
  } catch {
    return undefined;
  }
}

/**
 * The audit log: every write, every request of a partner token, every export and erasure, every
 * refused request of a known tenant — who, what, which resource, when, the request id.
 */
export class AuditService {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #clock: Clock;

  constructor(deps: { db: Database; cursors: Cursors; clock: Clock }) {
    this.#db = deps.db;
    this.#cursors = deps.cursors;
    this.#clock = deps.clock;
  }

  /** What a finished request leaves in the log, or undefined when it is not audited. */
  entryOf(r: AuditedRequest): Omit<AuditRow, 'id' | 'at' | 'tenantId'> | undefined {
    const route = r.route ?? '';
    if (route !== '/graphql' && !route.startsWith('/v1/')) return undefined;
    const refused = r.status === 401 || r.status === 403;
    const write = WRITE_METHODS.has(r.method);
    const partner = r.actor?.segments != null;
    let action = `${r.method} ${route}`;
    let kind: AuditRow['kind'];
    if (route === '/graphql') {
      const mutation = r.method === 'POST' ? mutationOf(r.graphqlQuery, r.graphqlOperation) : undefined;
      if (!mutation && !partner && !refused) return undefined;
      action = mutation ? `graphql mutation ${mutation}` : 'graphql query';
      kind = refused ? 'auth_failure' : mutation ? 'write' : 'read';
    } else if (refused) kind = 'auth_failure';
    else if (route === '/v1/customers/:id/export') kind = 'export';
    else if (r.method === 'DELETE' && route === '/v1/customers/:id') kind = 'erasure';
    else if (write) kind = 'write';
    else if (partner) kind = 'read';
    else return undefined;
    const resource = r.params.deliveryId ?? r.params.id ?? null;
    return { actor: r.actor?.sub ?? null, kind, action, resource, status: r.status, requestId: r.requestId };
  }

  /** Records a finished request (a tenant's only: a request with no verified tenant goes to the log). */
  async record(r: AuditedRequest): Promise<boolean> {
    const tenantId = r.actor?.tenantId;
    if (!this.entryOf(r) || !tenantId) return false;
    return this.#db.withTenant(tenantId, (tx) => this.recordIn(tx, r));
  }

  /** Records a request in the caller's transaction: its entry stands or falls with its work. */
  async recordIn(tx: Tx, r: AuditedRequest): Promise<boolean> {
    const entry = this.entryOf(r);
    const tenantId = r.actor?.tenantId;
    if (!entry || !tenantId) return false;
    await repo.insertAudit(tx, { tenantId, id: newId(), at: this.#clock.now(), ...entry });
    return true;
  }

  list(actor: TenantActor, query: ListAuditQueryInput): Promise<Page<AuditEntry>> {
    const { limit, cursor, ...filter } = query;
    const scope = { tenantId: actor.tenantId, list: 'audit-log', filters: filter };
    const before = cursor ? this.#cursors.decode(scope, cursor) : undefined;
    return this.#db.withTenant(
      actor.tenantId,
      async (tx) =>
        this.#cursors.page(
          scope,
          await repo.audit(tx, filter as AuditFilter, before, limit),
          limit,
          (r) => r.id,
          toEntry,
        ),
      { readOnly: true },
    );
  }
}
