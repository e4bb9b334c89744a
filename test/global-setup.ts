import { writeFileSync } from 'node:fs';
import { provision } from '../src/provision/cli';
import { ensureHostPackage } from '../src/provision/host';

export const STARTED_DOCKERD_FILE = '/tmp/runbox-test-dockerd.pid';

export default async function globalSetup(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[provision] ${line}\n`);
  const { startedDockerdPid } = await provision(log);
  // The docs page test drives Debian's chromium (playwright's own browser downloads need the network).
  await ensureHostPackage('chromium', 'chromium', log);
  // The replicas test puts Debian's nginx in front of three servers.
  await ensureHostPackage('nginx', 'nginx', log);
  // The compose test runs docker-compose.yml with Debian's docker-compose 1.29.
  await ensureHostPackage('docker-compose', 'docker-compose', log);
  // Only a dockerd this run started is ours to stop afterwards.
  writeFileSync(STARTED_DOCKERD_FILE, startedDockerdPid === undefined ? '' : String(startedDockerdPid));
}
