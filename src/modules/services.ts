import type { Clock } from '../platform/clock.ts';
import type { Database } from '../platform/db.ts';
import type { Cursors } from '../platform/pagination.ts';
import { AttributesService } from './attributes/attributes.service.ts';
import { CustomersService } from './customers/customers.service.ts';
import { IntermediariesService } from './intermediaries/intermediaries.service.ts';
import { OrdersService } from './orders/orders.service.ts';
import { TenantsService } from './tenants/tenants.service.ts';

export type ServiceDeps = { db: Database; cursors: Cursors; clock: Clock };

/** Every module's service, wired once; modules reach each other only through these. */
export function createServices(deps: ServiceDeps) {
  const tenants = new TenantsService(deps);
  const intermediaries = new IntermediariesService(deps);
  const attributes = new AttributesService(deps);
  const customers = new CustomersService({ ...deps, attributes, intermediaries });
  const orders = new OrdersService({ ...deps, customers, intermediaries, tenants });
  return { tenants, intermediaries, attributes, customers, orders };
}

export type Services = ReturnType<typeof createServices>;
