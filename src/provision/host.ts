/** Host-level helpers for provisioning: running commands visibly and installing Debian packages. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostChangesAllowed } from '../config';

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

/** A change to this host (not the engine's images): what it is, and the commands that make it by hand. */
export interface HostChange {
  what: string;
  commands: string[];
}

/**
 * Every host change goes through here: announced before it happens, or, with RUNBOX_PROVISION=0, refused with
 * the commands that make it by hand, so that an operator who wants no surprises runs them knowingly.
 */
export async function changeHost<T>(change: HostChange, act: () => Promise<T>, log: (line: string) => void): Promise<T> {
  if (!hostChangesAllowed(process.env)) {
    throw new Error(
      `this host needs ${change.what}, and RUNBOX_PROVISION=0 forbids changing it. Run, as root:\n${change.commands.map((c) => `  ${c}`).join('\n')}\nthen retry.`,
    );
  }
  log(`changing this host: ${change.what} (set RUNBOX_PROVISION=0 to be given the commands instead)`);
  return act();
}

const aptInstall = (pkg: string) => ['install', '-y', '--no-install-recommends', pkg];

/** The command that installs a Debian package, as a person would type it. */
export const aptInstallCommand = (pkg: string) => `apt-get ${aptInstall(pkg).join(' ')}`;

/** apt-get install, updating the package lists first only when the install fails without. */
export async function installPackage(pkg: string): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await runVisible('apt-get', aptInstall(pkg), env);
  } catch {
    await runVisible('apt-get', ['update'], env);
    await runVisible('apt-get', aptInstall(pkg), env);
  }
}

/** Installs a Debian package when `command` is missing; only where we are root on a Debian-like system. */
export async function ensureHostPackage(command: string, pkg: string, log: (line: string) => void): Promise<void> {
  if (onPath(command)) return;
  if (!isDebianRoot()) {
    throw new Error(`'${command}' is required: install the '${pkg}' package (or its equivalent) and retry`);
  }
  await changeHost(
    { what: `Debian's ${pkg} package (for ${command})`, commands: [aptInstallCommand(pkg)] },
    () => installPackage(pkg),
    log,
  );
}
