/** The run lifecycle: one fresh container per job, a deadline, bounded output, and removal whatever happens. */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { SandboxConfig } from '../config';
import type { DockerClient } from '../docker/client';
import { EngineUnavailableError, ShuttingDownError } from '../errors';
import type { Admission } from './admission';
import type { Artifact, ReportedUsage } from './artifacts';
import type { Encoded } from './encoding';
import { InFlight } from './in-flight';
import type { Job } from './job';
import { manifestFor, packJob } from './job-tar';
import { classify, EXIT_SIGKILL, outcomeMessage, type RunStatus } from './outcome';
import { WarmPool, type PoolPolicy } from './pool';
import { importScanner, PRELOAD_MIN_MEMORY_MB, wantsPreload } from './preload';
import { artifactCaps } from './protocol';
import { RunOutput, type LiveOutput } from './run-output';
import { SandboxFactory, type DiscardOptions, type Sandbox } from './sandboxes';
import { DependencySets, type PreparedSet } from './dependency-sets';
import type { PhaseClock } from './phases';
import type { WheelhouseEntry } from '../packages/wheelhouse';

export type { RunStatus };

/** CPU (user + system) and peak resident memory of the program and the children it waited for. */
export interface Usage {
  cpuMs: number;
  maxRssKb: number;
}

export interface RunResult {
  id: string;
  status: RunStatus;
  exitCode: number | null;
  stdout: Encoded;
  stderr: Encoded;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  oomKilled: boolean;
  durationMs: number;
  queuedMs: number;
  artifacts: Artifact[];
  artifactsTruncated: boolean;
  /** null when the service ended the run, or the figures the container reported were impossible. */
  usage: Usage | null;
  /** Time spent installing its dependencies from the wheelhouse (0 when none, or their set was ready). */
  installMs: number;
  /** Which limit stopped the run, for people (timeout, oom, output_limit); null otherwise. */
  message: string | null;
}

/** How a run is admitted: what it waits for and with, and until when its slot is held. */
export interface AdmitOptions {
  /** Aborts when the client goes away: the run is killed (or leaves the queue). */
  cancel?: AbortSignal;
  /** When the request arrived: it waits for a slot until RUNBOX_QUEUE_TIMEOUT_MS after (its timeout is the program's own). */
  receivedAt?: number;
  /** The run's phases, lapped as it goes through them (queue, acquire, install, upload, program, collect). */
  clock?: PhaseClock;
  /**
   * The run's slot stays taken until this settles as well as until its container is gone. The HTTP layer
   * passes its response's delivery when the run's key has no concurrency share of its own to hold it, so
   * results not yet delivered to slow clients count against capacity rather than being unbounded.
   */
  holdSlotUntil?: Promise<unknown>;
  /** Whose run this is (an API key's id): the queue is fair between tenants. */
  tenant?: string;
  /** Wheels from the wheelhouse the run needs: installed (or reused) as a set, mounted read-only. */
  wheels?: readonly WheelhouseEntry[];
}

export interface RunOptions extends AdmitOptions {
  /** Follows the run as it happens (streaming responses); the result is the same without it. */
  live?: LiveRun;
}

/**
 * A run that has its sandbox and has not started: the caller records it (the audit trail), then starts it,
 * or gives it up if it cannot.
 */
export interface AdmittedRun {
  readonly id: string;
  /** Time it waited for a slot and a sandbox, its dependency install excluded. */
  readonly queuedMs: number;
  /** Time spent installing its dependencies for it (0 when none, or their set was ready). */
  readonly installMs: number;
  /** Hands the job to the sandbox and runs it to its end; once. */
  start(live?: LiveRun): Promise<RunResult>;
  /** Gives the sandbox up unused: its container removed, its slot freed. */
  abandon(): void;
}

/** What a live run reports before its result: that it started (it left the queue), and its output as it comes. */
export interface LiveRun extends LiveOutput {
  started(run: { id: string; queuedMs: number }): void;
}

