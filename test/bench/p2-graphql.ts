import { type BenchDatabase, benchApp } from './setup.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** Pages fetched at once, as a front end's users would. */
const CONCURRENCY = 10;
const CUSTOMERS = 200;
const ORDERS_EACH = 5;

const QUERY = `query Page($first: Int!) {
  customers(first: $first) {
    nodes {
      id firstName lastName email status
      orders(first: 3) { nodes { id placedAt status total { amount currency } } }
    }
  }
}`;

/** Runs `page` with CONCURRENCY in flight for SECONDS (after a 2 s warm-up); pages per second. */
async function pagesPerSecond(page: () => Promise<void>) {
  const run = async (seconds: number) => {
    let pages = 0;
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < until) {
          await page();
          pages++;
        }
      }),
    );
    return pages / ((performance.now() - started) / 1000);
  };
  await run(2);
  return run(SECONDS);
}

/**
 * P2: a page of 20 customers with each one's last 3 orders, as one GraphQL request (the orders come
 * through the batched loader) against the equivalent REST calls (the customer list, then the 20
 * customers' order lists in parallel), both through the full stack, CONCURRENCY pages in flight.
 */
export async function p2(database: BenchDatabase) {
  const { app, token, actor, close } = await benchApp(database, 'Bench P2');
  for (let c = 0; c < CUSTOMERS; c++) {
    const { body: customer } = await app.services.customers.create(actor, {
      email: `p2-${c}@bench.example`,
      firstName: 'Lucía',
      lastName: `García ${c}`,
      tags: [],
      attributes: {},
    });
    await app.services.orders.recordMany(
      actor,
      Array.from({ length: ORDERS_EACH }, (_, k) => ({
        source: 'bench-p2',
        externalId: `${c}-${k}`,
        customerId: customer.id,
        placedAt: new Date(Date.UTC(2026, 0, 1 + k)).toISOString(),
        status: 'paid',
        total: { amount: 1000 + k, currency: 'EUR' },
        items: [],
      })),
    );
  }
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const headers = { authorization: `Bearer ${token}` };
  const getJson = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ data: { id: string }[] }>;
  };

  const graphqlPage = async () => {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ query: QUERY, variables: { first: 20 } }),
    });
    const body = (await res.json()) as {
      data?: { customers: { nodes: { orders: { nodes: unknown[] } }[] } };
      errors?: unknown;
    };
    const nodes = body.data?.customers.nodes;
    if (
      res.status !== 200 ||
      body.errors ||
      nodes?.length !== 20 ||
      nodes.some((n) => n.orders.nodes.length !== 3)
    )
      throw new Error(`graphql: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  };
  const restPage = async () => {
    const list = await getJson('/v1/customers?limit=20');
    if (list.data.length !== 20) throw new Error(`rest: ${list.data.length} customers`);
    const orders = await Promise.all(list.data.map((c) => getJson(`/v1/customers/${c.id}/orders?limit=3`)));
    if (orders.some((o) => o.data.length !== 3)) throw new Error('rest: a customer without 3 orders');
  };

  try {
    const rest = await pagesPerSecond(restPage);
    const graphql = await pagesPerSecond(graphqlPage);
    const ratio = graphql / rest;
    return {
      id: 'P2',
      work: `20 customers with their last 3 orders (${CUSTOMERS} customers, ${ORDERS_EACH} orders each), ${CONCURRENCY} pages in flight, ${SECONDS} s`,
      baseline: {
        name: 'REST: GET /v1/customers?limit=20, then the 20 GET /v1/customers/:id/orders?limit=3 in parallel',
        pagesPerSecond: Math.round(rest),
      },
      vinculo: {
        name: 'GraphQL: one request, orders through the loader',
        pagesPerSecond: Math.round(graphql),
      },
      ratio: Number(ratio.toFixed(3)),
      budget: '>= 0.5',
      withinBudget: ratio >= 0.5,
    };
  } finally {
    await close();
  }
}
