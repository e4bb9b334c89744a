/**
 * The test tiers, one Jest project each. `npm run test:<tier>` runs one; `npm test` runs them all
 * (scripts/test-tiers.sh), each to its end even when another fails.
 * - unit: needs nothing running (pure units, and HTTP against a fake engine); in parallel, with a coverage
 *   floor on src/sandbox/ (`--coverage`).
 * - engine: the real Docker engine and the sandbox image, sandboxes on runc: the integration and fault suites
 *   (test/integration, two files at a time), then the attack suite alone (the `attacks` project: its CPU
 *   and memory checks want the machine to themselves). `npm run test:engine` runs both.
 * - deploy: deployment as shipped: docker-compose.yml for real, replicas behind nginx, the Kubernetes
 *   manifests rendered.
 * - runsc: the attack suite (on plain and on preloaded members) and the main integration suite again with
 *   sandboxes under gVisor. It is the only project when RUNBOX_RUNTIME=runsc, so that
 *   `RUNBOX_RUNTIME=runsc npx jest <file>` runs <file> under gVisor.
 * The engine tiers share one global setup (test/global-setup.ts): the engine, the runtime, the image, and
 * the host packages of the tier's own suites.
 */
const tier = (name, roots, more = {}) => ({
  displayName: name,
  testEnvironment: 'node',
  // Compiled file by file, without type checking: `npm test` type-checks everything once (tsc --noEmit),
  // and tsconfig.json's isolatedModules makes sure each file compiles alone.
  transform: { '^.+\\.ts$': 'ts-jest' },
  roots: roots.map((root) => `<rootDir>/${root}`),
  testMatch: ['**/*.test.ts'],
  ...more,
});

const engineSetup = {
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
};

const runsc = tier('runsc', ['test/attacks', 'test/integration'], {
  ...engineSetup,
  testMatch: ['**/attacks/attacks.test.ts', '**/attacks/attacks-preloaded.test.ts', '**/integration/runs.test.ts'],
});

module.exports = {
  projects:
    process.env.RUNBOX_RUNTIME === 'runsc'
      ? [runsc]
      : [
          tier('unit', ['test/unit', 'test/http']),
          tier('engine', ['test/integration'], engineSetup),
          tier('attacks', ['test/attacks'], engineSetup),
          tier('deploy', ['test/deploy'], engineSetup),
        ],
  // A bound for a test that hangs, not a measure: real runs, engines and servers under load take their time.
  testTimeout: 60_000,
  // With --coverage (npm run test:unit): the floor for the sandbox's own code, the most intricate.
  collectCoverageFrom: ['src/sandbox/**/*.ts'],
  coverageReporters: ['text-summary'],
  coverageThreshold: { './src/sandbox/': { lines: 90, branches: 80 } },
};
