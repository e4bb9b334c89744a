/**
 * RUNBOX_RUNTIME=runsc: gVisor as the sandboxes' runtime. Provisioning installs Debian's `runsc` and registers
 * it with the engine in /etc/docker/daemon.json, merged into what is there (so the operator's settings stay,
 * and the registration survives an engine restart), then reloads the engine (SIGHUP: `runtimes` is reloadable)
 * and waits until the engine lists it. gVisor needs `--network=none` here: without it, every start fails with
 * "cannot run with network enabled in root network namespace". `--oci-seccomp` makes gVisor load the sandbox's
 * seccomp profile inside the sandbox too (without it, gVisor ignores the profile, and a program reaches all of
 * gVisor's own kernel). Its default ptrace platform works on these machines; `--platform=kvm` hangs, so it is
 * never set.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { DockerClient } from '../docker/client';
import { aptInstallCommand, changeHost, installPackage, isDebianRoot, onPath } from './host';

export const DAEMON_JSON = '/etc/docker/daemon.json';
export const RUNSC = { path: '/usr/bin/runsc', runtimeArgs: ['--network=none', '--oci-seccomp'] };

/** daemon.json's text with runsc registered; every other setting kept. Refuses a file it cannot read as JSON. */
export function withRunsc(existing: string | undefined): string {
  let settings: Record<string, unknown> = {};
  if (existing !== undefined && existing.trim() !== '') {
    try {
      settings = JSON.parse(existing) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${DAEMON_JSON} is not valid JSON (${(err as Error).message}); fix it, or register runsc yourself`);
    }
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
      throw new Error(`${DAEMON_JSON} is not a JSON object; fix it, or register runsc yourself`);
    }
  }
  const runtimes = (settings.runtimes ?? {}) as Record<string, unknown>;
  return `${JSON.stringify({ ...settings, runtimes: { ...runtimes, runsc: RUNSC } }, null, 2)}\n`;
}

function dockerdPids(): number[] {
  try {
    return execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number).filter(Number.isInteger);
  } catch {
    return [];
  }
}

/**
 * Makes sure the engine runs sandboxes under `runtime`; installs and registers runsc when asked for it, unless
 * `dockerHost` (DOCKER_HOST) says the engine is elsewhere.
 */
export async function ensureRuntime(
  docker: DockerClient,
  runtime: string,
  dockerHost: string | undefined,
  log: (line: string) => void,
  waitMs = 20_000,
): Promise<void> {
  if (runtime === 'runc') return;
  const known = await docker.runtimes();
  const registered = known[runtime];
  if (runtime !== 'runsc') {
    if (!registered) throw new Error(`RUNBOX_RUNTIME=${runtime}: the engine has no such runtime (it has ${Object.keys(known).join(', ')})`);
    return;
  }
  if (registered) {
    const missing = RUNSC.runtimeArgs.filter((arg) => !registered.runtimeArgs.includes(arg));
    if (missing.length > 0) {
      throw new Error(
        `the engine registers runsc without ${missing.join(' ')} (gVisor refuses every sandbox without --network=none, and ignores the sandbox's seccomp profile without --oci-seccomp): make its "runtimeArgs" ${JSON.stringify(RUNSC.runtimeArgs)} in ${DAEMON_JSON} and reload the engine`,
      );
    }
    return;
  }
  if (!isDebianRoot() || dockerHost) {
    throw new Error(
      `RUNBOX_RUNTIME=runsc: the engine has no runsc runtime. Install gVisor and register it in ${DAEMON_JSON} as ${JSON.stringify({ runtimes: { runsc: RUNSC } })}, then reload the engine`,
    );
  }
  const installing = !onPath('runsc');
  await changeHost(
    {
      what: `gVisor: ${installing ? "Debian's runsc package, " : ''}registered with the engine in ${DAEMON_JSON}, which is then reloaded`,
      commands: [
        ...(installing ? [aptInstallCommand('runsc')] : []),
        `add "runtimes": ${JSON.stringify({ runsc: RUNSC })} to ${DAEMON_JSON} (keeping what is there)`,
        'kill -HUP $(pidof dockerd)',
      ],
    },
    async () => {
      if (installing) await installPackage('runsc');
      mkdirSync('/etc/docker', { recursive: true });
      const text = withRunsc(existsSync(DAEMON_JSON) ? readFileSync(DAEMON_JSON, 'utf8') : undefined);
      // Written whole, then renamed: an engine starting meanwhile never reads half a file.
      writeFileSync(`${DAEMON_JSON}.runbox-new`, text);
      renameSync(`${DAEMON_JSON}.runbox-new`, DAEMON_JSON);
      for (const pid of dockerdPids()) process.kill(pid, 'SIGHUP');
    },
    log,
  );
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if ((await docker.runtimes()).runsc) return log('the engine runs sandboxes under runsc now');
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the engine did not pick up runsc from ${DAEMON_JSON} within ${waitMs} ms; restart it`);
}
