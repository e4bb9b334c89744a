/**
 * The README's quick start, run as written: the ```sh block after `<!-- test: quickstart -->`, each line with
 * `bash -c` in a new user's bare shell (PATH, and a HOME of its own, so the store is made where a new user's
 * would be), from this checkout. `npm ci` is the line this test does not run: CI's own `.ci/run` has just run
 * it on this clean clone (and running it here would pull node_modules from under the running tests). `npm
 * start` runs as a person runs it, in the foreground of its own process group, and Ctrl-C (SIGINT to the
 * group) stops it; nothing may be left behind. Its `npm run build` rewrites this checkout's dist/ with what is
 * there already: the deploy tier runs one file at a time, so nothing else runs from dist/ meanwhile.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, instanceContainers } from '../support/engine';
import { readmeBlock } from '../support/readme';

const ROOT = join(__dirname, '../..');
const exec = promisify(execFile);
const URL = 'http://127.0.0.1:8080';

/** Whether a port is free on loopback: the quick start serves on 8080, as the README says. */
const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });

describe("README's quick start", () => {
  const lines = readmeBlock('quickstart');
  const home = mkdtempSync(join(tmpdir(), 'runbox-quickstart-home-'));
  const env = { PATH: process.env.PATH, HOME: home };
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('is npm ci, npm start, and a curl that runs a program', () => {
    expect(lines.map((line) => line.split(/\s+#/)[0].trim().split(' ').slice(0, 2).join(' '))).toEqual(['npm ci', 'npm start', 'curl -s']);
  });

  it('serves, runs the program, and stops on Ctrl-C leaving nothing behind', async () => {
    if (!(await portFree(8080))) throw new Error('127.0.0.1:8080, where the quick start serves, is taken: free it to run this test');
    const [, start, run] = lines;
    const server = spawn('bash', ['-c', start], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // 'close': the group's output is all in once every process holding its pipes has gone, npm's child included.
    const closed = new Promise<void>((resolve) => server.on('close', () => resolve()));
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(-server.pid!, name);
      } catch {
        // the group has gone already
      }
    };
    try {
      // Building dist/, then provisioning (the engine and image are there already in a test run), then listening.
      const up = () =>
        fetch(`${URL}/ready`).then(
          (res) => res.ok,
          () => false,
        );
      const settled = await eventually(async () => server.exitCode !== null || (await up()), 600_000, 250);
      if (!settled || server.exitCode !== null) throw new Error(`npm start did not come up:\n${output}`);

      const { stdout } = await exec('bash', ['-c', run], { cwd: ROOT, env });
      expect(JSON.parse(stdout)).toMatchObject({ status: 'ok', exit_code: 0, stdout: '42\n' });
      // A new user's store, where the README says it is.
      expect(existsSync(join(home, '.local/share/runbox/runbox.db'))).toBe(true);
    } finally {
      // Ctrl-C; a server that has not stopped within its shutdown grace is killed, so the tier is not held.
      signal('SIGINT');
      const stopped = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 60_000).unref()),
      ]);
      if (!stopped) {
        signal('SIGKILL');
        await closed;
      }
    }
    expect(output).toContain('"msg":"stopped"');
    expect(await instanceContainers(`${hostname()}-8080`.slice(0, 64))).toEqual([]);
  }, 660_000);
});
