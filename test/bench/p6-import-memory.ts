import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { BenchDatabase } from './setup.ts';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 1_000_000);
const ROOT = new URL('../..', import.meta.url).pathname;

function rssOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakMb: Math.round(kb('VmHWM') / 1024) };
}

/**
 * P6: a CSV of 1,000,000 orders (50,000 customers) uploaded to a real API process and imported by
 * its in-process worker; the API's resident memory is sampled throughout (budget ≤ 300 MB).
 */
export async function p6(database: BenchDatabase) {
  const dir = mkdtempSync(join(tmpdir(), 'vinculo-p6-'));
  chmodSync(dir, 0o755);
  const file = join(dir, 'orders.csv');
  const out = createWriteStream(file);
  out.write('source,externalId,customer.email,customer.firstName,placedAt,status,currency,total,items\n');
  for (let i = 0; i < ROWS; i++) {
    const q = 1 + (i % 3);
    const unit = 900 + (i % 50) * 20;
    const line = `web,o${i},c${i % 50_000}@bench.example,Cliente,2025-${String(1 + (i % 12)).padStart(2, '0')}-15T10:00:00Z,paid,EUR,${q * unit},"[{""sku"":""S${i % 40}"",""category"":""shoes"",""quantity"":${q},""unitPrice"":${unit}}]"\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const bytes = statSync(file).size;

  // the same V8 flags as `npm start`
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=8', '--max-old-space-size=256', 'src/main.ts'],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'development',
        LOG_LEVEL: 'warn',
        PORT: '0',
        DATA_DIR: join(dir, '.vinculo'),
        DATABASE_URL: database.ownerUrl,
        DATABASE_APP_URL: database.appUrl,
        AUTH_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00',
        CURSOR_SECRET: 'bench-secret-bench-secret-bench-secret-00',
        RATE_LIMIT_MAX: '100000000',
      },
    },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  try {
    for (let i = 0; i < 300 && !/Token\s+\S+/.test(output); i++) await new Promise((r) => setTimeout(r, 100));
    const url = /API\s+(http:\/\/\S+)\/v1/.exec(output)?.[1];
    const token = /Token\s+(\S+)/.exec(output)?.[1];
    if (!url || !token) throw new Error(`the API did not start:\n${output}`);
    const headers = { authorization: `Bearer ${token}` };
    const idle = rssOf(child.pid!);
    const started = performance.now();
    const upload = await fetch(`${url}/v1/imports?type=orders`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'text/csv' },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const created = (await upload.json()) as { id: string };
    const uploadSeconds = (performance.now() - started) / 1000;
    let peakRss = 0;
    let state: { status: string; rowsRead: number; succeeded: number; failed: number } = {
      status: 'queued',
      rowsRead: 0,
      succeeded: 0,
      failed: 0,
    };
    while (state.status === 'queued' || state.status === 'running') {
      await new Promise((r) => setTimeout(r, 1000));
      peakRss = Math.max(peakRss, rssOf(child.pid!).rssMb);
      state = (await (await fetch(`${url}/v1/imports/${created.id}`, { headers })).json()) as typeof state;
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      id: 'P6',
      work: `import of a ${ROWS.toLocaleString('en')}-row orders CSV (${(bytes / 1e6).toFixed(0)} MB) through POST /v1/imports`,
      status: state.status,
      rows: state.rowsRead,
      succeeded: state.succeeded,
      failed: state.failed,
      uploadSeconds: Number(uploadSeconds.toFixed(1)),
      totalSeconds: Number(seconds.toFixed(1)),
      rowsPerSecond: Math.round(state.rowsRead / seconds),
      apiRssMb: { idle: idle.rssMb, peakSampled: peakRss, peakKernel: rssOf(child.pid!).peakMb },
      budget: 'peak RSS <= 300 MB',
      withinBudget: rssOf(child.pid!).peakMb <= 300,
    };
  } finally {
    child.kill('SIGINT');
    await once(child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}
