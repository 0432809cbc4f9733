import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import {
  BLOCK,
  customerBody,
  DEMO_ATTRIBUTES,
  type DemoCustomer,
  DemoGenerator,
  orderBody,
  REFERRAL_LAG_BLOCKS,
  type Resolver,
} from '../demo/generator.ts';
import { CreateAttributeBody } from '../modules/attributes/attributes.schemas.ts';
import { CreateIntermediaryBody } from '../modules/intermediaries/intermediaries.schemas.ts';
import { ORDER_BATCH_MAX } from '../modules/orders/orders.schemas.ts';
import { createServices, type Services } from '../modules/services.ts';
import { TENANT_SCOPES, type TenantActor } from '../platform/auth.ts';
import { systemClock } from '../platform/clock.ts';
import { Cursors } from '../platform/pagination.ts';
import type { Problem } from '../platform/problem.ts';
import { openRuntime } from '../platform/runtime.ts';

const USAGE = `usage: npm run seed:demo -- [--customers 10000] [--tenant demo] [--seed 42] [--years 2]
                         [--until YYYY-MM-DD] [--concurrency 3]

Creates the tenant (or reuses it, by slug) and fills it with demo data through the same services as
the API: attribute definitions, intermediaries, prospects (customer batch upsert) and buyers with
their orders (order batches, which create the customers).

  --customers    how many customers (default 10000; about 5 orders each, 22% never buy)
  --tenant       tenant slug (default demo)
  --seed         any integer (default 42)
  --years        length of the order history (default 2)
  --until        end of the window, exclusive, 00:00 UTC (default: today). The same --seed, --until,
                 --customers and --years give the same data (database ids and createdAt differ).
  --concurrency  blocks of ${BLOCK} customers written at once (default 3, at most ${REFERRAL_LAG_BLOCKS})

Runs against DATABASE_URL, or the embedded PostgreSQL when it is not set. Re-running with the same
options changes nothing (orders come back "unchanged"). Emails use the reserved .example domain.`;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const duration = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
};

