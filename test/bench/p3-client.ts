import { parentPort, workerData } from 'node:worker_threads';

/**
 * P3's client, on its own thread (as a platform pushing orders is its own process): posts the
 * prepared batches with `lanes` requests in flight, each lane taking the next batch when its answer
 * is in, checks every answer, and reports the seconds from the first request to the last answer.
 */
type Job = {
  url: string;
  token: string;
  lanes: number;
  bodies: { start: number; size: number; body: string }[];
};
const { url, token, lanes, bodies } = workerData as Job;

let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: lanes }, async () => {
    for (let k = next++; k < bodies.length; k = next++) {
      const { start, size, body } = bodies[k]!;
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      const answer = (await res.json()) as { summary: { created: number } };
      if (res.status !== 200 || answer.summary.created !== size) {
        throw new Error(`batch at ${start}: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
      }
    }
  }),
);
parentPort!.postMessage({ seconds: (performance.now() - started) / 1000 });
