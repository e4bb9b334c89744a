/**
 * docker-compose.yml, the server image it builds and that build's context, read as files
 * (test/deploy/compose.test.ts brings them up for real): what a deployment gets when the operator sets only
 * what compose requires (what scripts/compose-init.sh writes to .env).
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

  it('refuses to start without the key or the socket group, naming the script that writes them', () => {
    expect(() => containerEnv({ RUNBOX_DOCKER_GID: '999' })).toThrow(/RUNBOX_API_KEY .*scripts\/compose-init\.sh/);
    const groups = (service.group_add as string[]).map((group) => () => interpolate(group, { RUNBOX_API_KEY: REQUIRED.RUNBOX_API_KEY }));
    expect(groups[0]).toThrow(/RUNBOX_DOCKER_GID .*scripts\/compose-init\.sh/);
  });

  it("hands the server the default engine socket, or the one RUNBOX_DOCKER_SOCKET names (DOCKER_HOST's)", () => {
    const socketMount = (vars: Record<string, string>) =>
      (service.volumes as string[]).map((volume) => interpolate(volume, vars)).find((volume) => volume.endsWith(':/var/run/docker.sock'));
    expect(socketMount(REQUIRED)).toBe('/var/run/docker.sock:/var/run/docker.sock');
    expect(socketMount({ ...REQUIRED, RUNBOX_DOCKER_SOCKET: '/run/user/1000/docker.sock' })).toBe(
      '/run/user/1000/docker.sock:/var/run/docker.sock',
    );
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

describe('the build context (.dockerignore)', () => {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  /** A pattern as Docker reads it, for the `*` and `**` these use. */
  const glob = (pattern: string) => {
    const literal = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    const segment = (text: string) => text.split('*').map(literal).join('[^/]*');
    return new RegExp(`^${pattern.split('**').map(segment).join('.*')}$`);
  };
  /** Whether the context leaves `path` out: a pattern matches it or a directory above it. */
  const excluded = (path: string) =>
    patterns.map(glob).some((re) => path.split('/').some((_, i, parts) => re.test(parts.slice(0, i + 1).join('/'))));

  it('leaves out .env, which holds the API key, and what replaced it (.env.*)', () => {
    for (const path of ['.env', '.env.old', '.env.a1b2c3']) expect(excluded(path)).toBe(true);
  });

  it('keeps everything the Dockerfile COPYs from it', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap(([, list]) => list.split(/\s+/));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'images/python']));
    for (const source of [...sources, 'src/main.ts', 'images/python/launcher.py'])
      expect([source, excluded(source)]).toEqual([source, false]);
  });
});

it("runs the image's tini as PID 1, with no second init of compose's above it", () => {
  expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"/m);
  expect(service.init).toBeUndefined();
});
