/**
 * scripts/compose-init.sh without an engine: a stand-in `docker` on PATH answers which images are present,
 * and a listening unix socket plays the engine's (test/deploy/compose.test.ts runs the script for real).
 */
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sandboxImageTag } from '../../src/provision/image';

const ROOT = join(__dirname, '../..');
const exec = promisify(execFile);

/** `docker image inspect NAME` succeeds for the names in FAKE_PRESENT; a pull fails, as with no registry. */
const FAKE_DOCKER = `#!/bin/sh
if [ "$1 $2" = "image inspect" ]; then
  for name in $FAKE_PRESENT; do [ "$name" = "$3" ] && exit 0; done
  exit 1
fi
[ "$1" = pull ] && echo "no registry here" >&2
exit 1
`;

let dir: string;
let socket: string;
let engine: Server;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rbx-compose-init-'));
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin/docker'), FAKE_DOCKER, { mode: 0o755 });
  socket = join(dir, 'engine.sock');
  engine = createServer();
  await new Promise<void>((resolve) => engine.listen(socket, resolve));
});

afterAll(async () => {
  await new Promise((resolve) => engine.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** A checkout holding what the script reads: itself, images/python (the sandbox tag) and the base builder. */
function checkout(name: string): string {
  const root = join(dir, name);
  for (const path of ['scripts/compose-init.sh', 'images/python', 'images/server/local-base.sh']) {
    cpSync(join(ROOT, path), join(root, path), { recursive: true });
  }
  return root;
}

const standIn = async () => (await exec('bash', [join(ROOT, 'images/server/local-base.sh'), '--name'])).stdout.trim();

/** Runs the script as a user would, under a umask that would leave a new file world-readable. */
function init(root: string, env: Record<string, string>) {
  return exec('bash', ['-c', 'umask 022 && exec scripts/compose-init.sh'], {
    cwd: root,
    env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, HOME: dir, DOCKER_HOST: `unix://${socket}`, ...env },
  });
}

it('writes .env once, mode 600, and prints its key once; run again, it changes nothing and prints no key', async () => {
  const root = checkout('first');
  const base = await standIn();
  const env = { FAKE_PRESENT: `${base} ${sandboxImageTag()}` };

  const first = await init(root, env);
  const dotenv = readFileSync(join(root, '.env'), 'utf8');
  expect(statSync(join(root, '.env')).mode & 0o777).toBe(0o600);
  const key = /^RUNBOX_API_KEY=([0-9a-f]+)$/m.exec(dotenv)![1];
  expect(key).toHaveLength(48);
  const printed = first.stdout.trimEnd().split('\n');
  expect(printed).toHaveLength(2);
  expect(printed[0]).toBe(key);
  expect(printed[1]).toMatch(/kept in \.env/);
  expect(first.stderr).not.toContain(key);
  // The group of DOCKER_HOST's socket, which compose is then told to hand the server (and to use itself).
  expect(dotenv).toMatch(new RegExp(`^RUNBOX_DOCKER_GID=${statSync(socket).gid}$`, 'm'));
  expect(dotenv).toMatch(new RegExp(`^RUNBOX_DOCKER_SOCKET=${socket}$`, 'm'));
  expect(dotenv).toMatch(new RegExp(`^DOCKER_HOST=unix://${socket}$`, 'm'));
  // node:20-bookworm-slim is neither present nor pullable: the stand-in, by the name local-base.sh gives it.
  expect(dotenv).toMatch(new RegExp(`^RUNBOX_SERVER_BASE=${base}$`, 'm'));
  expect(first.stderr).toMatch(/cannot be pulled/);

  const second = await init(root, env);
  expect(second.stdout).toBe('');
  expect(second.stderr).toMatch(/\.env exists: its API key and settings are kept/);
  expect(readFileSync(join(root, '.env'), 'utf8')).toBe(dotenv);
  expect(statSync(join(root, '.env')).mode & 0o777).toBe(0o600);
});

it('records no base when the engine has node:20-bookworm-slim', async () => {
  const root = checkout('official');
  const { stdout } = await init(root, { FAKE_PRESENT: `node:20-bookworm-slim ${sandboxImageTag()}` });
  const dotenv = readFileSync(join(root, '.env'), 'utf8');
  expect(dotenv).not.toMatch(/RUNBOX_SERVER_BASE/);
  expect(stdout.split('\n')[0]).toBe(/^RUNBOX_API_KEY=(.*)$/m.exec(dotenv)![1]);
});

it('keeps the key of an existing .env, and puts the stand-in back in it when the one it names has gone', async () => {
  const root = checkout('gone');
  const base = await standIn();
  const before = [
    '# mine',
    'RUNBOX_API_KEY=' + 'k'.repeat(32),
    'RUNBOX_DOCKER_GID=999',
    'RUNBOX_SERVER_BASE=runbox-node-base:0000000000000000',
    'RUNBOX_PORT=9090',
    '',
  ];
  writeFileSync(join(root, '.env'), before.join('\n'), { mode: 0o600 });
  const { stdout, stderr } = await init(root, { FAKE_PRESENT: `${base} ${sandboxImageTag()}` });
  expect(stdout).toBe('');
  expect(stderr).toMatch(/runbox-node-base:0000000000000000 \(\.env\) is no longer in the engine/);
  expect(readFileSync(join(root, '.env'), 'utf8')).toBe(before.join('\n').replace('runbox-node-base:0000000000000000', base));
  expect(statSync(join(root, '.env')).mode & 0o777).toBe(0o600);
});

it('refuses an engine that is not a unix socket here, writing nothing', async () => {
  const root = checkout('tcp');
  const failed = await init(root, { DOCKER_HOST: 'tcp://10.0.0.1:2375' }).catch((err: { code: number; stderr: string }) => err);
  expect(failed).toMatchObject({ code: 1, stderr: expect.stringMatching(/DOCKER_HOST=tcp:\/\/10\.0\.0\.1:2375 is not a unix socket/) });
  expect(() => statSync(join(root, '.env'))).toThrow();
});

describe("the sandbox image's tag, computed in bash as the server computes it", () => {
  const inBash = async (imageDir: string) =>
    (await exec('bash', ['-c', 'source scripts/compose-init.sh && sandbox_image_tag "$1"', 'bash', imageDir], { cwd: ROOT })).stdout.trim();

  it('for images/python', async () => {
    expect(await inBash(join(ROOT, 'images/python'))).toBe(sandboxImageTag());
  });

  it('for names that sort differently by locale, dot files, and what is not a regular file', async () => {
    const odd = join(dir, 'odd-image');
    mkdirSync(join(odd, '__pycache__'), { recursive: true });
    const files: Record<string, string> = {
      'b.txt': 'b',
      'B.txt': 'B',
      '.hidden': 'h',
      'with space': 's',
      'a-b': '1',
      a_b: '2',
      empty: '',
    };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(odd, name), content);
    writeFileSync(join(odd, '__pycache__/x.pyc'), 'cache');
    symlinkSync('b.txt', join(odd, 'link'));
    chmodSync(join(odd, 'a-b'), 0o755);
    expect(await inBash(odd)).toBe(sandboxImageTag(odd));
  });
});
