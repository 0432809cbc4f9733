import { appUrlFrom, runMigrations, setAppRolePassword } from '../../src/platform/migrate.ts';
import { provisionTestDatabase } from '../helpers/database.ts';

export type BenchDatabase = {
  ownerUrl: string;
  appUrl: string;
  description: string;
  stop: () => Promise<void>;
};

/** The same database choice as the tests: DATABASE_URL, a container, or an embedded server. */
export async function benchDatabase(): Promise<BenchDatabase> {
  const database = await provisionTestDatabase();
  await runMigrations(database.ownerUrl);
  const password = 'vinculo-bench-app-password';
  await setAppRolePassword(database.ownerUrl, password);
  return { ...database, appUrl: appUrlFrom(database.ownerUrl, password) };
}
