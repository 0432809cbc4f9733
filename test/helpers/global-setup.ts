import type { TestProject } from 'vitest/node';
import { appUrlFrom, runMigrations, setAppRolePassword } from '../../src/platform/migrate.ts';
import { provisionTestDatabase } from './database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    ownerUrl: string;
    appUrl: string;
  }
}

const APP_PASSWORD = 'vinculo-test-app-password';

/** One database per run, migrated once; tests isolate themselves by creating their own tenants. */
export default async function setup(project: TestProject) {
  const database = await provisionTestDatabase();
  console.log(`tests run on: ${database.description}`);
  try {
    await runMigrations(database.ownerUrl);
    await setAppRolePassword(database.ownerUrl, APP_PASSWORD);
  } catch (error) {
    await database.stop();
    throw error;
  }
  project.provide('ownerUrl', database.ownerUrl);
  project.provide('appUrl', appUrlFrom(database.ownerUrl, APP_PASSWORD));
  return () => database.stop();
}
