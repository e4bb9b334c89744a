/** Host-level helpers for provisioning: running commands visibly and installing Debian packages. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export function isDebianRoot(): boolean {
  return process.platform === 'linux' && existsSync('/etc/debian_version') && process.getuid?.() === 0;
}

export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(`${dir}/${command}`));
}

/** Runs a command with its output on ours, so long steps show progress; rejects on a non-zero exit. */
export function runVisible(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolvePromise() : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code})`)),
    );
  });
}

/** Installs a Debian package when `command` is missing; only where we are root on a Debian-like system. */
export async function ensureHostPackage(command: string, pkg: string, log: (line: string) => void): Promise<void> {
  if (onPath(command)) return;
  if (!isDebianRoot()) {
    throw new Error(`'${command}' is required: install the '${pkg}' package (or its equivalent) and retry`);
  }
  log(`installing ${pkg} from Debian's packages`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['install', '-y', '--no-install-recommends', pkg];
  try {
    await runVisible('apt-get', install, env);
  } catch {
    await runVisible('apt-get', ['update'], env);
    await runVisible('apt-get', install, env);
  }
}
