import Docker from 'dockerode';
import { readdirSync, readFileSync } from 'node:fs';
import { createDockerClient, type DockerClient } from '../../src/docker/client';
import { sandboxImageTag } from '../../src/provision/image';
import { LABEL_INSTANCE, LABEL_RUN_ID } from '../../src/sandbox/labels';
import { createService } from '../../src/service';
import { openSqlite } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { silentLog } from './app';
import { testConfig } from './config';

/** The real engine, with the image global-setup made sure of. */
export const docker = createDockerClient({ callTimeoutMs: 15_000 });

/** A runbox service on an ephemeral loopback port, backed by the real engine (or `engine`). */
export async function startServer(env: Record<string, string> = {}, engine: DockerClient = docker, given?: Store) {
  const config = testConfig({ RUNBOX_IMAGE: sandboxImageTag(), PORT: '0', ...env });
  const store = given ?? openSqlite(config.store.dataDir);
  const service = createService(config, engine, silentLog, store);
  const port = await service.start();
  return {
    ...service,
    url: `http://127.0.0.1:${port}`,
    store,
    close: async (graceMs = 0) => {
      await service.stop(graceMs);
      await store.close();
    },
  };
}

export async function runContainers(): Promise<string[]> {
  return (await docker.listByLabel(LABEL_RUN_ID)).map((c) => c.id);
}

/** Polls (bounded) until `check` holds; returns whether it did. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

/** The labelled containers of one server instance (any state). */
export async function instanceContainers(instanceId: string): Promise<string[]> {
  return (await docker.listByLabel(`${LABEL_INSTANCE}=${instanceId}`)).map((c) => c.id);
}

/** The engine's API itself, for what the service's narrow client has no call for (`top`). */
const engineApi = new Docker();

/**
 * The command lines of the processes running in a container, as the engine's `top` reports them; [] when
 * the container is stopped or gone (nothing of it runs).
 */
export async function containerProcesses(id: string): Promise<string[]> {
  try {
    const top = (await engineApi.getContainer(id).top()) as { Titles: string[]; Processes: string[][] };
    const cmd = top.Titles.indexOf('CMD');
    return top.Processes.map((p) => p[cmd]);
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 404 || status === 409) return [];
    throw err;
  }
}

/** Every process, in any labelled container, whose command line contains `token`, with its container. */
export async function labelledProcessesWith(token: string): Promise<{ container: string; cmd: string }[]> {
  const found: { container: string; cmd: string }[] = [];
  for (const c of await docker.listByLabel(LABEL_RUN_ID)) {
    if (c.state !== 'running') continue;
    for (const cmd of await containerProcesses(c.id)) if (cmd.includes(token)) found.push({ container: c.id, cmd });
  }
  return found;
}

/** Whether the sandboxed program (`python3 main.py`, not the launcher) is running in some container of an instance. */
export async function programRunning(instanceId: string): Promise<boolean> {
  for (const id of await instanceContainers(instanceId)) {
    if ((await containerProcesses(id)).some((cmd) => /(^|\s)main\.py(\s|$)/.test(cmd))) return true;
  }
  return false;
}

/**
 * Pids of this machine's processes whose command line contains `token`. With a local engine, container
 * processes are among them (it sees none of a remote engine's).
 */
export function hostProcessesWith(token: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (cmdline.includes(token)) pids.push(Number(entry));
  }
  return pids;
}
