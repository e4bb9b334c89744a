/**
 * README's compose block, run as written: the ```sh block after `<!-- test: compose -->` in README.md (or in
 * the file RUNBOX_README names), line by line, each with `bash -c` in a bare environment, from a fresh copy of
 * the checkout's tracked files (a clean clone: no .env, node_modules or dist/; the block needs none), on this
 * engine, which reaches no image registry: so scripts/compose-init.sh builds the server image's stand-in base
 * (once per machine: it is named by what it is made of) and the server image is built on it. Between the
 * lines, what each left is checked; before `down -v`, what the README does not show (401 without the key,
 * /metrics, uid 20001, the healthcheck, a restart); after it, that nothing of the project is left.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, instanceContainers } from '../support/engine';
import { readmeBlock } from '../support/readme';

const ROOT = join(__dirname, '../..');
const exec = promisify(execFile);

/** What each line of the block is, in the order the README must give them. */
const STEPS = [
  ['init', /^scripts\/compose-init\.sh\b/],
  ['up', /^docker-compose up -d --build\b/],
  ['ready', /\bcurl\b.*\/ready\b/],
  ['run', /\bcurl\b.*\/v1\/runs\b.*\$RUNBOX_API_KEY/],
  ['ps', /^docker-compose ps\b/],
  ['logs', /^docker-compose logs\b/],
  ['down', /^docker-compose down -v\b/],
] as const;
type Step = (typeof STEPS)[number][0];
const stepOf = (line: string): Step | undefined => STEPS.find(([, pattern]) => pattern.test(line))?.[0];

// The checkout's directory name is compose's project name: unique to this run, so its container, network and
// volume are told apart from anything else on the engine without setting COMPOSE_PROJECT_NAME.
const PROJECT = `rbxcompose${process.pid}`;
const CONTAINER = `${PROJECT}_runbox_1`;
const PORT = 20_000 + (process.pid % 20_000);
const VERSION = `compose-test-${process.pid}`;
/**
 * Each line's whole environment: a new shell's PATH and HOME, nothing exported from the README's steps.
 * Added for isolation from whatever else shares this engine, and said here: RUNBOX_PORT (8080 may be taken;
 * the block's curl lines read it as `${RUNBOX_PORT:-8080}`) and RUNBOX_VERSION (the server image's tag, so
 * this run neither replaces nor removes an operator's runbox-server:0.1.0).
 */
const ENV = { PATH: process.env.PATH, HOME: process.env.HOME, RUNBOX_PORT: String(PORT), RUNBOX_VERSION: VERSION };
const URL = `http://127.0.0.1:${PORT}`;

