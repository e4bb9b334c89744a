import { existsSync, writeFileSync } from 'node:fs';
import { provision } from '../src/provision/cli';
import { ensureHostPackage } from '../src/provision/host';

export const STARTED_DOCKERD_FILE = '/tmp/runbox-test-dockerd.pid';

/** What each engine tier drives besides the engine (jest.config.js names the tiers): installed only for it. */
const HOST_PACKAGES: Record<string, [command: string, pkg: string][]> = {
  // The docs page and playground tests drive Debian's chromium (playwright's own browser downloads need the network).
  engine: [['chromium', 'chromium']],
  // The replicas test puts Debian's nginx in front of three servers; the compose test runs docker-compose.yml
  // with Debian's docker-compose 1.29.
  deploy: [
    ['nginx', 'nginx'],
    ['docker-compose', 'docker-compose'],
  ],
  attacks: [],
  runsc: [],
};

/**
 * The engine tiers' one setup: a Docker engine that answers, the sandboxes' runtime (RUNBOX_RUNTIME), the
 * sandbox image, and the tier's host packages. Each is made only when missing, so the second tier of a run
 * finds them all in seconds.
 */
export default async function globalSetup(_globalConfig: unknown, projectConfig: { displayName?: { name: string } }): Promise<void> {
  const log = (line: string) => process.stderr.write(`[provision] ${line}\n`);
  const { startedDockerdPid } = await provision(log);
  for (const [command, pkg] of HOST_PACKAGES[projectConfig.displayName?.name ?? 'engine'] ?? []) await ensureHostPackage(command, pkg, log);
  // Only a dockerd this run started is ours to stop afterwards. Under `npm test` (RUNBOX_TEST_TIERS) it
  // stays up for the next tier, and scripts/test-tiers.sh stops it at the end: a later tier, finding it up,
  // must not forget who started it.
  if (process.env.RUNBOX_TEST_TIERS && startedDockerdPid === undefined && existsSync(STARTED_DOCKERD_FILE)) return;
  writeFileSync(STARTED_DOCKERD_FILE, startedDockerdPid === undefined ? '' : String(startedDockerdPid));
}
