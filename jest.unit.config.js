/**
 * `npm run test:unit`: the tests that need no Docker engine (pure units, and HTTP against a fake engine),
 * with the coverage floor for the sandbox's own code, which is the most intricate.
 */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test/unit', '<rootDir>/test/http'],
  testMatch: ['**/*.test.ts'],
  collectCoverage: true,
  collectCoverageFrom: ['src/sandbox/**/*.ts'],
  coverageReporters: ['text-summary'],
  coverageThreshold: { './src/sandbox/': { lines: 90, branches: 80 } },
};
