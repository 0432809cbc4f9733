import { createHmac, randomBytes } from 'node:crypto';

/** Standard Webhooks signing (https://www.standardwebhooks.com): secrets `whsec_<base64>`, HMAC-SHA256. */
export const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The three headers; during a rotation every live secret signs (space-separated signatures). */
export function signedHeaders(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => sign(s, id, timestamp, body)).join(' '),
  };
}
