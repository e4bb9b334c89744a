import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createDockerClient, type DockerClient } from '../../src/docker/client';
import { sandboxImageTag } from '../../src/provision/image';
import { LABEL_INSTANCE, LABEL_RUN_ID } from '../../src/sandbox/labels';
import { createService } from '../../src/service';
import { openSqlite } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { silentLog } from './app';
import { testConfig } from './config';
import { isOurs } from './instance';
import { eventually } from './wait';

export { eventually };

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

/**
 * The run containers (any state) of this test run's servers: another run sharing the engine has its own,
 * which are none of this run's business.
 */
export async function runContainers(): Promise<string[]> {
  return (await docker.listByLabel(LABEL_RUN_ID)).filter((c) => isOurs(c.labels[LABEL_INSTANCE])).map((c) => c.id);
}

/** The labelled containers of one server instance (any state). */
export async function instanceContainers(instanceId: string): Promise<string[]> {
  return (await docker.listByLabel(`${LABEL_INSTANCE}=${instanceId}`)).map((c) => c.id);
}

/** The engine's API itself, for what the service's narrow client has no call for (`top`, events). */
const engineApi = new Docker();

/** One of the engine's container events. */
export interface ContainerEvent {
  /** create, start, die, destroy */
  action: string;
  id: string;
  /** When the engine says it happened, in ms since the epoch (the engine's clock, which is this host's). */
  at: number;
  labels: Record<string, string>;
}

/**
 * The engine's create, start, die and destroy events for the containers of one instance, in the engine's
 * order, from the call on. What happened is counted and ordered from them rather than sampled: a sample of
 * the container list misses a container that came and went between two samples.
 */
export async function watchInstance(instanceId: string) {
  const from = Date.now();
  const stream = await engineApi.getEvents({
    // Replayed from a little earlier, so nothing falls between the call and the subscription; what happened
    // before the call is dropped below.
    since: Math.floor(from / 1000) - 1,
    filters: { type: ['container'], event: ['create', 'start', 'die', 'destroy'], label: [`${LABEL_INSTANCE}=${instanceId}`] },
  });
  const events: ContainerEvent[] = [];
  const listeners = new Set<() => void>();
  let partial = '';
  stream.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines.filter((l) => l.trim() !== '')) {
      const event = JSON.parse(line) as { Action: string; Actor: { ID: string; Attributes?: Record<string, string> }; timeNano: number };
      if (event.timeNano / 1e6 < from) continue;
      events.push({ action: event.Action, id: event.Actor.ID, at: event.timeNano / 1e6, labels: event.Actor.Attributes ?? {} });
    }
    for (const listener of listeners) listener();
  });
  stream.on('error', () => undefined);
  return {
    events,
    /** The most containers of the instance there were at once: created and not yet destroyed. */
    peak(): number {
      let live = 0;
      let peak = 0;
      for (const { action } of events) {
        live += action === 'create' ? 1 : action === 'destroy' ? -1 : 0;
        peak = Math.max(peak, live);
      }
      return peak;
    },
    /** The first event, seen or still to come, that `match` accepts; rejects after `timeoutMs`. */
    next(match: (event: ContainerEvent) => boolean, timeoutMs = 30_000): Promise<ContainerEvent> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no such engine event within ${timeoutMs} ms; saw ${JSON.stringify(events.map((e) => e.action))}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    close(): void {
      (stream as unknown as { destroy(): void }).destroy();
    },
  };
}

/**
 * One column of the engine's `top` for a container; [] when the container is stopped or gone, or runs nothing
 * at this moment (a container between its start and its first process: the engine reports `Processes: null`).
 */
async function topColumn(id: string, column: string, psArgs?: string): Promise<string[]> {
  try {
    const top = (await engineApi.getContainer(id).top(psArgs === undefined ? {} : { ps_args: psArgs })) as {
      Titles: string[];
      Processes: string[][] | null;
    };
    const at = top.Titles.indexOf(column);
    return (top.Processes ?? []).map((p) => p[at]);
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 404 || status === 409) return [];
    throw err;
  }
}

/** The command lines of the processes running in a container, as the engine's `top` reports them. */
export const containerProcesses = (id: string): Promise<string[]> => topColumn(id, 'CMD');

/** The process names (comm) in a container: a preloaded interpreter that became the program is named for its entrypoint. */
const containerProcessNames = (id: string): Promise<string[]> => topColumn(id, 'COMMAND', '-o pid,comm');

