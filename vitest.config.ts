import { defineConfig } from 'vitest/config';

export default defineConfig({
  // ccxt's exchange modules are imported by deep path (`ccxt/js/src/…`), mapped by tsconfig.json `paths`.
  resolve: { tsconfigPaths: true },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
