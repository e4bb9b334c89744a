import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { sandboxImageTag } from '../../src/provision/image';
import { openSqlite } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { testInstanceId } from './instance';

let parent: string | undefined;

/** The sandboxes' runtime for this test run: `npm run test:runsc` runs the engine suites again under gVisor. */
export const RUNTIME = process.env.RUNBOX_RUNTIME || 'runc';
/** Under gVisor some properties are checked another way; each place says why. */
export const UNDER_GVISOR = RUNTIME === 'runsc';

/**
 * A fresh folder for a test's data (its SQLite store): under one temp folder per test file, never the
 * checkout, and removed when the process exits.
 */
export function testDataDir(): string {
  if (parent === undefined) {
    const made = mkdtempSync(join(tmpdir(), 'runbox-test-data-'));
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    parent = made;
  }
  return mkdtempSync(join(parent, 'store-'));
}

/** An empty SQLite store of its own. */
export const testStore = (dataDir = testDataDir()): Store => openSqlite(dataDir);

/** A configuration as the server would load it, with overrides given as environment variables. */
export function testConfig(env: Record<string, string> = {}): Config {
  // A distinct instance per test server, so one server's reaper never touches another's containers.
  return loadConfig(
    {
      RUNBOX_IMAGE: 'runbox-python:test',
      RUNBOX_INSTANCE_ID: testInstanceId(),
      RUNBOX_DATA_DIR: testDataDir(),
      // `npm run test:runsc` runs suites again with sandboxes under gVisor.
      ...(process.env.RUNBOX_RUNTIME ? { RUNBOX_RUNTIME: process.env.RUNBOX_RUNTIME } : {}),
      ...env,
    },
    sandboxImageTag,
  );
}