function parseOptions() {
  const { values } = parseArgs({
    options: {
      customers: { type: 'string', default: '10000' },
      tenant: { type: 'string', default: 'demo' },
      seed: { type: 'string', default: '42' },
      years: { type: 'string', default: '2' },
      until: { type: 'string' },
      concurrency: { type: 'string', default: '3' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v.replaceAll('_', ''));
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  const today = new Date(new Date().toISOString().slice(0, 10));
  const until = values.until ? new Date(`${values.until}T00:00:00Z`) : today;
  if (Number.isNaN(until.getTime()) || (values.until && !/^\d{4}-\d{2}-\d{2}$/.test(values.until))) {
    throw new Error('--until must be a date such as 2026-01-31');
  }
  if (until > today) throw new Error('--until must not be after today (the API refuses future orders)');
  const years = Number(values.years);
  if (!(years > 0 && years <= 20)) throw new Error('--years must be a number more than 0 and at most 20');
  if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(values.tenant)) {
    throw new Error('--tenant must be a slug: lower-case letters, digits and -');
  }
  return {
    customers: int('customers', values.customers, 0, 10_000_000),
    tenant: values.tenant,
    seed: int('seed', values.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    years,
    until,
    concurrency: int('concurrency', values.concurrency, 1, REFERRAL_LAG_BLOCKS),
  };
}

/** Every page of a listing. */
async function all<T>(page: (cursor?: string) => Promise<{ data: T[]; nextCursor: string | null }>) {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    out.push(...p.data);
    cursor = p.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

/** Attribute definitions: created when missing, enum values added when some are missing. */
async function ensureAttributes(services: Services, actor: TenantActor) {
  const existing = new Map(
    (await all((c) => services.attributes.list(actor, 500, c))).map((a) => [a.key, a]),
  );
  for (const def of DEMO_ATTRIBUTES) {
    const found = existing.get(def.key);
    if (!found) {
      await services.attributes.create(actor, CreateAttributeBody.parse(def));
    } else if (found.type !== def.type) {
      throw new Error(
        `the tenant defines attribute "${def.key}" as ${found.type}, the demo needs ${def.type}`,
      );
    } else if ('values' in def && def.values.some((v) => !found.values?.includes(v))) {
      const values = [...new Set([...(found.values ?? []), ...def.values])];
      await services.attributes.update(actor, found.id, { values });
    }
  }
}

/** Intermediaries matched by externalId (a re-run reuses them); returns ref → id. */
async function ensureIntermediaries(services: Services, actor: TenantActor, gen: DemoGenerator) {
  const existing = new Map(
    (await all((c) => services.intermediaries.list(actor, {}, 500, c))).map((i) => [i.externalId, i.id]),
  );
  const ids = new Map<string, string>();
  for (const i of gen.intermediaries) {
    let id = existing.get(i.externalId);
    if (!id) {
      const body = CreateIntermediaryBody.parse({
        kind: i.kind,
        name: i.name,
        email: i.email,
        phone: i.phone,
        externalId: i.externalId,
      });
      id = (await services.intermediaries.create(actor, body)).id;
    }
    ids.set(i.ref, id);
  }
  return ids;
}

/** Customer ids by generated index, 16 bytes each (1M customers: 16 MB), for referrals. */
class IdIndex {
  readonly #bytes: Buffer;
  readonly #known: Uint8Array;
  constructor(size: number) {
    this.#bytes = Buffer.alloc(size * 16);
    this.#known = new Uint8Array(size);
  }
  set(index: number, id: string) {
    this.#bytes.write(id.replaceAll('-', ''), index * 16, 'hex');
    this.#known[index] = 1;
  }
  get(index: number): string | undefined {
    if (!this.#known[index]) return undefined;
    const h = this.#bytes.toString('hex', index * 16, index * 16 + 16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

async function main() {
  const options = parseOptions();
  if (!options) {
    console.log(USAGE);
    return;
  }
  const runtime = await openRuntime(loadConfig(process.env), (line) => console.log(line));
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.log('stopping after the blocks in flight (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSignal);
  try {
    const cursors = new Cursors(runtime.config.CURSOR_SECRET ?? randomBytes(32).toString('hex'));
    const services = createServices({ db: runtime.db, cursors, clock: systemClock });
    const tenant = await services.tenants.ensure(options.tenant, `Demo (${options.tenant})`);
    const actor: TenantActor = {
      sub: 'seed',
      tenantId: tenant.id,
      scopes: new Set(TENANT_SCOPES),
      segments: null,
    };
    const { currency } = await services.tenants.getSettings(actor);
    const gen = new DemoGenerator({ ...options, currency });
    const from = new Date(gen.start).toISOString().slice(0, 10);
    const to = new Date(gen.until - 1).toISOString().slice(0, 10);
    console.log(
      `seeding tenant ${tenant.slug} (${tenant.id}): ${fmt(options.customers)} customers, orders ${from} .. ${to}, seed ${options.seed}`,
    );
    await ensureAttributes(services, actor);
    const intermediaryIds = await ensureIntermediaries(services, actor, gen);
    const customerIds = new IdIndex(options.customers);
    const resolve: Resolver = {
      customer: (i) => customerIds.get(i),
      intermediary: (ref) => intermediaryIds.get(ref),
    };

    const counts = {
      customers: 0,
      prospectsCreated: 0,
      prospectsUpdated: 0,
      buyers: 0,
      orders: 0,
      created: 0,
      updated: 0,
      unchanged: 0,
      errors: 0,
    };
    const problems: string[] = [];
    const fail = (what: string, problem: Problem | undefined) => {
      counts.errors++;
      if (problems.length < 10) {
        const fields = problem?.errors?.map((e) => `${e.path}: ${e.message}`).join('; ');
        problems.push(`${what}: ${problem?.code} ${problem?.detail ?? ''}${fields ? ` (${fields})` : ''}`);
      }
    };

    const writeBlock = async (block: DemoCustomer[]) => {
      const prospects = block.filter((c) => c.prospect);
      if (prospects.length) {
        const results = await services.customers.batchUpsert(
          actor,
          prospects.map((c) => customerBody(c, resolve)),
        );
        results.forEach((r, k) => {
          const c = prospects[k]!;
          if (r.status === 'error') fail(`customer ${c.profile.externalId}`, r.error as Problem);
          else {
            customerIds.set(c.index, r.id!);
            if (r.status === 'created') counts.prospectsCreated++;
            else counts.prospectsUpdated++;
          }
        });
      }
      // a customer's orders are contiguous; the first carries the profile that creates the customer
      const items: unknown[] = [];
      const owners: DemoCustomer[] = [];
      for (const c of block) {
        if (c.prospect) continue;
        const bare = { externalId: c.profile.externalId };
        const full = customerBody(c, resolve);
        c.orders.forEach((o, k) => {
          items.push(orderBody(o, k === 0 ? full : bare, resolve));
          owners.push(c);
        });
      }
      for (let start = 0; start < items.length; start += ORDER_BATCH_MAX) {
        const { body } = await services.orders.recordMany(actor, items.slice(start, start + ORDER_BATCH_MAX));
        for (const r of body.results) {
          const owner = owners[start + r.index]!;
          if (r.status === 'error') {
            fail(
              `order ${(items[start + r.index] as { externalId: string }).externalId} of ${owner.profile.externalId}`,
              r.error as Problem,
            );
            continue;
          }
          customerIds.set(owner.index, r.customerId!);
          counts[r.status]++;
        }
      }
      counts.customers += block.length;
      counts.buyers += block.length - prospects.length;
      counts.orders += items.length;
    };

    const started = performance.now();
    let lastReport = started;
    const report = () => {
      const elapsed = performance.now() - started;
      const share = counts.customers / Math.max(1, options.customers);
      const eta = share > 0 ? (elapsed / share) * (1 - share) : 0;
      console.log(
        `  customers ${fmt(counts.customers)}/${fmt(options.customers)} (${Math.floor(share * 100)}%) · orders ${fmt(counts.orders)} · ${fmt((counts.orders / elapsed) * 1000)} orders/s · ${fmt((counts.customers / elapsed) * 1000)} customers/s · ETA ${duration(eta)} · heap ${fmt(process.memoryUsage().heapUsed / 2 ** 20)} MB`,
      );
    };

    // blocks are written `concurrency` at a time; a block waits for the blocks its referrals point at
    const inflight = new Set<Promise<void>>();
    const done: Promise<void>[] = [];
    let fatal: unknown;
    for (let b = 0; !gen.done && !interrupted && fatal === undefined; b++) {
      const block = gen.nextBlock(BLOCK);
      if (b >= REFERRAL_LAG_BLOCKS) {
        await done[b - REFERRAL_LAG_BLOCKS];
        delete done[b - REFERRAL_LAG_BLOCKS];
      }
      while (inflight.size >= options.concurrency) await Promise.race(inflight);
      const p: Promise<void> = writeBlock(block)
        .catch((error: unknown) => {
          fatal ??= error;
        })
        .finally(() => {
          inflight.delete(p);
          if (performance.now() - lastReport >= 2000) {
            lastReport = performance.now();
            report();
          }
        });
      inflight.add(p);
      done[b] = p;
    }
    await Promise.all(inflight);
    if (fatal !== undefined) throw fatal;
    report();

    const elapsed = performance.now() - started;
    const kinds = (k: string) => gen.intermediaries.filter((i) => i.kind === k).length;
    console.log(
      [
        '',
        `${interrupted ? 'Interrupted' : 'Done'}: tenant ${tenant.slug} (${tenant.id}) in ${duration(elapsed)}`,
        `  customers       ${fmt(counts.customers)}: ${fmt(counts.buyers)} buyers (created by their orders), ${fmt(counts.customers - counts.buyers)} prospects (${fmt(counts.prospectsCreated)} created, ${fmt(counts.prospectsUpdated)} updated)`,
        `  orders          ${fmt(counts.orders)}: ${fmt(counts.created)} created, ${fmt(counts.updated)} updated, ${fmt(counts.unchanged)} unchanged, ${fmt(counts.errors)} errors`,
        `  intermediaries  ${kinds('employee')} employees, ${kinds('prescriber')} prescribers, ${kinds('distributor')} distributors; ${DEMO_ATTRIBUTES.length} attribute definitions`,
        `  rate            ${fmt((counts.orders / elapsed) * 1000)} orders/s, ${fmt((counts.customers / elapsed) * 1000)} customers/s`,
        `  window          ${from} .. ${to} (--seed ${options.seed} --until ${options.until.toISOString().slice(0, 10)})`,
        `  a token:        npm run token -- --tenant ${tenant.slug}`,
      ].join('\n'),
    );
    if (problems.length) {
      console.log(
        `\nfirst problems (${fmt(counts.errors)} in all):\n${problems.map((p) => `  ${p}`).join('\n')}`,
      );
      process.exitCode = 1;
    }
  } finally {
    process.off('SIGINT', onSignal);
    await runtime.close();
  }
}

main().catch((error: unknown) => {
  console.error(
    error instanceof ConfigError ? error.message : `seed:demo: ${(error as Error)?.message ?? error}`,
  );
  process.exit(1);
});