/** Appended to stderr when the program broke the launcher's protocol (see SECURITY.md, result integrity). */
const PROTOCOL_BROKEN_NOTE =
  '\nrunbox: the program interfered with the sandbox launcher (its output ended without the end marker); artifacts are not returned\n';

/** Appended to stderr when the run's container was removed by something other than the run's own ending. */
const REMOVED_UNDER_RUN_NOTE =
  '\nrunbox: the sandbox was removed while the program ran, by something other than this run (an operator, or another server ' +
  'using the same RUNBOX_INSTANCE_ID); the program did not finish and its exit status is unknown\n';

/**
 * What a container made on the request path allows, past the program's timeout, for what comes between its
 * start and the job handed in (the audit record, packing the job): its label's deadline, which a run never
 * outlasts, is counted from its creation.
 */
const HANDOFF_ALLOWANCE_MS = 30_000;

/** A promise that never settles: a sandbox's end that only the engine can report. */
const NEVER = new Promise<never>(() => undefined);

/** Accounting granularity and clock skew between the kernel's figures and the server's wall clock. */
const USAGE_SLACK_MS = 1000;
/** ru_maxrss counts shared library pages too, which may be charged to another container's memory. */
const USAGE_SLACK_KB = 64 * 1024;

/**
 * The launcher's usage figures are the container's word: kept only if they are possible for this run
 * (no more CPU than its quota over its wall time, no more memory than its limit).
 */
export function boundedUsage(reported: ReportedUsage | undefined, durationMs: number, cpus: number, memoryMb: number): Usage | null {
  if (reported === undefined) return null;
  const { cpuMs, maxRssKb } = reported;
  const possible =
    cpuMs >= 0 && cpuMs <= durationMs * cpus + USAGE_SLACK_MS && maxRssKb >= 0 && maxRssKb <= memoryMb * 1024 + USAGE_SLACK_KB;
  return possible ? { cpuMs, maxRssKb } : null;
}

/** Members are made at the default memory size: too small for the preloaded runtime turns it off. */
export function poolPolicy(config: Pick<SandboxConfig, 'preload' | 'preloadPolicy' | 'limits'>): PoolPolicy {
  if (config.preload.length === 0 || config.limits.defaultMemoryMb < PRELOAD_MIN_MEMORY_MB) return 'off';
  return config.preloadPolicy;
}

/**
 * Runs jobs: admits each (a warm pool member, or a slot and a fresh sandbox), runs it against its deadline,
 * and discards the sandbox. It owns the warm pool's lifecycle; sandboxes come from the SandboxFactory.
 */
export class Runner {
  /** Runs in progress: what settle() waits for, with the factory's creations and removals. */
  private readonly runs = new InFlight();
  private readonly stopping = new AbortController();
  private readonly sandboxes: SandboxFactory;
  /** Whether a job's sources import one of the preloaded modules. */
  private readonly importsPreloaded: (source: string) => boolean;
  /** The effective preload policy: what the pool keeps, and so what a run may ask it for. */
  private readonly policy: PoolPolicy;
  /** Public to observe (its size), not to drive: start() and stop() do that. */
  readonly pool: WarmPool;
  /** Installed dependency sets; public to observe. */
  readonly dependencySets: DependencySets;

