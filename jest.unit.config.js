/** `npm run test:unit`: the tests that need no Docker engine. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test/unit', '<rootDir>/test/http'],
  testMatch: ['**/*.test.ts'],
};
