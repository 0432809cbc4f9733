import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { newId } from '../../src/platform/ids.ts';
import { type BenchDatabase, benchApp } from './setup.ts';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 100_000);
const BATCH = 1000;
const CUSTOMERS = 10_000;

function orderOf(i: number, customerId: string, source: string) {
  const quantity = 1 + (i % 3);
  const unit = 1000 + (i % 97) * 10;
  return {
    source,
    externalId: `b-${i}`,
    customerId,
    placedAt: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString(),
    status: i % 20 === 0 ? 'cancelled' : 'paid',
    total: { amount: quantity * unit, currency: 'EUR' },
    items: [
      { sku: `SKU-${i % 50}`, category: 'shoes', quantity, unitPrice: { amount: unit, currency: 'EUR' } },
    ],
    channel: 'web',
  };
}

type Lane = { seconds: number };

/** Runs `lanes` workers over the batches [0, total) of `size`, each taking the next batch when done. */
async function inLanes(lanes: number, total: number, size: number, work: (start: number) => Promise<void>) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let start = next; start < total; start = next) {
        next += size;
        await work(start);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000 } satisfies Lane;
}

/**
 * P3: 100,000 orders through POST /v1/orders/batch in batches of 1,000 (validation, customers,
 * dedup upsert, aggregates, status history, events) against a raw COPY of the same rows into the
 * same table. Measured at each concurrency of BENCH_CONCURRENCY (default "1,2"): that many batches in
 * flight against that many COPY streams, each level on its own 10,000 fresh customers. Both sides'
 * payloads (request bodies, COPY text) are built before timing; the COPY rows get UUIDv7 ids like the
 * API's, so both insert at the end of the primary key.
 */
export async function p3(database: BenchDatabase) {
  const { app, tenant, token, close } = await benchApp(database, 'Bench P3', {
    BODY_LIMIT_BYTES: String(20 * 1024 * 1024),
  });
  const owner = new pg.Client({ connectionString: database.ownerUrl });
  await owner.connect();
  const url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/v1/orders/batch`;
  const levels = (process.env.BENCH_CONCURRENCY ?? '1,2').split(',').map(Number);
  const copyClients = await Promise.all(
    Array.from({ length: Math.max(...levels) }, async () => {
      const client = new pg.Client({ connectionString: database.ownerUrl });
      await client.connect();
      return client;
    }),
  );

  try {
    const runs = [];
    for (const lanes of levels) {
      const customerIds = Array.from({ length: CUSTOMERS }, () => newId());
      await owner.query(
        `INSERT INTO customers (tenant_id, id, email) SELECT $1, id, 'c' || $3 || '-' || n || '@bench.example'
         FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, n)`,
        [tenant.id, customerIds, lanes],
      );
      const order = (i: number) => orderOf(i, customerIds[i % CUSTOMERS]!, `bench-${lanes}`);

      // both sides' payloads are built before the clock starts: what is timed is the server's work
      const bodies = [];
      for (let start = 0; start < ORDERS; start += BATCH) {
        const size = Math.min(BATCH, ORDERS - start);
        const items = Array.from({ length: size }, (_, k) => order(start + k));
        bodies.push({ start, size, body: JSON.stringify({ items }) });
      }
      // the API: `lanes` requests in flight, as a platform pushing its backlog with that many workers;
      // the client runs on its own thread, so its HTTP and JSON work is not charged to the server's
      const client = new Worker(new URL('./p3-client.ts', import.meta.url), {
        workerData: { url, token, lanes, bodies },
      });
      const [api] = (await Promise.race([
        once(client, 'message'),
        once(client, 'error').then(([error]) => Promise.reject(error)),
      ])) as [Lane];
      await client.terminate();

      // the baseline: the same rows (another source) as COPY text, split between `lanes` COPY streams
      // on as many connections
      const share = Math.ceil(ORDERS / lanes);
      const chunks = new Map<number, string[]>();
      for (let from = 0; from < ORDERS; from += share) {
        const lines: string[] = [];
        for (let i = from; i < Math.min(ORDERS, from + share); i++) {
          const o = order(i);
          const items = JSON.stringify([
            {
              sku: o.items[0]!.sku,
              category: 'shoes',
              quantity: o.items[0]!.quantity,
              unitPrice: o.items[0]!.unitPrice.amount,
            },
          ]);
          lines.push(
            `${tenant.id}\t${newId()}\tcopy-${lanes}\t${o.externalId}\t${o.customerId}\t${o.placedAt}\t${o.status}\tEUR\t${o.total.amount}\tEUR\t${o.total.amount}\t${items.replaceAll('\\', '\\\\')}\t${o.items[0]!.quantity}\tweb\t${o.placedAt}\n`,
          );
        }
        // about 1,000 rows per write, as a COPY client sends them
        const batched: string[] = [];
        for (let k = 0; k < lines.length; k += 1000) batched.push(lines.slice(k, k + 1000).join(''));
        chunks.set(from, batched);
      }
      const copy = await inLanes(lanes, ORDERS, share, async (from) => {
        await pipeline(
          Readable.from(chunks.get(from)!),
          copyClients[from / share]!.query(
            copyFrom(
              'COPY orders (tenant_id, id, source, external_id, customer_id, placed_at, status, currency, total, base_currency, base_total, items, item_count, channel, source_updated_at) FROM STDIN',
            ),
          ),
        );
      });
      const ratio = copy.seconds / api.seconds;
      runs.push({
        concurrency: lanes,
        baseline: {
          name: `COPY of the same rows into orders, ${lanes} stream(s)`,
          seconds: Number(copy.seconds.toFixed(2)),
          ordersPerSecond: Math.round(ORDERS / copy.seconds),
        },
        vinculo: {
          seconds: Number(api.seconds.toFixed(2)),
          ordersPerSecond: Math.round(ORDERS / api.seconds),
          ordersPerMinute: Math.round((ORDERS / api.seconds) * 60),
        },
        ratio: Number(ratio.toFixed(3)),
        withinBudget: ratio >= 0.25,
      });
    }
    return {
      id: 'P3',
      work: `POST /v1/orders/batch, ${ORDERS} orders in batches of ${BATCH}, ${CUSTOMERS} new customers per run`,
      budget: '>= 0.25',
      runs,
    };
  } finally {
    await Promise.all(copyClients.map((c) => c.end()));
    await owner.end();
    await close();
  }
}
