import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Vite would load graphql's ESM build while Mercurius loads its CommonJS build: one copy only
  resolve: {
    alias: [
      {
        find: /^graphql$/,
        replacement: new URL('./node_modules/graphql/index.js', import.meta.url).pathname,
      },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