describe("README's docker-compose block", () => {
  const lines = readmeBlock('compose');
  let scratch: string;
  let checkout: string;
  const sh = (line: string) => exec('bash', ['-c', line], { cwd: checkout, env: ENV, maxBuffer: 1 << 26 });
  const inspect = async (format: string) => (await exec('docker', ['inspect', '--format', format, CONTAINER])).stdout.trim();
  const dotenv = () => readFileSync(join(checkout, '.env'), 'utf8');
  const envValue = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(dotenv())?.[1];
  const ready = () =>
    fetch(`${URL}/ready`).then(
      (res) => res.ok,
      () => false,
    );

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'rbx-compose-'));
    checkout = join(scratch, PROJECT);
    const { stdout } = await exec('git', ['ls-files', '-z'], { cwd: ROOT, maxBuffer: 1 << 24 });
    for (const file of stdout.split('\0').filter(Boolean)) {
      // Deleted in the working tree but not yet in a commit: not in a clone of what is about to be.
      if (!existsSync(join(ROOT, file))) continue;
      mkdirSync(dirname(join(checkout, file)), { recursive: true });
      copyFileSync(join(ROOT, file), join(checkout, file)); // with its mode: the script is executable
    }
  });

  afterAll(async () => {
    // After a failure part way: what the block's last line would have removed.
    if (existsSync(checkout)) await sh('docker-compose down -v --remove-orphans').catch(() => undefined);
    await exec('docker', ['image', 'rm', `runbox-server:${VERSION}`]).catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('gives init, up, a wait for /ready, a run with the key, ps, logs and down -v, in that order', () => {
    expect(lines.map((line) => [stepOf(line), line])).toEqual(STEPS.map(([step]) => [step, expect.any(String)]));
  });

  it('works as written in bare shells, and leaves nothing behind', async () => {
    // Before anything: compose refuses, pointing at the script.
    const refused = await sh('docker-compose config -q').catch((err: { stderr: string }) => err);
    expect((refused as { stderr: string }).stderr).toMatch(/set RUNBOX_API_KEY .*scripts\/compose-init\.sh/);
    const officialBase = await exec('docker', ['image', 'inspect', 'node:20-bookworm-slim']).then(
      () => true,
      () => false,
    );
    let key = '';
    let instanceId = '';

    for (const line of lines) {
      const step = stepOf(line);
      if (step === 'down') await beforeDown();
      const { stdout, stderr } = await sh(line);

      if (step === 'init') {
        // The key, printed once, is the one in .env, which only its owner can read.
        key = envValue('RUNBOX_API_KEY')!;
        expect(key).toMatch(/^[0-9a-f]{48}$/);
        expect(stdout.trimEnd().split('\n')).toEqual([key, expect.stringMatching(/kept in \.env/)]);
        expect(statSync(join(checkout, '.env')).mode & 0o777).toBe(0o600);
        expect(envValue('RUNBOX_DOCKER_GID')).toBe(String(statSync('/var/run/docker.sock').gid));
        // No registry: the stand-in base, by the name its script gives it.
        if (!officialBase) {
          const { stdout: standIn } = await exec('bash', [join(checkout, 'images/server/local-base.sh'), '--name']);
          expect(envValue('RUNBOX_SERVER_BASE')).toBe(standIn.trim());
        }
        // Run again, it changes nothing and shows no key.
        const before = dotenv();
        const again = await sh(line);
        expect(again.stdout).toBe('');
        expect(again.stderr).toMatch(/\.env exists: its API key and settings are kept/);
        expect(dotenv()).toBe(before);
        expect(statSync(join(checkout, '.env')).mode & 0o777).toBe(0o600);
      } else if (step === 'ready') {
        expect(await ready()).toBe(true);
      } else if (step === 'run') {
        expect(JSON.parse(stdout)).toMatchObject({ status: 'ok', stdout: '42\n' });
      } else if (step === 'ps') {
        expect(stdout).toMatch(new RegExp(`^${CONTAINER}\\s.*\\bUp\\b`, 'm'));
      } else if (step === 'logs') {
        // The server's start, with the instance id its leftovers are labelled with; never the key. (Compose
        // colours the prefix even when the output is no terminal: the JSON is found after it.)
        const listening = stdout
          .split('\n')
          .map((text) => /(\{.*"msg":"runbox listening".*\})\s*$/.exec(text)?.[1])
          .find(Boolean);
        expect(listening).toBeDefined();
        instanceId = (JSON.parse(listening!) as { instanceId: string }).instanceId;
        expect(`${stdout}${stderr}`).not.toContain(key);
        // tini is PID 1, reaping zombies, rather than a child of another init, warning that it cannot.
        expect(stdout).not.toMatch(/Tini is not running as PID 1/);
      } else if (step === 'down') {
        const left = async (kind: string) =>
          (
            await exec('docker', [
              kind,
              'ls',
              ...(kind === 'container' ? ['-a'] : []),
              '--filter',
              `label=com.docker.compose.project=${PROJECT}`,
              '-q',
            ])
          ).stdout;
        for (const kind of ['container', 'network', 'volume']) expect([kind, (await left(kind)).trim()]).toEqual([kind, '']);
        const { stdout: named } = await exec('docker', ['volume', 'ls', '--filter', `name=${PROJECT}`, '-q']);
        expect(named.trim()).toBe('');
        expect(await instanceContainers(instanceId)).toEqual([]);
      }
    }

    /** What the README does not show, checked while the service is up. */
    async function beforeDown() {
      // Keys are required: compose serves beyond the container's loopback.
      const run = (headers: Record<string, string>) =>
        fetch(`${URL}/v1/runs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: '{"code":"print(7 * 7)"}',
        });
      expect((await run({})).status).toBe(401);
      // /metrics too: without RUNBOX_METRICS_KEY, the bootstrap key opens it, and nothing less.
      expect((await fetch(`${URL}/metrics`)).status).toBe(401);
      expect((await fetch(`${URL}/metrics`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
      // It runs as its own user (no sandbox's uid or group), with the engine socket's group and nothing else of root.
      expect((await sh('docker-compose exec -T runbox id -u')).stdout.trim()).toBe('20001');
      expect(['starting', 'healthy']).toContain(await inspect('{{.State.Health.Status}}'));

      // A restart, and it serves again and turns healthy.
      await sh('docker-compose restart');
      expect(await eventually(ready, 60_000, 250)).toBe(true);
      const again = await run({ authorization: `Bearer ${key}` });
      expect(await again.json()).toMatchObject({ status: 'ok', stdout: '49\n' });
      expect(await eventually(async () => (await inspect('{{.State.Health.Status}}')) === 'healthy', 60_000, 500)).toBe(true);
    }

    // And the clone itself goes: nothing of this run stays on the disk.
    rmSync(scratch, { recursive: true, force: true });
    expect(existsSync(scratch)).toBe(false);
    // A bound for a first run on a new machine (the stand-in base, npm ci in the build), not a measure.
  }, 1_800_000);
});
