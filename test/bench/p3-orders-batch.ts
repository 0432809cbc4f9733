import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { newId } from '../../src/platform/ids.ts';
import { type BenchDatabase, benchApp } from './setup.ts';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 100_000);
const BATCH = 1000;
const CUSTOMERS = 10_000;

function orderOf(i: number, customerId: string) {
  const quantity = 1 + (i % 3);
  const unit = 1000 + (i % 97) * 10;
  return {
    source: 'bench',
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

/**
 * P3: 100,000 orders through POST /v1/orders/batch in batches of 1,000 (validation, customers,
 * dedup upsert, aggregates, status history) against a raw COPY of the same rows into the same table.
 */
export async function p3(database: BenchDatabase) {
  const { app, tenant, token, close } = await benchApp(database, 'Bench P3', {
    BODY_LIMIT_BYTES: String(20 * 1024 * 1024),
  });
  const owner = new pg.Client({ connectionString: database.ownerUrl });
  await owner.connect();
  const customerIds = Array.from({ length: CUSTOMERS }, () => newId());
  await owner.query(
    `INSERT INTO customers (tenant_id, id, email) SELECT $1, id, 'c' || n || '@bench.example'
     FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, n)`,
    [tenant.id, customerIds],
  );
  const url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/v1/orders/batch`;

  try {
    // the API: sequential batches, as a platform pushing its backlog would
    const apiStart = performance.now();
    for (let start = 0; start < ORDERS; start += BATCH) {
      const items = Array.from({ length: Math.min(BATCH, ORDERS - start) }, (_, k) =>
        orderOf(start + k, customerIds[(start + k) % CUSTOMERS]!),
      );
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items }),
      });
      const body = (await res.json()) as { summary: { created: number } };
      if (res.status !== 200 || body.summary.created !== items.length) {
        throw new Error(`batch at ${start}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      }
    }
    const apiSeconds = (performance.now() - apiStart) / 1000;

    // the baseline: the same rows (other external ids) streamed with COPY into the same table
    const copyStart = performance.now();
    const lines = function* () {
      for (let i = 0; i < ORDERS; i++) {
        const o = orderOf(i, customerIds[i % CUSTOMERS]!);
        const items = JSON.stringify([
          {
            sku: o.items[0]!.sku,
            category: 'shoes',
            quantity: o.items[0]!.quantity,
            unitPrice: o.items[0]!.unitPrice.amount,
          },
        ]);
        const net = o.total.amount;
        yield `${tenant.id}\t${randomUUID()}\tcopy\tc-${i}\t${o.customerId}\t${o.placedAt}\t${o.status}\tEUR\t${o.total.amount}\tEUR\t${net}\t${items.replaceAll('\\', '\\\\')}\t${o.items[0]!.quantity}\tweb\t${o.placedAt}\n`;
      }
    };
    await pipeline(
      Readable.from(lines()),
      owner.query(
        copyFrom(
          'COPY orders (tenant_id, id, source, external_id, customer_id, placed_at, status, currency, total, base_currency, base_total, items, item_count, channel, source_updated_at) FROM STDIN',
        ),
      ),
    );
    const copySeconds = (performance.now() - copyStart) / 1000;
    const ratio = copySeconds / apiSeconds;
    return {
      id: 'P3',
      work: `POST /v1/orders/batch, ${ORDERS} orders in batches of ${BATCH}, ${CUSTOMERS} customers`,
      baseline: {
        name: 'COPY of the same rows into orders',
        seconds: Number(copySeconds.toFixed(2)),
        ordersPerSecond: Math.round(ORDERS / copySeconds),
      },
      vinculo: {
        seconds: Number(apiSeconds.toFixed(2)),
        ordersPerSecond: Math.round(ORDERS / apiSeconds),
        ordersPerMinute: Math.round((ORDERS / apiSeconds) * 60),
      },
      ratio: Number(ratio.toFixed(3)),
      budget: '>= 0.25',
      withinBudget: ratio >= 0.25,
    };
  } finally {
    await owner.end();
    await close();
  }
}
