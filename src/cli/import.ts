import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Bar, Presets } from 'cli-progress';

const USAGE = `usage: npm run import -- --type customers|orders <file.csv|file.ndjson> [--url http://127.0.0.1:3000] [--token <jwt>] [--stall-minutes 15]
  the token defaults to $VINCULO_TOKEN (e.g. export VINCULO_TOKEN=$(npm run -s token -- --tenant default));
  --stall-minutes: give up following an import that shows no progress for that long (it goes on on the server)`;

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

/** Transient answers (rate limit, server busy, network) are waited out; this many in a row give up. */
const MAX_TRANSIENT = 20;

/**
 * The import's state: a 429 or 5xx (or a dropped connection) is retried after its Retry-After (or
 * a second); any other refusal, such as an expired token's 401, ends the command with it.
 */
async function progressOf(url: string, headers: Record<string, string>): Promise<Progress> {
  for (let failures = 1; ; failures++) {
    let wait = 1;
    let problem: string;
    try {
      const res = await fetch(url, { headers });
      if (res.ok) return (await res.json()) as Progress;
      const body = (await res.json().catch(() => ({}))) as { detail?: string; title?: string };
      problem = `${res.status}: ${body.detail ?? body.title ?? res.statusText}`;
      if (res.status !== 429 && res.status < 500)
        throw new Error(`following the import was refused (${problem})`);
      wait = Number(res.headers.get('retry-after')) || 1;
    } catch (error) {
      if ((error as Error).message.startsWith('following the import')) throw error;
      problem = (error as Error).message;
    }
    if (failures >= MAX_TRANSIENT)
      throw new Error(`following the import failed ${failures} times in a row (${problem})`);
    await new Promise((r) => setTimeout(r, wait * 1000));
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      type: { type: 'string' },
      url: { type: 'string', default: process.env.VINCULO_URL ?? 'http://127.0.0.1:3000' },
      token: { type: 'string', default: process.env.VINCULO_TOKEN },
      'stall-minutes': { type: 'string', default: '15' },
    },
  });
  const file = positionals[0];
  if (!file || !values.type || !['customers', 'orders'].includes(values.type)) throw new Error(USAGE);
  if (!values.token) throw new Error(`no token: pass --token or set VINCULO_TOKEN\n${USAGE}`);
  const stallMs = Number(values['stall-minutes']) * 60_000;
  if (!(stallMs > 0)) throw new Error(`--stall-minutes must be a positive number\n${USAGE}`);
  const contentType = /\.(nd)?jsonl?$|\.ndjson$/.test(file) ? 'application/x-ndjson' : 'text/csv';
  const headers = { authorization: `Bearer ${values.token}` };
  const size = statSync(file).size;

  console.log(`uploading ${file} (${(size / 1e6).toFixed(1)} MB, ${contentType}) to ${values.url}`);
  const upload = await fetch(`${values.url}/v1/imports?type=${values.type}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': contentType },
    body: Readable.toWeb(createReadStream(file)) as ReadableStream,
    duplex: 'half',
    // a streamed body cannot be sent again: a redirect is reported, not followed
    redirect: 'manual',
  } as RequestInit);
  if (upload.status >= 300 && upload.status < 400)
    throw new Error(
      `upload redirected (${upload.status}) to ${upload.headers.get('location') ?? 'another address'}: pass that origin as --url`,
    );
  // the status first: a proxy in between may answer a refusal in HTML
  const text = await upload.text();
  const answer = (() => {
    try {
      return JSON.parse(text) as Progress & { detail?: string };
    } catch {
      return undefined;
    }
  })();
  if (upload.status !== 202 || !answer)
    throw new Error(
      `upload refused (${upload.status}): ${answer?.detail ?? (text.slice(0, 200) || upload.statusText)}`,
    );
  const created = answer;

  const bar = new Bar(
    {
      format: ' {bar} {percentage}% | {rows} rows | {speed} rows/s | ETA {eta_formatted} | {failed} failed',
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  bar.start(100, 0, { rows: 0, speed: 0, failed: 0 });
  let state = created;
  let moved = { rows: -1, at: Date.now() };
  while (state.status === 'queued' || state.status === 'running') {
    await new Promise((r) => setTimeout(r, 500));
    state = await progressOf(`${values.url}/v1/imports/${created.id}`, headers);
    if (state.rowsRead !== moved.rows) moved = { rows: state.rowsRead, at: Date.now() };
    else if (Date.now() - moved.at > stallMs) {
      bar.stop();
      throw new Error(
        `no progress for ${values['stall-minutes']} minutes (${state.status}, ${state.rowsRead} rows read): stopped following it; GET ${values.url}/v1/imports/${created.id} shows where it is`,
      );
    }
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
