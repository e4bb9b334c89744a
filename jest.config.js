/** `npm test`: unit tests, HTTP tests with a fake engine, and integration tests against the real engine. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Makes sure a Docker engine answers and the sandbox image exists (installing/building them if needed).
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 60_000,
};
