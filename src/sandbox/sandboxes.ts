/**
 * Sandboxes: the one container lifecycle. Every container that runs anything of a user's (a run, or the
 * install of its dependencies) is created, attached and started here (prepare), driven to its end against
 * its deadline here (drive), and removed here (discard). This module owns the set of live ones; the runner,
 * the warm pool and the dependency sets all get them from here, and it calls back into none of them (a freed
 * slot is announced by Admission).
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ContainerConfig } from '../config';
import type { DockerClient } from '../docker/client';
import { EngineUnavailableError } from '../errors';
import type { Slot } from './admission';
import { containerSpec, relaysOutput, type SandboxSettings } from './container-spec';
import { InFlight } from './in-flight';
import type { MemberKind } from './preload';
import { runLabels } from './labels';
import type { PhaseClock } from './phases';
import { INSTALLER_UID, READY_SIGNAL, SANDBOX_UID } from './protocol';

/** A started container whose launcher waits for its job on stdin; it holds one admission slot. */
export interface Sandbox {
  runId: string;
  containerId: string;
  stream: Duplex;
  memoryMb: number;
  kind: MemberKind;
  slot: Slot;
  /** The deadline its reaper label allows for (epoch ms): no run in it may go on past this. */
  runBy: number;
  /** The engine's `wait`, asked as soon as the container started: resolves with the exit code. */
  exit: Promise<number>;
  /** Abandons `exit` (the engine stopped answering). */
  abandonWait: AbortController;
  /**
   * Resolves once the launcher has said it is ready (its interpreter up, its preload done); rejects if the
   * container's stream ends first. An install container is ready once started.
   */
  ready: Promise<void>;
  /** Whether `ready` has resolved. */
  isReady: () => boolean;
  /** What the container wrote before its run (the ready signal), for the run's output; keeping it stops here. */
  takeEarlyOutput: () => Buffer[];
}

/** More than the ready signal is never expected before a job; beyond this, early output is dropped. */
const EARLY_OUTPUT_MAX_BYTES = 64 * 1024;

/**
 * Listens to a started container's stream until its run: keeps what comes (the ready signal, framed) for the
 * run's output, and resolves `ready` once the signal has gone by.
 */
function watchUntilRun(stream: Duplex): Pick<Sandbox, 'ready' | 'isReady' | 'takeEarlyOutput'> {
  const chunks: Buffer[] = [];
  let kept = 0;
  /** Until the run takes them, chunks are kept; after, only watched for the signal. */
  let keeping = true;
  let seen = Buffer.alloc(0);
  let onData!: (chunk: Buffer) => void;
  let onClose!: () => void;
  let found = false;
  const ready = new Promise<void>((resolve, reject) => {
    onData = (chunk) => {
      if (keeping && kept + chunk.length <= EARLY_OUTPUT_MAX_BYTES) {
        chunks.push(chunk);
        kept += chunk.length;
      }
      if (found) return void (keeping || stream.off('data', onData));
      // Written in one write, the signal is in one frame's payload; it may straddle two chunks.
      seen = Buffer.concat([seen, chunk]);
      if (seen.includes(READY_SIGNAL)) {
        found = true;
        if (!keeping) stream.off('data', onData);
        return resolve();
      }
      seen = seen.subarray(Math.max(0, seen.length - READY_SIGNAL.length + 1));
    };
    onClose = () => reject(new EngineUnavailableError('the sandbox ended before its launcher was ready'));
    stream.on('data', onData);
    stream.once('close', onClose);
  });
  ready.catch(() => undefined); // observed by whoever waits for it; an unused member may just go
  return {
    ready,
    isReady: () => found,
    takeEarlyOutput: () => {
      keeping = false;
      // A launcher not ready yet is still watched for its signal (the run's clock starts then).
      if (found) stream.off('data', onData);
      return chunks.splice(0);
    },
  };
}

/** What happens around a sandbox's end besides its removal. */
export interface DiscardOptions {
  /** The slot stays taken until this settles too (a result not yet delivered, for a key with no share to hold it). */
  holdSlotUntil?: Promise<unknown>;
  /** Called once the container is removed (the dependency set the run used may then go). */
  afterRemoval?: () => void;
}

