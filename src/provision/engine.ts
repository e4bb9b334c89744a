/** Makes sure a Docker engine answers: uses the one configured, or installs and starts Debian's docker.io. */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import type { DockerClient } from '../docker/client';
import { aptInstallCommand, changeHost, installPackage, isDebianRoot, onPath } from './host';

export const DOCKERD_PID_FILE = '/run/runbox-dockerd.pid';
const DOCKERD_LOG = '/var/log/runbox-dockerd.log';
const DOCKERD_ARGS = ['--bridge=none', '--iptables=false', '--ip6tables=false'];

async function answers(docker: DockerClient): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves once the engine answers /_ping. Returns the pid of a dockerd we started, or undefined
 * when one was already running (which is then not ours to stop). `dockerHost`: DOCKER_HOST, if set.
 */
export async function ensureEngine(
  docker: DockerClient,
  dockerHost: string | undefined,
  log: (line: string) => void,
  waitMs = 60_000,
): Promise<number | undefined> {
  if (await answers(docker)) return undefined;
  if (dockerHost) {
    throw new Error(`the Docker engine at DOCKER_HOST=${dockerHost} does not answer; start it and retry`);
  }
  if (!isDebianRoot()) {
    throw new Error(
      'no Docker engine answers on /var/run/docker.sock: install Docker Engine (https://docs.docker.com/engine/install/), ' +
        'start it, or point DOCKER_HOST at one, then retry',
    );
  }
  // One change, announced (or refused, listing its commands) whole: the package if missing, then the daemon.
  const installing = !onPath('dockerd');
  const daemon = await changeHost(
    {
      what: `a Docker engine: ${installing ? "Debian's docker.io package, then " : ''}dockerd ${DOCKERD_ARGS.join(' ')} in the background (sandboxes never get a network)`,
      commands: [...(installing ? [aptInstallCommand('docker.io')] : []), `dockerd ${DOCKERD_ARGS.join(' ')} >>${DOCKERD_LOG} 2>&1 &`],
    },
    async () => {
      if (installing) await installPackage('docker.io');
      mkdirSync('/var/log', { recursive: true });
      const out = openSync(DOCKERD_LOG, 'a');
      const started = spawn('dockerd', DOCKERD_ARGS, { detached: true, stdio: ['ignore', out, out] });
      started.unref();
      if (started.pid === undefined) throw new Error('could not start dockerd');
      writeFileSync(DOCKERD_PID_FILE, `${started.pid}\n`);
      return { process: started, pid: started.pid };
    },
    log,
  );

  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (daemon.process.exitCode !== null) throw new Error(`dockerd exited (${daemon.process.exitCode}); see ${DOCKERD_LOG}`);
    if (await answers(docker)) {
      log(`dockerd ${daemon.pid} answers`);
      return daemon.pid;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`dockerd did not answer within ${waitMs} ms; see ${DOCKERD_LOG}`);
}
