import { defineConfig } from 'vitest/config';

/**
 * Suites whose assertions are the acceptance bars on time (replicas within 1 s of a burst,
 * no Originate to a hung central after 5 s, a threads change within 1 s): they run alone,
 * after the rest, so what they measure is the system and not the suite running beside it.
 */
const timed = ['test/integration/autoscale.test.ts', 'test/integration/autoscale-workers.test.ts', 'test/integration/live-threads.test.ts', 'test/integration/live-config.test.ts'];

const shared = { testTimeout: 60_000, hookTimeout: 120_000 };

export default defineConfig({
  test: {
    // CI also keeps a machine-readable report, from which .ci/run prints the plain totals line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    ...(process.env.CI ? { outputFile: { json: process.env.VITEST_JSON_REPORT ?? '.vitest-report.json' } } : {}),
    projects: [
      {
        test: {
          ...shared,
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: timed,
          // Integration suites start their own redis-server / simulator / control plane on
          // free ports; two cores, so keep file parallelism modest.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      { test: { ...shared, name: 'timed', include: timed, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