  constructor(
    private readonly docker: DockerClient,
    private readonly config: SandboxConfig,
    private readonly admission: Admission,
    private readonly log: Logger,
  ) {
    // Every sandbox mounts the set volume, so a warm member can serve any installed set.
    const depsVolume = config.wheelhouse !== undefined ? DependencySets.volumeName(config.instanceId) : undefined;
    const sandboxes = new SandboxFactory(docker, config, log, depsVolume);
    this.sandboxes = sandboxes;
    this.dependencySets = new DependencySets(docker, config, log, sandboxes, depsVolume);
    this.importsPreloaded = importScanner(config.preload);
    this.policy = poolPolicy(config);
    this.pool = new WarmPool(
      {
        size: config.poolSize,
        memoryMb: config.limits.defaultMemoryMb,
        maxAgeMs: config.poolMaxAgeMs,
        maxRunMs: config.limits.maxTimeoutMs,
        policy: this.policy,
      },
      admission,
      {
        prepare: (memoryMb, slot, deadline, kind) => sandboxes.prepare(memoryMb, slot, deadline, { kind }),
        discard: (sandbox) => void sandboxes.discard(sandbox),
        imageId: () => docker.imageId(config.image),
      },
      log,
    );
  }

  isLive(runId: string): boolean {
    return this.sandboxes.isLive(runId);
  }

  get liveCount(): number {
    return this.sandboxes.liveCount;
  }

  /** Starts the warm pool (if any). */
  start(): void {
    this.pool.start();
  }