/** How a container's run ended, as this server saw it (never as the container claims). */
export interface ContainerEnd {
  /** What the engine's `wait` reported. */
  exitCode: number;
  /** Its deadline passed before the engine reported its exit: this server killed it. */
  timedOut: boolean;
  /** The attach stream was ended by the engine, not broken or cut off after the kill grace (or the sandbox said it was done). */
  streamEndedCleanly: boolean;
  /** Who said the run was over: the sandbox's launcher (`finished`), or the engine's `wait`. */
  endedBy: 'launcher' | 'engine';
  /** From its input handed in to its exit reported; a run killed at its timeout reports at least that. */
  durationMs: number;
}

export interface DriveOptions {
  /** Written to the container's stdin, which is then closed. */
  input: Buffer;
  /** How long it may run from the moment its input is handed in (never past the sandbox's `runBy`). */
  timeoutMs: number;
  /** Kills it now: its client left, its output went over a limit, the server is stopping. */
  stop: AbortSignal;
  /** Every chunk of the engine's multiplexed attach stream, as it arrives. */
  onOutput: (chunk: Buffer) => void;
  /** The run's phases: `upload` ends as the input is handed in, `program` when the run is over. */
  clock?: PhaseClock;
  /**
   * Resolves with the exit status once the sandbox has said, by its protocol, that the run is over and all
   * its output is in: the run ends then, without waiting for the engine to report the container's exit.
   */
  finished?: Promise<number>;
}

/** The part of the kill grace a launcher relaying output gets at the deadline to drain it (at most a second). */
export function drainGraceMs(killGraceMs: number): number {
  return Math.min(1000, Math.floor(killGraceMs / 2));
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}

/** Resolves when the stream is over: true when it ended cleanly (the engine closed it), false when it broke. */
function streamClosed(stream: Duplex): Promise<boolean> {
  return new Promise((resolve) => {
    if (stream.readableEnded) return resolve(true);
    if (stream.destroyed) return resolve(false);
    stream.once('end', () => resolve(true));
    stream.once('close', () => resolve(false));
    stream.once('error', () => resolve(false));
  });
}

/** Margin on top of the longest a run can take to be reported, before a reaper may treat it as abandoned. */
const DEADLINE_MARGIN_MS = 60_000;

/** How long after its deadline a run may still take to be reported: the kill's grace and two engine calls. */
export function reportingGraceMs(config: Pick<ContainerConfig, 'killGraceMs' | 'dockerCallTimeoutMs'>): number {
  return config.killGraceMs + 2 * config.dockerCallTimeoutMs;
}

export interface PrepareOptions {
  /** preloaded: the launcher imports the configured modules while it waits (plain by default). */
  kind?: MemberKind;
  /** The slot stays taken until this settles too (the HTTP response's delivery). */
  holdSlotUntil?: Promise<unknown>;
  /**
   * Runs install.py instead of the launcher, as the installer user, with the set volume writable (a
   * dependency set's install, made under the slot of the run that needs it).
   */
  install?: SandboxSettings['install'];
  /** Its run id, when the caller named it before asking (an install, accounted as its run whatever happens). */
  runId?: string;
}

export class SandboxFactory {
  /** Run ids whose containers exist or are being created: the reaper leaves these alone. */
  private readonly live = new Set<string>();
  /** Creations and removals in flight: what settle() waits for. */
  private readonly pending = new InFlight();

