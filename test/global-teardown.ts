import { readFileSync, rmSync } from 'node:fs';
import { STARTED_DOCKERD_FILE } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  // Under `npm test` the engine serves the next tier too; scripts/test-tiers.sh stops it after the last.
  if (process.env.RUNBOX_TEST_TIERS) return;
  let pid = NaN;
  try {
    pid = Number(readFileSync(STARTED_DOCKERD_FILE, 'utf8').trim() || NaN);
  } catch {
    return;
  }
  rmSync(STARTED_DOCKERD_FILE, { force: true });
  if (!Number.isInteger(pid)) return;
  process.kill(pid, 'SIGTERM');
  // dockerd stops its containerd and exits; wait so the next run does not find a half-stopped engine.
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
