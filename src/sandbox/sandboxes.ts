/**
 * Sandboxes: containers created, attached and started for exactly one run each, then removed. This module
 * owns their lifecycle and the set of live ones; the runner and the warm pool both get them from here, and
 * it calls back into neither (a freed slot is announced by Admission).
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { DockerClient } from '../docker/client';
import type { Slot } from './admission';
import { containerSpec } from './container-spec';
import { InFlight } from './in-flight';
import type { MemberKind } from './preload';
import { runLabels } from './labels';
import { SANDBOX_UID } from './protocol';

/** A started container whose launcher waits for its job on stdin; it holds one admission slot. */
export interface Sandbox {
  runId: string;
  containerId: string;
  stream: Duplex;
  memoryMb: number;
  kind: MemberKind;
  slot: Slot;
  /** The engine's `wait`, asked as soon as the container started: resolves with the exit code. */
  exit: Promise<number>;
  /** Abandons `exit` (the engine stopped answering). */
  abandonWait: AbortController;
}

/** What happens around a sandbox's end besides its removal. */
export interface DiscardOptions {
  /** The slot stays taken until this settles too (a result not yet delivered, for a key with no share to hold it). */
  holdSlotUntil?: Promise<unknown>;
  /** Called once the container is removed (the dependency set the run used may then go). */
  afterRemoval?: () => void;
}

/** Margin on top of the longest a run can take to be reported, before a reaper may treat it as abandoned. */
const DEADLINE_MARGIN_MS = 60_000;

/** How long after its deadline a run may still take to be reported: the kill's grace and two engine calls. */
export function reportingGraceMs(config: Config): number {
  return config.killGraceMs + 2 * config.dockerCallTimeoutMs;
}

export interface PrepareOptions {
  /** preloaded: the launcher imports the configured modules while it waits (plain by default). */
  kind?: MemberKind;
  /** The slot stays taken until this settles too (the HTTP response's delivery). */
  holdSlotUntil?: Promise<unknown>;
}

export class SandboxFactory {
  /** Run ids whose containers exist or are being created: the reaper leaves these alone. */
  private readonly live = new Set<string>();
  /** Creations and removals in flight: what settle() waits for. */
  private readonly pending = new InFlight();

  constructor(
    private readonly docker: DockerClient,
    private readonly config: Config,
    private readonly log: Logger,
    /** The dependency set volume, mounted read-only into every sandbox (none without a wheelhouse). */
    private readonly depsVolume?: string,
  ) {}

  isLive(runId: string): boolean {
    return this.live.has(runId);
  }

  get liveCount(): number {
    return this.live.size;
  }

  /**
   * Runs `work` with `runId` counted live, for a container made outside this factory (a dependency set's
   * install), so the reaper leaves it alone until `work` has removed it.
   */
  async withLive<T>(runId: string, work: () => Promise<T>): Promise<T> {
    this.live.add(runId);
    try {
      return await work();
    } finally {
      this.live.delete(runId);
    }
  }

  /**
   * Creates, attaches and starts a container holding `slot`, labelled to be reaped after `deadline`; on
   * failure nothing is left behind and the slot is freed (once `holdSlotUntil` settles too).
   */
  prepare(memoryMb: number, slot: Slot, deadline: number, options: PrepareOptions = {}): Promise<Sandbox> {
    return this.pending.add(this.create(memoryMb, slot, deadline, options));
  }

  /** Ends a sandbox, used or not: its stream closed, its container removed, its slot freed. */
  discard(sandbox: Sandbox, { holdSlotUntil, afterRemoval }: DiscardOptions = {}): void {
    sandbox.stream.destroy();
    sandbox.abandonWait.abort();
    this.dispose(sandbox.runId, sandbox.containerId, sandbox.slot, holdSlotUntil, afterRemoval);
  }

  /** Resolves once no creation or removal is in flight. */
  settle(): Promise<void> {
    return this.pending.settle();
  }

  private async create(
    memoryMb: number,
    slot: Slot,
    deadline: number,
    { kind = 'plain', holdSlotUntil }: PrepareOptions,
  ): Promise<Sandbox> {
    const { config } = this;
    const runId = randomUUID();
    this.live.add(runId);
    const spec = containerSpec({
      image: config.image,
      runtime: config.runtime,
      // Concurrent runs never share a uid, so per-uid kernel limits (inotify, pipe buffers) are each run's own.
      uid: SANDBOX_UID + slot.index,
      memoryMb,
      preload: kind === 'preloaded' ? config.preload : [],
      cpus: config.limits.cpus,
      pidsLimit: config.limits.pidsLimit,
      workspaceMb: config.limits.workspaceMb,
      tmpMb: config.limits.tmpMb,
      labels: runLabels(runId, config.instanceId, deadline + reportingGraceMs(config) + DEADLINE_MARGIN_MS),
      depsVolume: this.depsVolume,
    });
    let containerId: string | undefined;
    let stream: Duplex | undefined;
    try {
      containerId = await this.docker.create(spec);
      // Attach before start, so not a byte of output is missed.
      stream = await this.docker.attach(containerId);
      // An idle pool member's connection can drop at any time; that must not become an uncaught 'error'.
      stream.on('error', (err: Error) => this.log.debug({ runId, err }, 'sandbox stream error'));
      await this.docker.start(containerId);
      const abandonWait = new AbortController();
      const exit = this.docker.wait(containerId, abandonWait.signal);
      exit.catch(() => undefined); // observed by the run; a pool member may be discarded unused
      return { runId, containerId, stream, memoryMb, kind, slot, exit, abandonWait };
    } catch (err) {
      stream?.destroy();
      this.dispose(runId, containerId, slot, holdSlotUntil);
      throw err;
    }
  }

  /**
   * Removes the container off the response path, then frees its slot (once `holdSlotUntil` settles too), so
   * live containers never exceed the maximum. A removal that fails (engine gone) still frees the slot; the
   * reaper finds the container later. settle() waits for the removal, not for the hold.
   */
  private dispose(
    runId: string,
    containerId: string | undefined,
    slot: Slot,
    holdSlotUntil?: Promise<unknown>,
    afterRemoval?: () => void,
  ): void {
    const removal = containerId === undefined ? Promise.resolve() : this.docker.remove(containerId);
    void this.pending.add(
      removal
        .catch((err: Error) => this.log.error({ runId, containerId, err }, 'container removal failed'))
        .finally(() => {
          this.live.delete(runId);
          afterRemoval?.();
          if (holdSlotUntil) void holdSlotUntil.then(slot.release, slot.release);
          else slot.release();
        }),
    );
  }
}
