import type { Clock } from '../platform/clock.ts';
import type { Database } from '../platform/db.ts';
import type { Jobs, TaskHandler } from '../platform/jobs.ts';
import type { Cursors } from '../platform/pagination.ts';
import { AttributesService } from './attributes/attributes.service.ts';
import { CustomersService } from './customers/customers.service.ts';
import { IMPORT_TASK, ImportsService } from './imports/imports.service.ts';
import { IntermediariesService } from './intermediaries/intermediaries.service.ts';
import { OrdersService } from './orders/orders.service.ts';
import { TenantsService } from './tenants/tenants.service.ts';

export type ServiceDeps = { db: Database; cursors: Cursors; clock: Clock; jobs?: () => Jobs | undefined };

/** Every module's service, wired once; modules reach each other only through these. */
export function createServices(deps: ServiceDeps) {
  const tenants = new TenantsService(deps);
  const intermediaries = new IntermediariesService(deps);
  const attributes = new AttributesService(deps);
  const customers = new CustomersService({ ...deps, attributes, intermediaries });
  const orders = new OrdersService({ ...deps, customers, intermediaries, tenants });
  const imports = new ImportsService({
    ...deps,
    jobs: deps.jobs ?? (() => undefined),
    customers,
    orders,
    attributes,
    tenants,
  });
  return { tenants, intermediaries, attributes, customers, orders, imports };
}

/** The background tasks, by name, and the services that run them. */
export function tasksOf(services: Services): Record<string, TaskHandler> {
  return {
    [IMPORT_TASK]: async (payload) => {
      const { tenantId, importId } = payload as { tenantId: string; importId: string };
      await services.imports.process(tenantId, importId);
    },
  };
}

export type Services = ReturnType<typeof createServices>;
