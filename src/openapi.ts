import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';
import { createPool, Database } from './platform/db.ts';

/** The OpenAPI document as YAML, generated from the routes' zod schemas (no database needed). */
export async function openApiYaml(): Promise<string> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    AUTH_JWT_SECRET: 'x'.repeat(32),
    CURSOR_SECRET: 'x'.repeat(32),
  });
  // the pool connects lazily: generating the document never touches a database
  const db = new Database(createPool('postgres://unused@127.0.0.1:1/unused', 1));
  const app = await buildApp({ config, db });
  try {
    await app.ready();
    return app.swagger({ yaml: true });
  } finally {
    await app.close();
    await db.close();
  }
}
