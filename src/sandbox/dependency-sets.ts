/**
 * Dependency sets: the wheels one run needs from the wheelhouse, installed once into a Docker volume that
 * later runs with the same set mount read-only. The install is a sandbox container like a run's (same
 * limits, no network, its run slot's uid), running pip with no index on explicit wheel files.
 * - A set is named by its wheels' content hashes: a wheel replaced in the wheelhouse is a new set.
 * - Concurrent first uses of one set share one install.
 * - At most `maxSets` sets, and `maxBytes` of their wheels, are kept; the least recently used unused set goes.
 * - The volumes are this server's (named by instance): removed when it stops, and those a predecessor
 *   left (a crash) when it starts.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { DockerClient } from '../docker/client';
import { ClientGoneError, InvalidRequestError } from '../errors';
import type { WheelhouseEntry } from '../packages/wheelhouse';
import type { Slot } from './admission';
import { containerSpec } from './container-spec';
import { runLabels } from './labels';
import { SANDBOX_UID } from './protocol';
import { reportingGraceMs } from './sandboxes';

const LABEL_SET = 'runbox.deps-set';
/** pip's messages kept for a failed install's answer. */
const MAX_INSTALL_OUTPUT = 16 * 1024;

interface SetEntry {
  volume: string;
  bytes: number;
  users: number;
  lastUsed: number;
  /** performance.now() when it was installed. */
  installedAt: number;
}

/** An install under way, and the runs waiting for it (its users once it is ready). */
interface Installing {
  done: Promise<SetEntry>;
  waiters: number;
  result?: SetEntry;
}

/** An install ended on its run's account (that run's deadline, its client leaving): another run may try again. */
class InstallAbandoned extends InvalidRequestError {}

/** `work`, or this run's own deadline or cancellation, whichever comes first. */
function withinOwn<T>(work: Promise<T>, deadline: number, cancel: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new InvalidRequestError('dependencies: installing them took longer than timeout_ms; give the run more time')),
      Math.max(1, deadline - Date.now()),
    );
    const onAbort = () => reject(new ClientGoneError('the client went away while its dependencies were installed'));
    if (cancel.aborted) onAbort();
    cancel.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      cancel.removeEventListener('abort', onAbort);
    });
  });
}

export interface PreparedSet {
  volume: string;
  /** Time spent installing for this run (0 when the set was ready). */
  installMs: number;
  /** Gives the set back; it may then be evicted. */
  release: () => void;
}

