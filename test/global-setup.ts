import { writeFileSync } from 'node:fs';
import { provision } from '../src/provision/cli';

export const STARTED_DOCKERD_FILE = '/tmp/runbox-test-dockerd.pid';

export default async function globalSetup(): Promise<void> {
  const { startedDockerdPid } = await provision((line) => process.stderr.write(`[provision] ${line}\n`));
  // Only a dockerd this run started is ours to stop afterwards.
  writeFileSync(STARTED_DOCKERD_FILE, startedDockerdPid === undefined ? '' : String(startedDockerdPid));
}
