import { defineConfig } from 'vitest/config';

// `npm test` writes a JSON report beside the console output so .ci/run can
// print the closing "N passed, N failed" line from it.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'cookbook/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
  },
});
