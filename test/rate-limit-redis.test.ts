import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { mintToken } from '../src/platform/auth.ts';
import { createPool, Database } from '../src/platform/db.ts';
import { AUDIENCE, ISSUER, TEST_SECRET, testConfig } from './helpers/app.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisAnswers(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

const available = await redisAnswers();

describe.skipIf(!available)('rate limits shared through Redis (REDIS_URL)', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const close of closers) await close();
  });

  it('two API instances count one client’s requests together', async () => {
    const instances = await Promise.all(
      [1, 2].map(async () => {
        const redis = new Redis(REDIS_URL);
        const db = new Database(createPool(inject('appUrl'), 2));
        const app = await buildApp({ config: testConfig({ RATE_LIMIT_MAX: '4' }), db, redis });
        closers.push(async () => {
          await app.close();
          await db.close();
          redis.disconnect();
        });
        return app;
      }),
    );
    // a platform token with a fresh subject, so no earlier run shares its counter
    const token = await mintToken({
      secret: TEST_SECRET,
      issuer: ISSUER,
      audience: AUDIENCE,
      sub: `redis-${randomUUID()}`,
      scopes: ['platform:admin'],
    });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await instances[i % 2]!.inject({
        url: '/v1/tenants',
        headers: { authorization: `Bearer ${token}` },
      });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        expect(res.headers['retry-after']).toBeDefined();
        expect(res.json().code).toBe('rate_limited');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  });
});
