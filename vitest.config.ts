import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: run test files one or two at a time so servers are not starved.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // default, then the skipped tests' reasons and the plain closing line (CI reads it)
    reporters: ['default', './test/harness/summary-reporter.ts'],
  },
});
