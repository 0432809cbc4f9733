import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type LocalSecrets = {
  jwtSecret: string;
  cursorSecret: string;
  appDbPassword: string;
  pgPassword: string;
};

/**
 * Development secrets, generated once and kept under the data folder so tokens minted by
 * `npm run token` keep working across restarts. Never used in production (config refuses it).
 */
export function localSecrets(dataDir: string): LocalSecrets {
  const file = join(dataDir, 'secrets.json');
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalSecrets>;
    if (stored.jwtSecret && stored.cursorSecret && stored.appDbPassword && stored.pgPassword)
      return stored as LocalSecrets;
  }
  const secrets: LocalSecrets = {
    jwtSecret: randomBytes(32).toString('base64url'),
    cursorSecret: randomBytes(32).toString('base64url'),
    appDbPassword: randomBytes(18).toString('base64url'),
    pgPassword: randomBytes(18).toString('base64url'),
  };
  // The folder must stay traversable: the embedded server runs as another OS user when we are root.
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secrets;
}
