import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { testInstanceId } from './instance';

/** The repository root, found upwards from here (this file also runs compiled, from dist-bench/). */
function repoRoot(dir = __dirname): string {
  return existsSync(join(dir, 'package.json')) ? dir : repoRoot(dirname(dir));
}

const MAIN = join(repoRoot(), 'dist/main.js');

/**
 * The real server (`node dist/main.js`, or `command` run in `cwd`: an installed `runbox serve`) as a child
 * process, for tests of signals and crashes; an instance id of this test run's unless `env` gives one.
 */
export async function spawnServer(
  env: Record<string, string>,
  { command = [process.execPath, MAIN], cwd }: { command?: string[]; cwd?: string } = {},
) {
  // Its own store, never ./data in the checkout, removed when it exits (unless the caller gave one).
  const dataDir = mkdtempSync(join(tmpdir(), 'runbox-test-data-'));
  const child: ChildProcess = spawn(command[0], command.slice(1), {
    cwd,
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      RUNBOX_LOG_LEVEL: 'info',
      RUNBOX_DATA_DIR: dataDir,
      RUNBOX_INSTANCE_ID: testInstanceId('spawned'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      rmSync(dataDir, { recursive: true, force: true });
      resolve(code);
    }),
  );
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started server running behind the caller.
      child.kill('SIGKILL');
      reject(new Error(`server did not start:\n${log}`));
    }, 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const match = /"port":(\d+).*"msg":"runbox listening"/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`server exited (${code}):\n${log}`)));
  });
  return { child, pid: child.pid!, url: `http://127.0.0.1:${port}`, exited, log: () => log };
}

/**
 * The real server run to its exit, for one that is expected not to start: its exit code, and what it wrote to
 * each stream. Its own store, removed after.
 */
export async function serverToExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'runbox-test-data-'));
  try {
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        RUNBOX_LOG_LEVEL: 'info',
        RUNBOX_DATA_DIR: dataDir,
        RUNBOX_INSTANCE_ID: testInstanceId('spawned'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // A server that starts after all would never exit: killed at a bound, so its caller fails rather than hangs.
    const bound = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(bound);
    return { code, stdout, stderr };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
