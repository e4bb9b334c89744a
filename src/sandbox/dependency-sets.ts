/**
 * Dependency sets: the wheels one run needs from the wheelhouse, installed once into a folder of this
 * server's set volume. Every sandbox mounts that volume read-only, warm pool members included, so a run whose
 * set is installed takes any warm member and is told its set's folder in its job.
 * - The volume's root is the installer's (uid 10000, mode 0711): a run can enter the folder it was given
 *   but cannot list the others, and nothing a run does can write any of them.
 * - An install is a sandbox container like a run's (same limits, no network) running the image's
 *   install.py: pip with no index on explicit wheel files, as the installer user.
 * - A set is named by its tenant (API key) and its wheels' content hashes: a wheel replaced in the wheelhouse
 *   is a new set, and no key can tell from a run's install_ms or latency what another key installed.
 * - Concurrent first uses of one set share one install.
 * - An install is part of the run that made it: if it fails, that run's error carries what it spent
 *   (InstallSpentError), so the run is counted and recorded all the same.
 * - At most `maxSets` sets, and `maxBytes` of them on disk, are kept; the least recently used set not in use
 *   goes. Its folder, like that of a failed install, is deleted by the next install.
 * - The volume is this server's (named by instance and start): removed when it stops, and those a
 *   predecessor left (a crash) when it starts.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DependencySetsConfig } from '../config';
import type { DockerClient } from '../docker/client';
import { ClientGoneError, InvalidRequestError } from '../errors';
import { NO_WHEELHOUSE } from '../packages/resolve';
import type { WheelhouseEntry } from '../packages/wheelhouse';
import type { Slot } from './admission';
import { DEPS_PATH } from './container-spec';
import { CappedBuffer, FrameDemuxer } from './run-output';
import type { SandboxFactory } from './sandboxes';

const LABEL_SET_VOLUME = 'runbox.deps-volume';
/** pip's messages kept for a failed install's answer. */
const MAX_INSTALL_OUTPUT = 16 * 1024;
/** install.py's last line on success. */
const SET_BYTES = /^runbox-set-bytes=(\d+)$/m;

interface SetEntry {
  /** Its folder in the set volume. */
  folder: string;
  /** On disk, as install.py measured it. */
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

/**
 * A run's own install failed (pip, its deadline, its client leaving, the engine): `original` is the answer,
 * and the install container it spent (`installId`, `durationMs`) is accounted as the run.
 */
export class InstallSpentError extends Error {
  constructor(
    readonly original: Error,
    readonly installId: string,
    readonly durationMs: number,
  ) {
    super(original.message);
  }
}

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
  /** The set's folder as the sandbox sees it: the program's PYTHONPATH. */
  path: string;
  /** Time spent installing for this run (0 when the set was ready). */
  installMs: number;
  /** Gives the set back, once no container of the run is left; it may then be evicted. */
  release: () => void;
}

export class DependencySets {
  private readonly ready = new Map<string, SetEntry>();
  private readonly installing = new Map<string, Installing>();
  /** Folders to delete at the next install: evicted sets, and installs that failed or were cut short. */
  private garbage: string[] = [];
  private installed = 0;

  constructor(
    private readonly docker: DockerClient,
    private readonly config: DependencySetsConfig,
    private readonly log: Logger,
    /** Where install containers come from: the one container lifecycle, the runs' own. */
    private readonly sandboxes: SandboxFactory,
    /** The set volume every sandbox mounts (volumeName()); none without a wheelhouse. */
    readonly volume: string | undefined,
  ) {}

  /** A set's identity: its tenant, and its wheels' names and content hashes. */
  static key(wheels: readonly WheelhouseEntry[], tenant = ''): string {
    const hash = createHash('sha256');
    hash.update(`${tenant}\0`);
    for (const w of [...wheels].sort((a, b) => a.file.localeCompare(b.file))) hash.update(`${w.file}\0${w.sha256}\0`);
    return hash.digest('hex').slice(0, 24);
  }

  /** A new set volume's name for this server: its instance, and this start (a predecessor's is never reused). */
  static volumeName(instanceId: string): string {
    return `runbox-deps-${instanceId}-${randomBytes(4).toString('hex')}`;
  }

  /**
   * Removes the set volumes a predecessor of this instance left (their state is unknown), then creates this
   * server's. Were that to fail, the engine creates the volume with the first container that mounts it.
   */
  async open(): Promise<void> {
    if (this.volume === undefined) return;
    // By label value, not name prefix: instance "a" must not take instance "a-b"'s volume for its own.
    for (const name of await this.docker.listVolumes(`${LABEL_SET_VOLUME}=${this.config.instanceId}`)) {
      if (name === this.volume) continue;
      await this.docker.removeVolume(name).catch((err: Error) => this.log.warn({ err, volume: name }, 'could not remove a set volume'));
    }
    await this.docker.createVolume(this.volume, { [LABEL_SET_VOLUME]: this.config.instanceId });
  }

  /** The tenant's set, counted as used, if it is installed: no slot or container needed. */
  take(wheels: readonly WheelhouseEntry[], tenant = ''): PreparedSet | undefined {
    const entry = this.ready.get(DependencySets.key(wheels, tenant));
    if (!entry) return undefined;
    entry.users += 1;
    return this.handOut(entry, 0);
  }

