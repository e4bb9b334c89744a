/**
 * docker-compose.yml and the server image it builds, read as files (test/deploy/compose.test.ts brings them
 * up for real): what a deployment gets when the operator sets only what compose requires.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, MAX_RUN_SLOTS } from '../../src/config';
import { metricsGuard } from '../../src/metrics/access';
import { sandboxImageTag } from '../../src/provision/image';
import { INSTALLER_UID, SANDBOX_UID } from '../../src/sandbox/protocol';

const ROOT = join(__dirname, '../..');
const dockerfile = readFileSync(join(ROOT, 'images/server/Dockerfile'), 'utf8');
const service = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')).services.runbox;

/** Compose's interpolation of `${NAME}`, `${NAME:-default}` and `${NAME:?message}`, for the variables given. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
    if (vars[name]) return vars[name];
    if (kind === '?') throw new Error(`compose refuses: ${rest}`);
    return kind === '-' ? (rest ?? '') : '';
  });
}

/** The server's environment in the container: the image's ENV lines, then compose's `environment`. */
function containerEnv(vars: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  // The final stage's ENV lines only: the build stage's are not in the image that runs.
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  for (const [, block] of finalStage.matchAll(/^ENV ((?:.*\\\n)*.*)$/gm))
    for (const [, name, value] of block.matchAll(/(\w+)=(\S+)/g)) env[name] = value;
  for (const [name, value] of Object.entries(service.environment as Record<string, string>)) env[name] = interpolate(String(value), vars);
  return env;
}

const REQUIRED = { RUNBOX_API_KEY: 'k'.repeat(24), RUNBOX_DOCKER_GID: '999' };

describe('docker-compose.yml, with only the variables it requires', () => {
  const config = loadConfig(containerEnv(REQUIRED), sandboxImageTag);

  it('listens beyond loopback, and GET /metrics needs RUNBOX_API_KEY', () => {
    expect(config.host).toBe('0.0.0.0');
    expect(metricsGuard(config)).toEqual({ key: REQUIRED.RUNBOX_API_KEY, setting: 'RUNBOX_API_KEY' });
  });

  it('passes RUNBOX_METRICS_KEY through when it is set', () => {
    const metricsKey = 'm'.repeat(24);
    const withKey = loadConfig(containerEnv({ ...REQUIRED, RUNBOX_METRICS_KEY: metricsKey }), sandboxImageTag);
    expect(metricsGuard(withKey)).toEqual({ key: metricsKey, setting: 'RUNBOX_METRICS_KEY' });
  });

  it('sets no shared RUNBOX_INSTANCE_ID: the server derives one from its container hostname, unique on the engine', () => {
    expect(config.instanceId).toBe(`${hostname()}-${config.port}`);
    expect(loadConfig(containerEnv({ ...REQUIRED, RUNBOX_INSTANCE_ID: 'mine' }), sandboxImageTag).instanceId).toBe('mine');
  });
});

it('the server image runs, and owns its data directory, as an id no sandbox has', () => {
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile)!;
  const [uid, gid] = [Number(user[1]), Number(user[2])];
  for (const id of [uid, gid]) expect(id < INSTALLER_UID || id > SANDBOX_UID + MAX_RUN_SLOTS - 1).toBe(true);
  expect(dockerfile).toMatch(new RegExp(`useradd --uid ${uid} --gid ${gid} `));
  expect(dockerfile).toMatch(new RegExp(`install -d -o ${uid} -g ${gid} .* /var/lib/runbox`));
});