  constructor(
    private readonly docker: DockerClient,
    private readonly config: ContainerConfig,
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
   * Creates, attaches and starts a container holding `slot`. Nothing runs in it past `deadline` (its
   * runBy), and its label lets a reaper remove it some time after. On failure nothing is left behind and the
   * slot is freed (once `holdSlotUntil` settles too).
   */
  prepare(memoryMb: number, slot: Slot, deadline: number, options: PrepareOptions = {}): Promise<Sandbox> {
    return this.pending.add(this.create(memoryMb, slot, deadline, options));
  }

  /**
   * Hands a prepared sandbox its input and follows it to its end: killed at its deadline (a launcher relaying
   * output gets SIGTERM first, to drain it) or when `stop` aborts. Every wait is bounded: the engine's `wait`
   * by the deadline and the reporting grace, and by one engine call once the stream has ended; the stream's
   * last bytes by the kill grace. Rejects with EngineUnavailableError when the engine stopped answering.
   */
  async drive(sandbox: Sandbox, { input, timeoutMs: asked, stop, onOutput, clock, finished }: DriveOptions): Promise<ContainerEnd> {
    const { config } = this;
    const { runId, containerId, stream, exit, abandonWait } = sandbox;
    clock?.lap('upload');
    // The program's time starts as it is handed its job, or, if its launcher is not ready yet (its interpreter
    // starting, its preload under way), once it is: queueing, making its sandbox and its interpreter's start
    // are not the program's. The job goes in at once either way, so nothing waits on a round trip.
    let started = performance.now();
    let timeoutMs = Math.max(1, Math.min(asked, sandbox.runBy - Date.now()));
    /** Aborts once the engine has reported the exit (or the wait was given up): every timer below stops. */
    const over = new AbortController();
    let exited = false;
    // Known the moment the engine reports it, so a program ending right at the deadline is not a timeout.
    void exit.then(
      () => (exited = true),
      () => undefined,
    );
    const warn = (err: Error) => this.log.warn({ runId, err }, 'kill failed');
    let killing: Promise<void> | undefined;
    const kill = () => {
      if (!exited) killing ??= this.docker.kill(containerId).catch(warn);
    };
    // A launcher that relays the program's output (under gVisor) may not have copied out all the program wrote
    // when the deadline comes, and SIGKILL would lose that. It gets SIGTERM first: it kills the program, copies
    // out what its pipes hold and exits. SIGKILL follows if it has not exited within its share of the kill
    // grace; the wait for the stream below gets the rest, so a timed-out run ends within the same bound.
    const drainMs = relaysOutput(config.runtime) ? drainGraceMs(config.killGraceMs) : 0;
    let timedOut = false;
    let drained = false;
    const atDeadline = (): void => {
      if (exited || over.signal.aborted) return;
      // A timer may fire a little early by this clock: the program gets every millisecond of its time.
      const early = started + timeoutMs - performance.now();
      if (early > 0) return void pause(Math.ceil(early), over.signal).then(atDeadline);
      timedOut = true;
      if (killing) return;
      if (drainMs === 0) return kill();
      drained = true;
      void this.docker.kill(containerId, 'SIGTERM').catch(warn);
      killing = Promise.race([exit.catch(() => undefined), pause(drainMs, over.signal)])
        .then(() => (exited ? undefined : this.docker.kill(containerId)))
        .catch(warn);
    };
    stop.addEventListener('abort', kill, { once: true });
    try {
      // What came before the run (the ready signal) first, then the rest as it comes: nothing in between.
      for (const chunk of sandbox.takeEarlyOutput()) onOutput(chunk);
      stream.on('data', onOutput);
      const closed = streamClosed(stream);
      // The engine ends the attach stream when the container stops, and answers `wait` at the same moment.
      // A `wait` whose connection died (engine gone) never settles, so it gets a bound once the stream ends.
      void closed.then(() => {
        if (!exited && !over.signal.aborted)
          void pause(config.dockerCallTimeoutMs, over.signal).then(() => over.signal.aborted || abandonWait.abort());
      });
      const arm = () => {
        // However the engine misbehaves, the container is given up on once it could no longer be reported in time.
        void pause(timeoutMs + reportingGraceMs(config), over.signal).then(() => over.signal.aborted || abandonWait.abort());
        void pause(timeoutMs, over.signal).then(atDeadline);
      };
      if (sandbox.isReady()) arm();
      else {
        // Until it is ready, the sandbox's own deadline bounds the wait (and a stream that ends is handled below).
        const readyBy = new AbortController();
        over.signal.addEventListener('abort', () => readyBy.abort(), { once: true });
        void pause(timeoutMs + reportingGraceMs(config), readyBy.signal).then(() => readyBy.signal.aborted || abandonWait.abort());
        sandbox.ready.then(
          () => {
            if (over.signal.aborted) return;
            readyBy.abort();
            // Waiting for its interpreter was part of getting a sandbox, not of the program.
            clock?.lap('acquire');
            started = performance.now();
            timeoutMs = Math.max(1, Math.min(asked, sandbox.runBy - Date.now()));
            arm();
          },
          () => undefined,
        );
      }
      if (stop.aborted) kill();
      // Half-closing our side closes the container's stdin once the input is through.
      if (input.length > 0) stream.end(input);
      else stream.end();
      let ended: { exitCode: number; endedBy: ContainerEnd['endedBy'] };
      try {
        const reported = exit.then((exitCode) => ({ exitCode, endedBy: 'engine' as const }));
        ended = await (finished
          ? Promise.race([reported, finished.then((exitCode) => ({ exitCode, endedBy: 'launcher' as const }))])
          : reported);
      } catch (err) {
        if (abandonWait.signal.aborted) throw new EngineUnavailableError('the Docker engine stopped answering during the run');
        throw err;
      } finally {
        over.abort();
      }
      const durationMs = Math.round(performance.now() - started);
      clock?.lap('program');
      const { exitCode, endedBy } = ended;
      if (endedBy === 'launcher') return { exitCode, timedOut, streamEndedCleanly: true, durationMs, endedBy };
      // The engine closes the stream once the container is gone; a stream that lingers is cut off.
      const grace = new AbortController();
      const streamEndedCleanly = await Promise.race([
        closed,
        pause(config.killGraceMs - (drained ? drainMs : 0), grace.signal).then(() => false),
      ]);
      grace.abort();
      return { exitCode, timedOut, streamEndedCleanly, durationMs, endedBy };
    } finally {
      stop.removeEventListener('abort', kill);
    }
  }

  /**
   * Ends a sandbox, used or not: its stream closed, its container removed, its slot freed. Resolves once the
   * container is removed (or its removal failed and was logged); never rejects.
   */
  discard(sandbox: Sandbox, { holdSlotUntil, afterRemoval }: DiscardOptions = {}): Promise<void> {
    sandbox.stream.destroy();
    sandbox.abandonWait.abort();
    return this.dispose(sandbox.runId, sandbox.containerId, sandbox.slot, holdSlotUntil, afterRemoval);
  }

  /** Resolves once no creation or removal is in flight. */
  settle(): Promise<void> {
    return this.pending.settle();
  }

  private async create(
    memoryMb: number,
    slot: Slot,
    deadline: number,
    { kind = 'plain', holdSlotUntil, install, runId = randomUUID() }: PrepareOptions,
  ): Promise<Sandbox> {
    const { config } = this;
    this.live.add(runId);
    const spec = containerSpec({
      image: config.image,
      runtime: config.runtime,
      // Concurrent runs never share a uid, so per-uid kernel limits (inotify, pipe buffers) are each run's own.
      uid: install ? INSTALLER_UID : SANDBOX_UID + slot.index,
      memoryMb,
      preload: kind === 'preloaded' && !install ? config.preload : [],
      cpus: config.limits.cpus,
      pidsLimit: config.limits.pidsLimit,
      workspaceMb: config.limits.workspaceMb,
      tmpMb: config.limits.tmpMb,
      labels: runLabels(runId, config.instanceId, deadline + reportingGraceMs(config) + DEADLINE_MARGIN_MS),
      depsVolume: this.depsVolume,
      install,
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
      const early = install ? { ready: Promise.resolve(), isReady: () => true, takeEarlyOutput: () => [] } : watchUntilRun(stream);
      return { runId, containerId, stream, memoryMb, kind, slot, runBy: deadline, exit, abandonWait, ...early };
    } catch (err) {
      stream?.destroy();
      void this.dispose(runId, containerId, slot, holdSlotUntil);
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
  ): Promise<void> {
    const removal = containerId === undefined ? Promise.resolve() : this.docker.remove(containerId);
    return this.pending.add(
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
