/**
 * docker-compose.yml for real, with Debian's docker-compose 1.29: the server image built from
 * images/server/Dockerfile (on an offline stand-in for its Node base, as these machines reach no registry),
 * brought up on this engine, a program run through it, restarted, run again, and brought down with nothing left.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { docker, eventually, instanceContainers } from '../support/engine';

const ROOT = join(__dirname, '../..');
const exec = promisify(execFile);
const PROJECT = `rbxcompose${process.pid}`;
const KEY = `compose-test-key-${process.pid}`.padEnd(24, 'x');

/** The stand-in base, named by what it is made of, built once per machine. */
async function localBase(): Promise<string> {
  const hash = createHash('sha256')
    .update(readFileSync(join(ROOT, 'images/server/local-base.sh')))
    .update(process.version)
    .digest('hex')
    .slice(0, 16);
  const tag = `runbox-node-base:${hash}`;
  if (!(await docker.imageExists(tag))) await exec('bash', [join(ROOT, 'images/server/local-base.sh'), tag], { maxBuffer: 1 << 24 });
  return tag;
}

describe('docker-compose.yml', () => {
  let env: NodeJS.ProcessEnv;
  const compose = (...args: string[]) => exec('docker-compose', args, { cwd: ROOT, env, maxBuffer: 1 << 24 });
  const port = 20_000 + (process.pid % 20_000);
  const url = `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      COMPOSE_PROJECT_NAME: PROJECT,
      RUNBOX_API_KEY: KEY,
      RUNBOX_DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
      RUNBOX_SERVER_BASE: await localBase(),
      RUNBOX_PORT: String(port),
      RUNBOX_INSTANCE_ID: PROJECT,
      RUNBOX_VERSION: `test-${process.pid}`,
    };
  }, 300_000);

  afterAll(async () => {
    await compose('down', '-v', '--remove-orphans').catch(() => undefined);
    await exec('docker', ['image', 'rm', `runbox-server:test-${process.pid}`]).catch(() => undefined);
  });

  it('refuses to start without RUNBOX_API_KEY, naming it', async () => {
    const failed = await exec('docker-compose', ['config', '-q'], { cwd: ROOT, env: { ...env, RUNBOX_API_KEY: '' } }).catch(
      (err: { stderr: string }) => err,
    );
    expect((failed as { stderr: string }).stderr).toMatch(/set RUNBOX_API_KEY/);
  });

  it('comes up, runs a program, survives a restart, and goes down leaving no container, network or volume', async () => {
    await compose('up', '-d', '--build');
    const run = async (code: string) => {
      const res = await fetch(`${url}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ code }),
      });
      return { status: res.status, body: (await res.json()) as { status: string; stdout: string } };
    };
    const up = () =>
      fetch(`${url}/ready`).then(
        (r) => r.ok,
        () => false,
      );
    expect(await eventually(up, 60_000, 250)).toBe(true);
    expect((await run('print(6 * 7)')).body).toMatchObject({ status: 'ok', stdout: '42\n' });
    // Keys are required: compose serves beyond the container's loopback.
    expect((await fetch(`${url}/v1/runs`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(
      401,
    );

    // /metrics too: without RUNBOX_METRICS_KEY, the bootstrap key opens it, and nothing less.
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);

    // It runs as its own user (no sandbox's uid or group), with the engine socket's group and nothing else of root.
    const { stdout: id } = await compose('exec', '-T', 'runbox', 'id', '-u');
    expect(id.trim()).toBe('20001');
    const { stdout: health } = await exec('docker', ['inspect', '--format', '{{.State.Health.Status}}', `${PROJECT}_runbox_1`]);
    expect(['starting', 'healthy']).toContain(health.trim());

    await compose('restart');
    expect(await eventually(up, 60_000, 250)).toBe(true);
    expect((await run('print(7 * 7)')).body).toMatchObject({ status: 'ok', stdout: '49\n' });
    expect(
      await eventually(
        async () =>
          (await exec('docker', ['inspect', '--format', '{{.State.Health.Status}}', `${PROJECT}_runbox_1`])).stdout.trim() === 'healthy',
        60_000,
        500,
      ),
    ).toBe(true);

    await compose('down', '-v');
    expect(await instanceContainers(PROJECT)).toEqual([]);
    const { stdout: networks } = await exec('docker', ['network', 'ls', '--filter', `name=${PROJECT}`, '--format', '{{.Name}}']);
    expect(networks.trim()).toBe('');
    const { stdout: volumes } = await exec('docker', ['volume', 'ls', '--filter', `name=${PROJECT}`, '--format', '{{.Name}}']);
    expect(volumes.trim()).toBe('');
  }, 600_000);
});