  /**
   * The set, installed first if it is not ready, within the run's deadline, in a container made under the
   * run's `slot` (which stays the run's: the install gives it back to no one). A run that finds
   * another's install under way waits for it within its own deadline; if that install gave up on its own
   * run's account (its deadline, its client leaving), this run installs the set itself.
   */
  async prepare(wheels: readonly WheelhouseEntry[], slot: Slot, deadline: number, cancel: AbortSignal, tenant = ''): Promise<PreparedSet> {
    const { wheelhouse } = this.config;
    if (wheelhouse === undefined || this.volume === undefined) {
      throw new InvalidRequestError(`dependencies: ${NO_WHEELHOUSE}`);
    }
    const key = DependencySets.key(wheels, tenant);
    const began = performance.now();
    let entry = this.ready.get(key);
    if (entry) entry.users += 1;
    while (!entry) {
      let install = this.installing.get(key);
      const own = !install;
      const installBegan = performance.now();
      const installId = randomUUID();
      if (!install) {
        const started = this.install(installId, key, wheels, wheelhouse, slot, deadline, cancel);
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
        if (own) throw new InstallSpentError(err as Error, installId, Math.round(performance.now() - installBegan));
        if (!(err instanceof InstallAbandoned)) throw err;
      }
    }
    const installMs = this.ready.get(key) === entry && entry.installedAt > began ? Math.round(performance.now() - began) : 0;
    // A new set may take the cache past its bounds: older unused sets go.
    if (installMs > 0) this.evict();
    return this.handOut(entry, installMs);
  }

  private handOut(entry: SetEntry, installMs: number): PreparedSet {
    entry.lastUsed = Date.now();
    let released = false;
    return {
      path: `${DEPS_PATH}/${entry.folder}`,
      installMs,
      release: () => {
        if (released) return;
        released = true;
        entry.users -= 1;
        entry.lastUsed = Date.now();
        this.evict();
      },
    };
  }

  private async install(
    installId: string,
    key: string,
    wheels: readonly WheelhouseEntry[],
    wheelhouse: string,
    slot: Slot,
    deadline: number,
    cancel: AbortSignal,
  ): Promise<SetEntry> {
    // Each attempt its own folder, named beyond guessing: one that failed halfway is never reused, and a run
    // finds no set but its own.
    const folder = `${key.slice(0, 16)}-${randomBytes(12).toString('hex')}`;
    const remove = this.garbage;
    this.garbage = [];
    let bytes: number;
    try {
      bytes = await this.installIn(installId, { wheelhouse, wheels: wheels.map((w) => w.file), folder, remove }, slot, deadline, cancel);
    } catch (err) {
      // Whether it got as far as deleting them is unknown: the next install tries again.
      this.garbage.push(...remove, folder);
      throw err;
    }
    const entry: SetEntry = {
      folder,
      bytes,
      users: this.installing.get(key)?.waiters ?? 1,
      lastUsed: Date.now(),
      installedAt: performance.now(),
    };
    this.ready.set(key, entry);
    this.installed += 1;
    this.log.info({ set: key, wheels: wheels.length, bytes }, 'dependency set installed');
    return entry;
  }

  /**
   * Runs install.py in a sandbox of its own under the run's slot, removed before this returns (so the run's
   * own container never coexists with it); resolves with the set's size.
   */
  private async installIn(
    installId: string,
    install: { wheelhouse: string; wheels: readonly string[]; folder: string; remove: readonly string[] },
    slot: Slot,
    deadline: number,
    cancel: AbortSignal,
  ): Promise<number> {
    if (cancel.aborted) throw new InstallAbandoned('dependencies: the client went away before the install');
    // The run's slot, lent: removing the install's container must not free it.
    const lent: Slot = { index: slot.index, release: () => undefined };
    const sandbox = await this.sandboxes.prepare(this.config.limits.defaultMemoryMb, lent, deadline, { install, runId: installId });
    try {
      const stdout = new CappedBuffer(MAX_INSTALL_OUTPUT);
      const both = new CappedBuffer(MAX_INSTALL_OUTPUT);
      const frames = new FrameDemuxer((stream, chunk) => {
        if (stream === 1) stdout.push(chunk);
        both.push(chunk);
      });
      const end = await this.sandboxes.drive(sandbox, {
        input: Buffer.alloc(0),
        timeoutMs: deadline - Date.now(),
        stop: cancel,
        onOutput: (chunk) => frames.write(chunk),
      });
      if (cancel.aborted) throw new InstallAbandoned('dependencies: the install was cancelled');
      if (end.timedOut || Date.now() >= deadline) {
        throw new InstallAbandoned('dependencies: installing them took longer than timeout_ms; give the run more time');
      }
      const bytes = SET_BYTES.exec(stdout.bytes().toString('utf8'));
      if (end.exitCode !== 0 || !bytes) {
        const words = both.bytes().toString('utf8').trim().split('\n').slice(-5).join(' ').slice(0, 500);
        throw new InvalidRequestError(`dependencies: pip could not install ${install.wheels.join(', ')} (exit ${end.exitCode}): ${words}`);
      }
      return Number(bytes[1]);
    } finally {
      await this.sandboxes.discard(sandbox);
    }
  }

  /** Removes the set volume (the server is stopping and every container is gone): a cache is not kept across restarts. */
  async clear(): Promise<void> {
    this.ready.clear();
    this.garbage = [];
    if (this.volume === undefined) return;
    await this.docker
      .removeVolume(this.volume)
      .catch((err: Error) => this.log.warn({ err, volume: this.volume }, 'could not remove the set volume'));
  }

  /** Drops the least recently used unused sets while over the count or size bound; the next install deletes them. */
  private evict(): void {
    const { maxSets, maxBytes } = this.config.depsCache;
    let total = [...this.ready.values()].reduce((sum, e) => sum + e.bytes, 0);
    const idle = [...this.ready.entries()].filter(([, e]) => e.users === 0).sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [key, entry] of idle) {
      if (this.ready.size <= maxSets && total <= maxBytes) break;
      this.ready.delete(key);
      total -= entry.bytes;
      this.garbage.push(entry.folder);
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
