/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Type errors are caught once by `npm run typecheck`; transpiling per file keeps jest fast.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 30000,
  // Builds dist/ from the sources under test and starts the run's PostgreSQL cluster (see the file).
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // jest's default on a 2-core machine is one worker; most suites wait on child processes, sockets
  // and Chromium rather than on CPU, so a second worker shortens the run without starving either.
  maxWorkers: 2,
};
