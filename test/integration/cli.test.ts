/** `runbox run` end to end: the built command against a real server and the real engine. */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKey } from '../../src/keys/api-keys';
import { NO_LIMITS, utcDay } from '../../src/store/store';
import { startServer, watchInstance } from '../support/engine';
import { LABEL_RUN_ID } from '../../src/sandbox/labels';
import { SQLITE_FILE } from '../../src/store/sqlite';

const CLI = join(__dirname, '../../dist/cli/main.js');
const KEY = 'cli-test-key-'.padEnd(40, 'x');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** When the first stdout byte arrived, in ms since the epoch */
  firstOutputAt?: number;
}

function runbox(args: string[], { cwd, env = {}, input }: { cwd: string; env?: Record<string, string>; input?: string }): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    let firstOutputAt: number | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      firstOutputAt ??= Date.now();
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr, firstOutputAt }));
  });
}

describe('runbox run', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    expect(existsSync(CLI)).toBe(true); // `npm test` builds dist/ before these suites
    server = await startServer({ RUNBOX_API_KEY: KEY, RUNBOX_POOL_SIZE: '0', RUNBOX_MAX_FILE_BYTES: '100000' });
    env = { RUNBOX_URL: server.url, RUNBOX_API_KEY: KEY };
  });
  afterAll(() => server.close(30_000));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbox-cli-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (path: string, content: string | Buffer) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  };

  it('streams output live, passes stdin, args and folders, writes artifacts, and exits with the program’s status', async () => {
    write(
      'main.py',
      [
        'import sys, time',
        'print("hello", sys.argv[1:], flush=True)',
        'time.sleep(2)',
        'print(open("data/in.csv").read().strip(), sys.stdin.read().strip())',
        'open("output/copy.bin", "wb").write(open("data/raw.bin", "rb").read())',
        'import matplotlib.pyplot as plt',
        'plt.plot([1, 2]); plt.show()',
        'print("warning", file=sys.stderr)',
        'sys.exit(3)',
      ].join('\n'),
    );
    write('data/in.csv', 'a,b\n1,2\n');
    write('data/raw.bin', Buffer.from([0, 255, 1, 254]));
    const watch = await watchInstance(server.config.instanceId);
    const result = await runbox(['run', 'main.py', 'data', '--arg', 'x', '--arg', 'two words', '--stdin', '-'], {
      cwd: dir,
      env,
      input: 'piped\n',
    });
    expect(result.code).toBe(3);
    expect(result.stdout).toBe("hello ['x', 'two words']\na,b\n1,2 piped\n");
    expect(result.stderr).toContain('warning\n');
    expect(result.stderr).toMatch(/2 file\(s\) written to output\/: copy\.bin, figure-1\.png/);
    // The first line was on the terminal before the program ended (the engine's report of its container's end).
    const died = await watch.next((e) => e.action === 'die').finally(() => watch.close());
    expect(result.firstOutputAt).toBeLessThan(died.at);
    expect(readFileSync(join(dir, 'output/copy.bin'))).toEqual(Buffer.from([0, 255, 1, 254]));
    expect(readFileSync(join(dir, 'output/figure-1.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it("exits 0, 124 on timeout and 137 on out-of-memory, saying why in the server's message, as the last line", async () => {
    write('ok.py', 'print("fine")');
    expect((await runbox(['run', 'ok.py'], { cwd: dir, env })).code).toBe(0);
    write('slow.py', 'import time; time.sleep(30)');
    const slow = await runbox(['run', 'slow.py', '--timeout', '1500ms'], { cwd: dir, env });
    expect(slow.code).toBe(124);
    // The run response's `message`, one line (the programs write nothing of their own).
    expect(slow.stderr).toBe('runbox: time limit of 1.5 s exceeded\n');
    write('hog.py', 'x = bytearray(512 * 1024 * 1024)');
    const hog = await runbox(['run', 'hog.py', '--memory', '64'], { cwd: dir, env });
    expect(hog.code).toBe(137);
    expect(hog.stderr).toBe('runbox: memory limit of 64 MB exceeded (the program was killed)\n');
  });

  describe('bad input: one clear line, a distinct exit code, nothing written', () => {
    const oneLine = (stderr: string) => {
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^runbox: /);
      expect(stderr).not.toMatch(/\n\s+at /);
    };

    it.each([
      ['an unknown flag', ['run', 'ok.py', '--frobnicate'], {}, 64, /unknown option '--frobnicate'/],
      ['a bad duration', ['run', 'ok.py', '--timeout', 'soon'], {}, 64, /--timeout "soon"/],
      ['a missing file', ['run', 'ok.py', 'missing.csv'], {}, 66, /missing\.csv: no such file or folder/],
      ['a file over the server’s limit', ['run', 'ok.py', 'big.bin'], {}, 65, /big\.bin is 200000 bytes; the server takes at most 100000/],
      [
        'a wrong key',
        ['run', 'ok.py'],
        { RUNBOX_API_KEY: 'not-the-key' },
        77,
        /^runbox: the server refused the API key given \(RUNBOX_API_KEY or --api-key\)/,
      ],
      [
        'an unreachable server',
        ['run', 'ok.py'],
        { RUNBOX_URL: 'http://127.0.0.1:9' },
        69,
        /cannot reach runbox at http:\/\/127\.0\.0\.1:9/,
      ],
    ])('%s', async (_what, args, overrides, code, message) => {
      write('ok.py', 'open("output/x.txt", "w").write("x")');
      write('big.bin', Buffer.alloc(200_000));
      const result = await runbox(args as string[], { cwd: dir, env: { ...env, ...(overrides as Record<string, string>) } });
      expect(result.code).toBe(code);
      expect(result.stderr).toMatch(message as RegExp);
      oneLine(result.stderr);
      expect(existsSync(join(dir, 'output'))).toBe(false);
    });

    it('a key whose runs for the day are used up: exit 75, saying when to retry', async () => {
      const made = makeKey({ name: 'spent', env: 'test', limits: { ...NO_LIMITS, dailyRuns: 1 } });
      await server.store.addKey(made.record);
      await server.store.countRun(made.record.id, utcDay(Date.now()), 1);
      write('ok.py', 'print(1)');
      const result = await runbox(['run', 'ok.py'], { cwd: dir, env: { ...env, RUNBOX_API_KEY: made.key } });
      expect(result.code).toBe(75);
      expect(result.stderr).toMatch(/quota_exceeded.*runs for today \(UTC\) are used up \(retry after \d+ s\)/);
      oneLine(result.stderr);
    });

    it('two files that would land on one sandbox path: exit 65, naming both', async () => {
      write('a/ok.py', 'print(1)');
      write('a/data.csv', 'a');
      write('b/data.csv', 'b');
      // From a/, ../b/data.csv is outside the working directory, so it goes by its name: data.csv, like a/data.csv.
      const clash = await runbox(['run', 'ok.py', '../b/data.csv', 'data.csv'], { cwd: join(dir, 'a'), env });
      expect(clash.code).toBe(65);
      expect(clash.stderr).toMatch(/\.\.\/b\/data\.csv and data\.csv would both be data\.csv in the sandbox/);
      oneLine(clash.stderr);
    });

    it('an output folder that is a symlink, or holds a folder where a file goes: exit 73, nothing written', async () => {
      write('two.py', 'open("output/a.txt", "w").write("new"); open("output/b", "w").write("b")');
      mkdirSync(join(dir, 'elsewhere'));
      symlinkSync(join(dir, 'elsewhere'), join(dir, 'output'));
      const linked = await runbox(['run', 'two.py'], { cwd: dir, env });
      expect(linked.code).toBe(73);
      expect(linked.stderr).toMatch(/is a symlink; not writing through it/);
      expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
      rmSync(join(dir, 'output'));
      write('output/a.txt', 'old');
      mkdirSync(join(dir, 'output/b'));
      const blocked = await runbox(['run', 'two.py'], { cwd: dir, env });
      expect(blocked.code).toBe(73);
      oneLine(blocked.stderr);
      expect(readFileSync(join(dir, 'output/a.txt'), 'utf8')).toBe('old');
      expect(readdirSync(dir).filter((name) => name.startsWith('.runbox-output-'))).toEqual([]);
    });

    it('a reader that goes away (| head): exit 141 quietly, and the run is stopped', async () => {
      write('loud.py', 'import time\nfor i in range(600):\n    print("line", i, flush=True)\n    time.sleep(0.05)');
      const watch = await watchInstance(server.config.instanceId);
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'run', 'loud.py'], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env } });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.stdout.once('data', () => child.stdout.destroy());
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(result.code).toBe(141);
      expect(result.stderr).toBe('');
      // Killed (SIGKILL, 137), not left to print its 600 lines over 30 s. Its container is the latest run's: an
      // earlier run's may exit after its answer was sent, while this one starts.
      const db = new Database(join(server.config.store.dataDir, SQLITE_FILE), { readonly: true });
      const { id } = db.prepare('SELECT id FROM runs ORDER BY received_at DESC, rowid DESC LIMIT 1').get() as { id: string };
      db.close();
      const died = await watch.next((e) => e.action === 'die' && e.labels[LABEL_RUN_ID] === id).finally(() => watch.close());
      expect(died.labels.exitCode).toBe('137');
    });

    it('an output folder that cannot be written: exit 73, and no partial files', async () => {
      write('two.py', 'open("output/a.txt", "w").write("a"); open("output/b.txt", "w").write("b")');
      write('output', 'a file where the folder would go');
      const result = await runbox(['run', 'two.py'], { cwd: dir, env });
      expect(result.code).toBe(73);
      oneLine(result.stderr);
      expect(readFileSync(join(dir, 'output'), 'utf8')).toBe('a file where the folder would go');
      expect(readdirSync(dir).filter((name) => name.startsWith('.runbox-output-'))).toEqual([]);
    });
  });
});
