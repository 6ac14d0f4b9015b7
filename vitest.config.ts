import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Child-process tests run the compiled package; `npm test` builds it first.
    pool: 'forks',
  },
});
