import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration suites start their own redis-server / simulator / control plane on free ports;
    // two cores, so keep file parallelism modest.
    maxWorkers: 2,
    // CI also keeps a machine-readable report, from which .ci/run prints the plain totals line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    ...(process.env.CI ? { outputFile: { json: process.env.VITEST_JSON_REPORT ?? '.vitest-report.json' } } : {}),
  },
});
