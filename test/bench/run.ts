import { p1 } from './p1-get-customer.ts';
import { p2 } from './p2-graphql.ts';
import { p3 } from './p3-orders-batch.ts';
import { p4 } from './p4-scores.ts';
import { p5 } from './p5-segments.ts';
import { p6 } from './p6-import-memory.ts';
import { benchDatabase } from './setup.ts';

/** `npm run bench [-- P1 …]`: runs the benchmarks and prints one JSON document. */
const benches: Record<string, (database: Awaited<ReturnType<typeof benchDatabase>>) => Promise<object>> = {
  P1: p1,
  P2: p2,
  P3: p3,
  P4: p4,
  P5: p5,
  P6: p6,
};
const wanted = process.argv.slice(2).filter((a) => a !== '--');
const selected = wanted.length ? wanted : Object.keys(benches);

const database = await benchDatabase();
const results = [];
try {
  for (const id of selected) {
    const bench = benches[id.toUpperCase()];
    if (!bench) throw new Error(`unknown benchmark ${id}; known: ${Object.keys(benches).join(', ')}`);
    results.push(await bench(database));
  }
} finally {
  await database.stop();
}
console.log(
  JSON.stringify(
    {
      node: process.version,
      database: database.description,
      cpus: (await import('node:os')).cpus().length,
      results,
    },
    null,
    2,
  ),
);
