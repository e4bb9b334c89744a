import { loadConfig, type Config } from '../../src/config';

/** A configuration as the server would load it, with overrides given as environment variables. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ RUNBOX_IMAGE: 'runbox-python:test', ...env });
}
