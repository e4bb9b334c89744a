/** The suites that need the real Docker engine: integration, faults and attacks (`npm test` runs them after test:unit). */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test/integration', '<rootDir>/test/attacks'],
  testMatch: ['**/*.test.ts'],
  // Makes sure a Docker engine answers and the sandbox image exists (installing/building them if needed).
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 60_000,
};
