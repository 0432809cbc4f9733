import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Bar, Presets } from 'cli-progress';

const USAGE = `usage: npm run import -- --type customers|orders <file.csv|file.ndjson> [--url http://127.0.0.1:3000] [--token <jwt>]
  the token defaults to $VINCULO_TOKEN (e.g. export VINCULO_TOKEN=$(npm run -s token -- --tenant default))`;

type Progress = {
  id: string;
  status: string;
  rowsRead: number;
  succeeded: number;
  failed: number;
  percentDone: number;
  rowsPerSecond: number | null;
  error: string | null;
};

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      type: { type: 'string' },
      url: { type: 'string', default: process.env.VINCULO_URL ?? 'http://127.0.0.1:3000' },
      token: { type: 'string', default: process.env.VINCULO_TOKEN },
    },
  });
  const file = positionals[0];
  if (!file || !values.type || !['customers', 'orders'].includes(values.type)) throw new Error(USAGE);
  if (!values.token) throw new Error(`no token: pass --token or set VINCULO_TOKEN\n${USAGE}`);
  const contentType = /\.(nd)?jsonl?$|\.ndjson$/.test(file) ? 'application/x-ndjson' : 'text/csv';
  const headers = { authorization: `Bearer ${values.token}` };
  const size = statSync(file).size;

  console.log(`uploading ${file} (${(size / 1e6).toFixed(1)} MB, ${contentType}) to ${values.url}`);
  const upload = await fetch(`${values.url}/v1/imports?type=${values.type}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': contentType },
    body: Readable.toWeb(createReadStream(file)) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  const created = (await upload.json()) as Progress & { detail?: string };
  if (upload.status !== 202)
    throw new Error(`upload refused (${upload.status}): ${created.detail ?? JSON.stringify(created)}`);

  const bar = new Bar(
    {
      format: ' {bar} {percentage}% | {rows} rows | {speed} rows/s | ETA {eta_formatted} | {failed} failed',
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  bar.start(100, 0, { rows: 0, speed: 0, failed: 0 });
  let state = created;
  while (state.status === 'queued' || state.status === 'running') {
    await new Promise((r) => setTimeout(r, 500));
    state = (await (await fetch(`${values.url}/v1/imports/${created.id}`, { headers })).json()) as Progress;
    bar.update(state.percentDone, {
      rows: state.rowsRead,
      speed: state.rowsPerSecond ?? 0,
      failed: state.failed,
    });
  }
  bar.stop();
  console.log(
    `${state.status}: ${state.rowsRead} rows read, ${state.succeeded} imported, ${state.failed} refused${state.rowsPerSecond ? ` (${state.rowsPerSecond} rows/s)` : ''}`,
  );
  if (state.failed)
    console.log(`the refused rows and why: GET ${values.url}/v1/imports/${created.id}/errors`);
  if (state.status === 'failed') throw new Error(`the import failed: ${state.error}`);
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});