  /**
   * Graceful stop: the pool is emptied at once, runs in progress get `graceMs` to finish, then the rest are
   * killed; resolves once every container is removed.
   */
  async stop(graceMs: number): Promise<void> {
    this.pool.stop();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => (timer = setTimeout(resolve, graceMs, 'grace')));
    const outcome = await Promise.race([this.settle().then(() => 'settled' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'grace') {
      this.log.warn({ live: this.liveCount }, 'shutdown grace period over: stopping the remaining runs');
      this.stopping.abort(new ShuttingDownError('the server is shutting down; the run was stopped before it started'));
    }
    await this.settle();
    await this.dependencySets.clear();
  }

  /** Runs a job to completion in a fresh container: admit, then start. */
  async run(job: Job, { live, ...options }: RunOptions = {}): Promise<RunResult> {
    return (await this.admit(job, options)).start(live);
  }

  /**
   * Waits for the job's sandbox (a warm member, or a slot and a fresh container, with its dependencies
   * installed first): the run is admitted, not started. A graceful stop waits for it until it is started
   * and ended, or abandoned.
   */
  admit(job: Job, options: AdmitOptions = {}): Promise<AdmittedRun> {
    let settle!: () => void;
    void this.runs.add(new Promise<void>((resolve) => (settle = resolve)));
    return this.admitSandbox(job, options).then(
      ({ sandbox, set, queuedMs, stop }) => {
        const installMs = set?.installMs ?? 0;
        const discard = { holdSlotUntil: options.holdSlotUntil, afterRemoval: set?.release };
        let used = false;
        return {
          id: sandbox.runId,
          queuedMs,
          installMs,
          start: async (live) => {
            if (used) throw new Error('an admitted run starts once');
            used = true;
            try {
              const result = await this.execute(sandbox, job, {
                queuedMs,
                stop,
                live,
                discard,
                pythonPath: set?.path,
                clock: options.clock,
              });
              return { ...result, installMs };
            } finally {
              settle();
            }
          },
          abandon: () => {
            if (used) return;
            used = true;
            void this.sandboxes.discard(sandbox, discard);
            settle();
          },
        };
      },
      (err: unknown) => {
        settle();
        throw err;
      },
    );
  }

  /** Resolves once every run in progress has ended and its container is removed. */
  async settle(): Promise<void> {
    await this.runs.settle();
    await this.sandboxes.settle();
  }

  private async admitSandbox(
    job: Job,
    { cancel, receivedAt = Date.now(), holdSlotUntil, tenant, wheels = [], clock }: AdmitOptions,
  ): Promise<{ sandbox: Sandbox; set: PreparedSet | undefined; queuedMs: number; stop: AbortSignal }> {
    if (this.stopping.signal.aborted) throw new ShuttingDownError();
    // Ends the run early: the client went away, or the server is stopping.
    const stop = AbortSignal.any([this.stopping.signal, ...(cancel ? [cancel] : [])]);
    const wanted = this.policy === 'always' || (this.policy === 'auto' && wantsPreload(job, this.importsPreloaded)) ? 'preloaded' : 'plain';
    // Every sandbox mounts the set volume, so an installed set runs in any plain warm member (a preloaded
    // interpreter may hold other versions of the set's modules). A set to install needs a slot first.
    let set = wheels.length > 0 ? this.dependencySets.take(wheels, tenant) : undefined;
    clock?.lap('queue');
    // A member in the making is waited for no longer than a run may queue.
    const waitUntil = receivedAt + this.config.limits.queueTimeoutMs;
    let sandbox =
      wheels.length === 0 || set ? await this.pool.takeOrAwait(job.memoryMb, set ? 'plain' : wanted, stop, waitUntil) : undefined;
    try {
      if (!sandbox) {
        this.pool.yieldSlot();
        const slot = await this.admission.acquire(waitUntil, stop, tenant);
        clock?.lap('queue');
        if (this.stopping.signal.aborted) {
          slot.release();
          throw new ShuttingDownError();
        }
        if (wheels.length > 0 && !set) {
          try {
            // The install has a timeout_ms of its own; the program's starts after it.
            set = await this.dependencySets.prepare(wheels, slot, Date.now() + job.timeoutMs, stop, tenant);
          } catch (err) {
            slot.release();
            throw err;
          }
          clock?.lap('install');
          // A warm member may have come ready during the install.
          sandbox = this.pool.take(job.memoryMb, 'plain');
          if (sandbox) slot.release();
        }
        // A container made on the request path pays its imports either way, so it is always plain. It is made
        // for the program's whole timeout, with room for what comes before the job is handed in.
        sandbox ??= await this.sandboxes.prepare(job.memoryMb, slot, Date.now() + job.timeoutMs + HANDOFF_ALLOWANCE_MS, { holdSlotUntil });
        if (clock) clock.source = 'created';
      } else if (clock) clock.source = sandbox.kind === 'preloaded' ? 'preloaded' : 'pool';
    } catch (err) {
      set?.release();
      throw err;
    }
    clock?.lap('acquire');
    // The set stays installed until the run's container is gone (the caller passes set.release on).
    return { sandbox, set, queuedMs: Date.now() - receivedAt - (set?.installMs ?? 0), stop };
  }

  private async execute(
    sandbox: Sandbox,
    job: Job,
    {
      queuedMs,
      stop,
      live,
      discard,
      pythonPath,
      clock,
    }: {
      queuedMs: number;
      stop: AbortSignal;
      live?: LiveRun;
      discard: DiscardOptions;
      pythonPath?: string;
      clock?: PhaseClock;
    },
  ): Promise<RunResult> {
    const { limits } = this.config;
    const { runId, containerId } = sandbox;
    const marker = `\u0000runbox-end-${randomBytes(16).toString('hex')}\u0000`;
    /** Aborted by the output's counters, with which limit: the run wrote past it, and is killed. */
    const overLimit = new AbortController();
    try {
      const caps = artifactCaps(limits);
      const input = await packJob(job, manifestFor(job, marker, caps, pythonPath));
      const output = new RunOutput({
        marker,
        maxOutputBytes: limits.maxOutputBytes,
        outputKillBytes: limits.outputKillBytes,
        artifactCaps: caps,
        onLimitExceeded: (what) => overLimit.abort(what),
        live,
      });
      live?.started({ id: runId, queuedMs });
      // The launcher's word that the run is over, with the exit status it would give the engine: the answer
      // need not wait for the engine to report the container's exit (about 130 ms here). An exit by SIGKILL
      // may be the OOM killer's: the launcher says so where it can read the kernel's count, else only the
      // engine can tell, once the container has exited.
      const finished = output.sealed
        .then(() => output.artifacts.finish())
        .then(({ exitCode, oomKilled }) =>
          exitCode !== undefined && (exitCode !== EXIT_SIGKILL || oomKilled !== undefined) ? exitCode : NEVER,
        );
      const { exitCode, timedOut, streamEndedCleanly, durationMs } = await this.sandboxes.drive(sandbox, {
        input,
        timeoutMs: job.timeoutMs,
        stop: AbortSignal.any([stop, overLimit.signal]),
        onOutput: (chunk) => output.write(chunk),
        clock,
        finished,
      });
      const limitHit = overLimit.signal.aborted;
      if (this.stopping.signal.aborted && !timedOut && !limitHit) {
        throw new ShuttingDownError('the server is shutting down; the run was stopped before it finished');
      }
      output.end();
      const collectedArtifacts = await output.artifacts.finish();
      const serviceEnded = timedOut || limitHit;
      const markerSeen = output.completed;
      // A launcher that did not finish, killed by no one here: the engine says whether the container is being
      // (or was) removed under the run, by an operator or another server's reaper, or is the program's end.
      const launcherSaysOom = markerSeen ? collectedArtifacts.oomKilled : undefined;
      const engineState =
        !serviceEnded && exitCode !== 0 && (!markerSeen || (exitCode === EXIT_SIGKILL && launcherSaysOom === undefined))
          ? await this.docker.inspect(containerId)
          : undefined;
      const removedUnderRun = !markerSeen && (engineState?.status === 'gone' || engineState?.status === 'removing');
      const status = classify({
        timedOut,
        limitHit,
        exitCode,
        markerSeen,
        streamEndedCleanly,
        // Asked only where they decide something: a missing marker, an exit by SIGKILL.
        engineAnswers: !serviceEnded && exitCode === 0 && !markerSeen && streamEndedCleanly && (await this.engineAnswers()),
        oomKilled: engineState?.oomKilled === true || launcherSaysOom === true,
      });
      if (status === 'lost') throw new EngineUnavailableError("the output stream from the sandbox was lost; the run's result is unknown");
      // Past classify, a missing marker after exit 0 can only be the program's doing.
      const protocolBroken = !serviceEnded && exitCode === 0 && !markerSeen;
      // A run the service ended, or whose protocol was broken, returns no artifacts.
      const { artifacts, truncated: artifactsTruncated } =
        serviceEnded || protocolBroken ? { artifacts: [], truncated: protocolBroken } : collectedArtifacts;
      if (protocolBroken) output.append('stderr', Buffer.from(PROTOCOL_BROKEN_NOTE));
      if (removedUnderRun) output.append('stderr', Buffer.from(REMOVED_UNDER_RUN_NOTE));
      const collected = output.collected();
      clock?.lap('collect');
      const ended = removedUnderRun ? 'error' : status;
      return {
        id: runId,
        status: ended,
        // Its exit status was the removal's, not the program's.
        exitCode: serviceEnded || removedUnderRun ? null : exitCode,
        stdout: collected.stdout,
        stderr: collected.stderr,
        stdoutTruncated: collected.stdoutTruncated,
        stderrTruncated: collected.stderrTruncated,
        timedOut,
        oomKilled: status === 'oom',
        durationMs,
        queuedMs,
        artifacts,
        artifactsTruncated,
        usage:
          serviceEnded || protocolBroken || removedUnderRun
            ? null
            : boundedUsage(collectedArtifacts.usage, durationMs, limits.cpus, sandbox.memoryMb),
        installMs: 0,
        message: outcomeMessage(
          ended,
          { timeoutMs: job.timeoutMs, memoryMb: sandbox.memoryMb, outputKillBytes: limits.outputKillBytes },
          overLimit.signal.reason as 'output' | 'artifacts',
        ),
      };
    } finally {
      void this.sandboxes.discard(sandbox, discard);
    }
  }

  private engineAnswers(): Promise<boolean> {
    return this.docker.ping().then(
      () => true,
      () => false,
    );
  }
}
