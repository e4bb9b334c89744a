import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config';

/** A configuration as the server would load it, with overrides given as environment variables. */
export function testConfig(env: Record<string, string> = {}): Config {
  // A distinct instance per test server, so one server's reaper never touches another's containers.
  return loadConfig({ RUNBOX_IMAGE: 'runbox-python:test', RUNBOX_INSTANCE_ID: `test-${randomBytes(4).toString('hex')}`, ...env });
}