/** Docker's multiplexed attach stream: 8-byte frames headed [stream, 0, 0, 0, length]. */
function demultiplexed(chunks: Buffer[]): string {
  const all = Buffer.concat(chunks);
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= all.length;) {
    const length = all.readUInt32BE(at + 4);
    parts.push(all.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  return Buffer.concat(parts).toString('utf8');
}

export class DependencySets {
  private readonly ready = new Map<string, SetEntry>();
  private readonly installing = new Map<string, Installing>();
  private installed = 0;

  constructor(
    private readonly docker: DockerClient,
    private readonly config: Config,
    private readonly log: Logger,
    /** Counts the install container live while it exists (SandboxFactory.withLive), so the reaper spares it. */
    private readonly asLive: <T>(runId: string, work: () => Promise<T>) => Promise<T>,
  ) {}

  /** A set's identity: its wheels' names and content hashes. */
  static key(wheels: readonly WheelhouseEntry[]): string {
    const hash = createHash('sha256');
    for (const w of [...wheels].sort((a, b) => a.file.localeCompare(b.file))) hash.update(`${w.file}\0${w.sha256}\0`);
    return hash.digest('hex').slice(0, 24);
  }

  /** The prefix of a set's volumes (an attempt adds its own suffix). */
  private volumeName(key: string): string {
    return `runbox-deps-${this.config.instanceId}-${key}`;
  }

  /** Removes the sets a predecessor of this instance left (their state is unknown). */
  async sweep(): Promise<void> {
    for (const name of await this.docker.listVolumes(`${LABEL_SET}`)) {
      if (!name.startsWith(`runbox-deps-${this.config.instanceId}-`) || [...this.ready.values()].some((e) => e.volume === name)) continue;
      await this.docker.removeVolume(name).catch((err: Error) => this.log.warn({ err, volume: name }, 'could not remove a dependency set'));
    }
  }

  /**
   * The set's volume, installed first if it is not ready, within the run's slot and deadline. A run that
   * finds another's install under way waits for it within its own deadline; if that install gave up on its
   * own run's account (its deadline, its client leaving), this run installs the set itself.
   */
  async prepare(wheels: readonly WheelhouseEntry[], slot: Slot, deadline: number, cancel: AbortSignal): Promise<PreparedSet> {
    const key = DependencySets.key(wheels);
    const began = performance.now();
    let entry = this.ready.get(key);
    if (entry) entry.users += 1;
    while (!entry) {
      let install = this.installing.get(key);
      const own = !install;
      if (!install) {
        const started = this.install(key, wheels, slot, deadline, cancel);
        const record: Installing = { done: started.finally(() => this.installing.delete(key)), waiters: 0 };
        record.done.then(
          (result) => (record.result = result),
          () => undefined,
        );
        install = record;
        this.installing.set(key, install);
      }
      // Counted before the set is published, so no eviction can take it between its install and its use.
      install.waiters += 1;
      try {
        entry = await (own ? install.done : withinOwn(install.done, deadline, cancel));
      } catch (err) {
        install.waiters -= 1;
        // Counted as a user of a set that did get installed, just after this run stopped waiting.
        if (install.result) install.result.users -= 1;
        if (own || !(err instanceof InstallAbandoned)) throw err;
      }
    }
    const installMs = this.ready.get(key) === entry && entry.installedAt > began ? Math.round(performance.now() - began) : 0;
    entry.lastUsed = Date.now();
    // A new set may take the cache past its bounds: older unused sets go.
    if (installMs > 0) void this.evict();
    const used = entry;
    let released = false;
    return {
      volume: used.volume,
      installMs,
      release: () => {
        if (released) return;
        released = true;
        used.users -= 1;
        used.lastUsed = Date.now();
        void this.evict();
      },
    };
  }

  private async install(
    key: string,
    wheels: readonly WheelhouseEntry[],
    slot: Slot,
    deadline: number,
    cancel: AbortSignal,
  ): Promise<SetEntry> {
    const wheelhouse = this.config.wheelhouse;
    if (wheelhouse === undefined) throw new InvalidRequestError('dependencies: this server has no wheelhouse (RUNBOX_WHEELHOUSE)');
    // Each attempt its own volume: one that failed halfway is never reused.
    const volume = `${this.volumeName(key)}-${randomUUID().slice(0, 8)}`;
    await this.docker.createVolume(volume, { [LABEL_SET]: key });
    const runId = randomUUID();
    let installed = false;
    try {
      await this.asLive(runId, () => this.installIn(runId, volume, wheels, wheelhouse, slot, deadline, cancel));
      installed = true;
    } finally {
      // The install container is gone by now (installIn removes it), so its volume can go too.
      if (!installed)
        await this.docker.removeVolume(volume).catch((err: Error) => this.log.warn({ err, volume }, 'could not remove a failed set'));
    }
    const entry: SetEntry = {
      volume,
      bytes: wheels.reduce((sum, w) => sum + w.size, 0),
      users: this.installing.get(key)?.waiters ?? 1,
      lastUsed: Date.now(),
      installedAt: performance.now(),
    };
    this.ready.set(key, entry);
    this.installed += 1;
    this.log.info({ set: key, wheels: wheels.length }, 'dependency set installed');
    return entry;
  }

  private async installIn(
    runId: string,
    volume: string,
    wheels: readonly WheelhouseEntry[],
    wheelhouse: string,
    slot: Slot,
    deadline: number,
    cancel: AbortSignal,
  ): Promise<void> {
    const spec = containerSpec({
      image: this.config.image,
      runtime: this.config.runtime,
      uid: SANDBOX_UID + slot.index,
      memoryMb: this.config.limits.defaultMemoryMb,
      preload: [],
      cpus: this.config.limits.cpus,
      pidsLimit: this.config.limits.pidsLimit,
      workspaceMb: this.config.limits.workspaceMb,
      tmpMb: this.config.limits.tmpMb,
      labels: runLabels(runId, this.config.instanceId, deadline + reportingGraceMs(this.config)),
      depsVolume: volume,
      install: { wheelhouse, wheels: wheels.map((w) => w.file) },
    });
    let containerId: string | undefined;
    let stream: Duplex | undefined;
    let timer: NodeJS.Timeout | undefined;
    let kill: (() => void) | undefined;
    try {
      if (cancel.aborted) throw new InstallAbandoned('dependencies: the client went away before the install');
      containerId = await this.docker.create(spec);
      const id = containerId;
      stream = await this.docker.attach(id);
      const output: Buffer[] = [];
      let kept = 0;
      stream.on('data', (chunk: Buffer) => {
        if (kept < MAX_INSTALL_OUTPUT) output.push(chunk);
        kept += chunk.length;
      });
      stream.on('error', () => undefined);
      stream.end();
      await this.docker.start(id);
      kill = () => void this.docker.kill(id).catch(() => undefined);
      timer = setTimeout(kill, Math.max(1, deadline - Date.now()));
      cancel.addEventListener('abort', kill, { once: true });
      if (cancel.aborted) kill();
      const exitCode = await this.docker.wait(id);
      // pip's last words may still be on their way when the engine reports the exit.
      const attached = stream;
      await Promise.race([
        new Promise((resolve) => attached.once('close', resolve).once('end', resolve)),
        new Promise((resolve) => setTimeout(resolve, 500)),
      ]);
      if (cancel.aborted) throw new InstallAbandoned('dependencies: the install was cancelled');
      if (Date.now() >= deadline) {
        throw new InstallAbandoned('dependencies: installing them took longer than timeout_ms; give the run more time');
      }
      if (exitCode !== 0) {
        const said = demultiplexed(output).trim().split('\n').slice(-5).join(' ').slice(0, 500);
        throw new InvalidRequestError(
          `dependencies: pip could not install ${wheels.map((w) => w.file).join(', ')} (exit ${exitCode}): ${said}`,
        );
      }
    } finally {
      clearTimeout(timer);
      if (kill) cancel.removeEventListener('abort', kill);
      stream?.destroy();
      if (containerId !== undefined) {
        await this.docker.remove(containerId).catch((err: Error) => this.log.warn({ err }, 'install container removal failed'));
      }
    }
  }

  /** Removes every set (the server is stopping and its runs have ended): a cache is not kept across restarts. */
  async clear(): Promise<void> {
    const volumes = [...this.ready.values()].map((e) => e.volume);
    this.ready.clear();
    await Promise.all(
      volumes.map((volume) =>
        this.docker.removeVolume(volume).catch((err: Error) => this.log.warn({ err, volume }, 'could not remove a dependency set')),
      ),
    );
  }

  /** Drops the least recently used unused sets while over the count or size bound. */
  private async evict(): Promise<void> {
    const { maxSets, maxBytes } = this.config.depsCache;
    const total = () => [...this.ready.values()].reduce((sum, e) => sum + e.bytes, 0);
    const idle = [...this.ready.entries()].filter(([, e]) => e.users === 0).sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [key, entry] of idle) {
      if (this.ready.size <= maxSets && total() <= maxBytes) break;
      this.ready.delete(key);
      // A run's container may still be being removed: the volume goes once it is free, or at the next sweep.
      await this.docker
        .removeVolume(entry.volume)
        .catch((err: Error) => this.log.warn({ err, volume: entry.volume }, 'could not evict a dependency set'));
    }
  }

  get size(): number {
    return this.ready.size;
  }

  /** Sets installed since start (a set shared by concurrent first uses counts once). */
  get installs(): number {
    return this.installed;
  }
}
