/** The run lifecycle: one fresh container per job, a deadline, bounded output, and removal whatever happens. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { DockerClient } from '../docker/client';
import { EngineUnavailableError, ShuttingDownError } from '../errors';
import type { Admission, Slot } from './admission';
import type { Artifact } from './artifacts';
import type { Encoded } from './encoding';
import { containerSpec } from './container-spec';
import type { Job } from './job';
import { manifestFor, packJob, SANDBOX_UID } from './job-tar';
import { runLabels } from './labels';
import { WarmPool } from './pool';
import { RunOutput } from './run-output';

/**
 * ok: exit 0. error: non-zero exit. timeout: killed at the deadline. oom: the kernel killed it for memory.
 * output_limit: killed for writing more than RUNBOX_OUTPUT_KILL_BYTES, or an artifact archive beyond its caps.
 */
export type RunStatus = 'ok' | 'error' | 'timeout' | 'oom' | 'output_limit';

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
}

export interface RunOptions {
  /** Aborts when the client goes away: the run is killed (or leaves the queue). */
  cancel?: AbortSignal;
  /** When the request arrived; queueing counts toward its timeout. */
  receivedAt?: number;
  /**
   * The run's slot stays taken until this settles as well as until its container is gone. The HTTP layer
   * passes its response's delivery, so results not yet delivered to slow clients count against capacity.
   */
  holdSlotUntil?: Promise<unknown>;
}

/** A started container whose launcher waits for its job on stdin; it holds one admission slot. */
export interface Sandbox {
  runId: string;
  containerId: string;
  stream: Duplex;
  memoryMb: number;
  slot: Slot;
  /** The engine's `wait`, asked as soon as the container started: resolves with the exit code. */
  exit: Promise<number>;
  /** Abandons `exit` (the engine stopped answering). */
  abandonWait: AbortController;
}

/** 128 + SIGKILL: what the init process reports for a killed launcher. */
const EXIT_SIGKILL = 137;
/** Margin on top of the longest a run can take to be reported, before a reaper may treat it as abandoned. */
const DEADLINE_MARGIN_MS = 60_000;

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

/** Appended to stderr when the program broke the launcher's protocol (see SECURITY.md, result integrity). */
const PROTOCOL_BROKEN_NOTE =
  '\nrunbox: the program interfered with the sandbox launcher (its output ended without the end marker); artifacts are not returned\n';

