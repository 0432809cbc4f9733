import http from 'node:http';
import https from 'node:https';
import { within } from '../../platform/clock.ts';
import { type AllowList, guardedLookup, urlRefusal } from './webhooks.guard.ts';

export type Outcome = {
  /** The receiver's status, when it answered. */
  status?: number;
  /** Why the attempt failed (no status, a redirect, a refused address…). */
  error?: string;
  /** From Retry-After, when it was given. */
  retryAfterMs?: number;
  latencyMs: number;
};

export type SendOptions = { allow: AllowList; requireHttps: boolean; timeoutMs: number };

/** Retry-After: seconds, or an HTTP date. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * One POST to a receiver: the URL checked again (DNS can change), connections only to permitted
 * addresses, no redirects followed, the whole exchange (address check included) bounded by the timeout.
 */
export async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: SendOptions,
): Promise<Outcome> {
  const started = performance.now();
  const latency = () => Math.round(performance.now() - started);
  // the address check resolves the host: bounded by the timeout too (it counts in the claim's lease)
  const refused = await within(
    urlRefusal(url, options),
    options.timeoutMs,
    `resolving the host took more than ${options.timeoutMs} ms`,
  );
  if (refused) return { error: `url refused: ${refused}`, latencyMs: latency() };
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<Outcome>((resolve) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'Vinculo-Webhooks/1',
        },
        lookup: guardedLookup(target.hostname.replace(/^\[|\]$/g, '').toLowerCase(), options.allow),
        // one deadline for the whole exchange: the time the address check took is spent
        signal: AbortSignal.timeout(
          Math.max(1, Math.ceil(options.timeoutMs - (performance.now() - started))),
        ),
      },
      (response) => {
        // the body is not kept (it could echo personal data); reading it finishes the exchange
        response.resume();
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const header = response.headers['retry-after'];
          resolve({
            status,
            ...(status >= 300 && status < 400
              ? { error: `redirect to ${response.headers.location ?? '?'} not followed` }
              : {}),
            ...(status === 429 || status === 503 ? { retryAfterMs: retryAfterMs(header, Date.now()) } : {}),
            latencyMs: latency(),
          });
        });
        response.on('error', (error) =>
          resolve({ status: response.statusCode, error: error.message, latencyMs: latency() }),
        );
      },
    );
    request.on('error', (error: Error & { code?: string }) => {
      const timedOut = error.name === 'AbortError' || error.name === 'TimeoutError';
      resolve({
        error: timedOut ? `no answer within ${options.timeoutMs} ms` : error.message,
        latencyMs: latency(),
      });
    });
    request.end(body);
  });
}
