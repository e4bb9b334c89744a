import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { openSqlite } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';

/** A fresh folder for a test's data (its SQLite store); under the system's temp dir, never the checkout. */
export const testDataDir = () => mkdtempSync(join(tmpdir(), 'runbox-test-data-'));

/** An empty SQLite store of its own. */
export const testStore = (dataDir = testDataDir()): Store => openSqlite(dataDir);

/** A configuration as the server would load it, with overrides given as environment variables. */
export function testConfig(env: Record<string, string> = {}): Config {
  // A distinct instance per test server, so one server's reaper never touches another's containers.
  return loadConfig({
    RUNBOX_IMAGE: 'runbox-python:test',
    RUNBOX_INSTANCE_ID: `test-${randomBytes(4).toString('hex')}`,
    RUNBOX_DATA_DIR: testDataDir(),
    ...env,
  });
}