/** Every process, in any labelled container, whose command line contains `token`, with its container. */
export async function labelledProcessesWith(token: string): Promise<{ container: string; cmd: string }[]> {
  const found: { container: string; cmd: string }[] = [];
  for (const c of await docker.listByLabel(LABEL_RUN_ID)) {
    if (c.state !== 'running') continue;
    for (const cmd of await containerProcesses(c.id)) if (cmd.includes(token)) found.push({ container: c.id, cmd });
  }
  return found;
}

/**
 * Whether the sandboxed program (main.py, not the launcher) is running in some container of an instance:
 * `python3 main.py`, or the preloaded interpreter once it has become the program.
 */
export async function programRunning(instanceId: string): Promise<boolean> {
  for (const id of await instanceContainers(instanceId)) {
    if ((await containerProcesses(id)).some((cmd) => /(^|\s)main\.py(\s|$)/.test(cmd))) return true;
    if ((await containerProcessNames(id)).includes('main.py')) return true;
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

/**
 * A container's processes as gVisor's own kernel lists them (their names). Under runsc the engine's `top`
 * is no use: it asks the runtime for the sandbox's pids, then shows the host processes that have those
 * numbers. The engine keeps its runc-compatible runtimes' state under this root.
 */
export function gvisorProcesses(containerId: string): string[] {
  let table: string;
  try {
    table = execFileSync('runsc', ['--root', '/run/docker/runtime-runc/moby', 'ps', containerId], { encoding: 'utf8', stdio: 'pipe' });
  } catch {
    return []; // no such sandbox (any more)
  }
  return table
    .trim()
    .split('\n')
    .slice(1)
    .map((row) => row.trim().split(/\s+/).slice(7).join(' '));
}

/** CPU seconds and throttled CFS periods of a container, as the host's cgroup counts them (v1 or v2). */
export interface CgroupCpu {
  cpu: number;
  throttled: number;
}

function cpuStatField(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** The host's count for a running container; undefined once it is gone (or on an engine not on this host). */
export function hostCgroupCpu(containerId: string): CgroupCpu | undefined {
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
  try {
    const v1Usage = read(`/sys/fs/cgroup/cpuacct/docker/${containerId}/cpuacct.usage`);
    const v1Stat = read(`/sys/fs/cgroup/cpu/docker/${containerId}/cpu.stat`);
    if (v1Usage !== undefined && v1Stat !== undefined) {
      return { cpu: Number(v1Usage) / 1e9, throttled: cpuStatField(v1Stat, 'nr_throttled') ?? 0 };
    }
    for (const dir of [`/sys/fs/cgroup/docker/${containerId}`, `/sys/fs/cgroup/system.slice/docker-${containerId}.scope`]) {
      const v2Stat = read(`${dir}/cpu.stat`);
      if (v2Stat !== undefined)
        return { cpu: (cpuStatField(v2Stat, 'usage_usec') ?? 0) / 1e6, throttled: cpuStatField(v2Stat, 'nr_throttled') ?? 0 };
    }
  } catch {
    // removed between the check and the read
  }
  return undefined;
}

/** CPU time a container got over a span of wall time, from two of the host's readings. */
export interface CpuSpan {
  container: string;
  wall: number;
  cpu: number;
  throttled: number;
}

/**
 * Samples the host's cgroup counts of every container of an instance until `background` settles; returns,
 * per container, what it got between its first and last samples (busiest first).
 */
export async function hostCpuWhile(instanceId: string, background: Promise<unknown>, everyMs = 100): Promise<CpuSpan[]> {
  let done = false;
  void background.then(
    () => (done = true),
    () => (done = true),
  );
  const samples = new Map<string, { first: CgroupCpu & { at: number }; last: CgroupCpu & { at: number } }>();
  while (!done) {
    for (const c of await docker.listByLabel(`${LABEL_INSTANCE}=${instanceId}`)) {
      if (c.state !== 'running') continue;
      const reading = hostCgroupCpu(c.id);
      if (reading === undefined) continue;
      const sample = { ...reading, at: performance.now() };
      const known = samples.get(c.id);
      samples.set(c.id, { first: known?.first ?? sample, last: sample });
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return [...samples.entries()]
    .map(([container, { first, last }]) => ({
      container,
      wall: (last.at - first.at) / 1000,
      cpu: last.cpu - first.cpu,
      throttled: last.throttled - first.throttled,
    }))
    .sort((a, b) => b.cpu - a.cpu);
}
