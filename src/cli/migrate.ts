import { ConfigError, loadConfig } from '../config.ts';
import { runMigrations } from '../platform/migrate.ts';
import { withOwnerDatabase } from '../platform/runtime.ts';

/** `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded server. */
withOwnerDatabase(loadConfig(process.env), async (url) => {
  await runMigrations(url);
  console.log(`migrations applied to ${new URL(url).host}${new URL(url).pathname}`);
}).catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `db:migrate: ${(error as Error).message}`);
  process.exit(1);
});