function delay(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

export class Runner {
  /** Runs in progress and removals in flight: what settle() waits for. */
  private readonly pending = new Set<Promise<unknown>>();
  /** Run ids whose containers exist or are being created: the reaper leaves these alone. */
  private readonly live = new Set<string>();
  private readonly stopping = new AbortController();
  readonly pool: WarmPool;

  constructor(
    private readonly docker: DockerClient,
    private readonly config: Config,
    private readonly admission: Admission,
    private readonly instanceId: string,
    private readonly log: Logger,
  ) {
    this.pool = new WarmPool(
      {
        size: config.poolSize,
        memoryMb: config.limits.defaultMemoryMb,
        maxAgeMs: config.poolMaxAgeMs,
        maxRunMs: config.limits.maxTimeoutMs,
      },
      admission,
      {
        prepare: (memoryMb, release, deadline) => this.track(this.prepare(memoryMb, release, deadline)),
        discard: (sandbox) => this.discard(sandbox),
        imageId: () => docker.imageId(config.image),
      },
      log,
    );
  }

  isLive(runId: string): boolean {
    return this.live.has(runId);
  }

  get liveCount(): number {
    return this.live.size;
  }

  /** Runs a job to completion in a fresh container. */
  run(job: Job, options: RunOptions = {}): Promise<RunResult> {
    return this.track(this.admitAndRun(job, options));
  }

  /** Refuses new runs and kills the ones in progress; settle() then waits for their removal. */
  stopAll(): void {
    this.stopping.abort(new ShuttingDownError('the server is shutting down; the run was stopped before it started'));
    this.pool.stop();
  }

  /** Resolves once every run in progress has ended and its container is removed. */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private async admitAndRun(job: Job, { cancel, receivedAt = Date.now(), holdSlotUntil }: RunOptions): Promise<RunResult> {
    if (this.stopping.signal.aborted) throw new ShuttingDownError();
    const deadline = receivedAt + job.timeoutMs;
    // Ends the run early: the client went away, or the server is stopping.
    const stop = AbortSignal.any([this.stopping.signal, ...(cancel ? [cancel] : [])]);
    let sandbox = this.pool.take(job.memoryMb);
    if (!sandbox) {
      this.pool.yieldSlot();
      const slot = await this.admission.acquire(deadline, stop);
      if (this.stopping.signal.aborted) {
        slot.release();
        throw new ShuttingDownError();
      }
      sandbox = await this.prepare(job.memoryMb, slot, deadline, holdSlotUntil);
    }
    const queuedMs = Date.now() - receivedAt;
    return this.execute(sandbox, job, { timeoutMs: Math.max(1, deadline - Date.now()), queuedMs, stop, holdSlotUntil });
  }

  /** Creates, attaches and starts a container holding `slot`; on failure nothing is left behind. */
  async prepare(memoryMb: number, slot: Slot, deadline: number, holdSlotUntil?: Promise<unknown>): Promise<Sandbox> {
    const { config } = this;
    const runId = randomUUID();
    this.live.add(runId);
    const spec = containerSpec({
      image: config.image,
      runtime: config.runtime,
      // Concurrent runs never share a uid, so per-uid kernel limits (inotify, pipe buffers) are each run's own.
      uid: SANDBOX_UID + slot.index,
      memoryMb,
      cpus: config.limits.cpus,
      pidsLimit: config.limits.pidsLimit,
      workspaceMb: config.limits.workspaceMb,
      tmpMb: config.limits.tmpMb,
      labels: runLabels(runId, this.instanceId, deadline + config.killGraceMs + 2 * config.dockerCallTimeoutMs + DEADLINE_MARGIN_MS),
    });
    let containerId: string | undefined;
    try {
      containerId = await this.docker.create(spec);
      // Attach before start, so not a byte of output is missed.
      const stream = await this.docker.attach(containerId);
      // An idle pool member's connection can drop at any time; that must not become an uncaught 'error'.
      stream.on('error', (err: Error) => this.log.debug({ runId, err: err.message }, 'sandbox stream error'));
      await this.docker.start(containerId);
      const abandonWait = new AbortController();
      const exit = this.docker.wait(containerId, abandonWait.signal);
      exit.catch(() => undefined); // observed by execute(); a pool member may be discarded unused
      return { runId, containerId, stream, memoryMb, slot, exit, abandonWait };
    } catch (err) {
      this.dispose(runId, containerId, slot, holdSlotUntil);
      throw err;
    }
  }

  private async execute(
    sandbox: Sandbox,
    job: Job,
    {
      timeoutMs,
      queuedMs,
      stop,
      holdSlotUntil,
    }: { timeoutMs: number; queuedMs: number; stop: AbortSignal; holdSlotUntil?: Promise<unknown> },
  ): Promise<RunResult> {
    const { config } = this;
    const { limits } = config;
    const { runId, containerId, stream, abandonWait } = sandbox;
    const marker = `\u0000runbox-end-${randomBytes(16).toString('hex')}\u0000`;

    let timer: NodeJS.Timeout | undefined;
    let afterStreamTimer: NodeJS.Timeout | undefined;
    const hardTimer = setTimeout(() => abandonWait.abort(), timeoutMs + config.killGraceMs + 2 * config.dockerCallTimeoutMs);
    let exited = false;
    let finished = false;
    let timedOut = false;
    let limitHit = false;
    let killing: Promise<void> | undefined;
    const kill = () => {
      if (exited) return;
      killing ??= this.docker.kill(containerId).catch((err: Error) => this.log.warn({ runId, err: err.message }, 'kill failed'));
    };
    stop.addEventListener('abort', kill, { once: true });
    // Known the moment the engine reports it, so a program ending right at the deadline is not a timeout.
    void sandbox.exit.then(
      () => (exited = true),
      () => undefined,
    );

    try {
      const input = await packJob(job, manifestFor(job, marker, limits));
      const output = new RunOutput({
        marker,
        maxOutputBytes: limits.maxOutputBytes,
        outputKillBytes: limits.outputKillBytes,
        artifactCaps: {
          maxFiles: limits.maxArtifacts,
          maxFileBytes: limits.maxArtifactBytes,
          maxTotalBytes: limits.maxArtifactsBytes,
        },
        onLimitExceeded: () => {
          limitHit = true;
          kill();
        },
      });
      stream.on('data', (chunk: Buffer) => output.write(chunk));
      const closed = streamClosed(stream);
      // The engine ends the attach stream when the container stops, and answers `wait` at the same moment.
      // A `wait` whose connection died (engine gone) never settles, so it gets a bound once the stream ends.
      void closed.then(() => {
        if (!exited && !finished) afterStreamTimer = setTimeout(() => abandonWait.abort(), config.dockerCallTimeoutMs);
      });

      const started = performance.now();
      timer = setTimeout(() => {
        if (exited) return;
        timedOut = true;
        kill();
      }, timeoutMs);
      if (stop.aborted) kill();
      // Half-closing our side closes the launcher's stdin once the job archive is through.
      stream.end(input);

      let exitCode: number;
      try {
        exitCode = await sandbox.exit;
      } catch (err) {
        if (abandonWait.signal.aborted) throw new EngineUnavailableError('the Docker engine stopped answering during the run');
        throw err;
      }
      const durationMs = Math.round(performance.now() - started);
      clearTimeout(timer);
      if (this.stopping.signal.aborted && !timedOut && !limitHit) {
        throw new ShuttingDownError('the server is shutting down; the run was stopped before it finished');
      }

      // The engine closes the stream once the container is gone; a stream that lingers is cut off.
      const grace = delay(config.killGraceMs);
      const endedCleanly = await Promise.race([closed, grace.promise.then(() => false)]);
      grace.cancel();
      output.end();
      const collectedArtifacts = await output.artifacts.finish();
      const serviceEnded = timedOut || limitHit;
      // A launcher that exits 0 writes the marker first. Without it, either the stream was lost on the way
      // (the engine's doing: a 503) or the program broke the protocol (its own error). Only a stream that
      // ended cleanly, from an engine that still answers, puts it on the program.
      const protocolBroken = !serviceEnded && exitCode === 0 && !output.completed;
      if (protocolBroken && !(endedCleanly && (await this.engineAnswers()))) {
        throw new EngineUnavailableError("the output stream from the sandbox was lost; the run's result is unknown");
      }
      // A run the service ended, or whose protocol was broken, returns no artifacts.
      const { artifacts, truncated: artifactsTruncated } =
        serviceEnded || protocolBroken ? { artifacts: [], truncated: protocolBroken } : collectedArtifacts;
      const oomKilled = !serviceEnded && exitCode === EXIT_SIGKILL && (await this.docker.inspectExit(containerId)).oomKilled;
      const status: RunStatus = timedOut
        ? 'timeout'
        : limitHit
          ? 'output_limit'
          : oomKilled
            ? 'oom'
            : exitCode === 0 && !protocolBroken
              ? 'ok'
              : 'error';
      if (protocolBroken) output.stderr.push(Buffer.from(PROTOCOL_BROKEN_NOTE));
      const collected = output.collected();
      return {
        id: runId,
        status,
        exitCode: serviceEnded ? null : exitCode,
        stdout: collected.stdout,
        stderr: collected.stderr,
        stdoutTruncated: collected.stdoutTruncated,
        stderrTruncated: collected.stderrTruncated,
        timedOut,
        oomKilled,
        durationMs,
        queuedMs,
        artifacts,
        artifactsTruncated,
      };
    } finally {
      finished = true;
      clearTimeout(timer);
      clearTimeout(hardTimer);
      clearTimeout(afterStreamTimer);
      stop.removeEventListener('abort', kill);
      this.discard(sandbox, holdSlotUntil);
    }
  }

  private engineAnswers(): Promise<boolean> {
    return this.docker.ping().then(
      () => true,
      () => false,
    );
  }

  /** Ends a sandbox, used or not: its stream closed, its container removed, its slot freed. */
  private discard(sandbox: Sandbox, holdSlotUntil?: Promise<unknown>): void {
    sandbox.stream.destroy();
    sandbox.abandonWait.abort();
    this.dispose(sandbox.runId, sandbox.containerId, sandbox.slot, holdSlotUntil);
  }

  /**
   * Removes the container off the response path, then frees its slot (once `holdSlotUntil` settles too), so
   * live containers never exceed the maximum. A removal that fails (engine gone) still frees the slot; the
   * reaper finds the container later. settle() waits for the removal, not for the hold.
   */
  private dispose(runId: string, containerId: string | undefined, slot: Slot, holdSlotUntil?: Promise<unknown>): void {
    const removal = containerId === undefined ? Promise.resolve() : this.docker.remove(containerId);
    void this.track(
      removal
        .catch((err: Error) => this.log.error({ runId, containerId, err: err.message }, 'container removal failed'))
        .finally(() => {
          this.live.delete(runId);
          const free = () => {
            slot.release();
            this.pool.refill();
          };
          if (holdSlotUntil) void holdSlotUntil.then(free, free);
          else free();
        }),
    );
  }

  private track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return work;
  }
}
