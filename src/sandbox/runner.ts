/** The run lifecycle: one fresh container per job, a deadline, bounded output, and removal whatever happens. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { DockerClient } from '../docker/client';
import { EngineUnavailableError, ShuttingDownError } from '../errors';
import type { Admission, Release } from './admission';
import type { Artifact } from './artifacts';
import { containerSpec } from './container-spec';
import type { Job } from './job';
import { manifestFor, packJob } from './job-tar';
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
  stdout: string;
  stderr: string;
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
}

/** A started container whose launcher waits for its job on stdin; it holds one admission slot. */
export interface Sandbox {
  runId: string;
  containerId: string;
  stream: Duplex;
  memoryMb: number;
  release: Release;
  /** The engine's `wait`, asked as soon as the container started: resolves with the exit code. */
  exit: Promise<number>;
  /** Abandons `exit` (the engine stopped answering). */
  abandonWait: AbortController;
}

/** 128 + SIGKILL: what the init process reports for a killed launcher. */
const EXIT_SIGKILL = 137;
/** Margin on top of the longest a run can take to be reported, before a reaper may treat it as abandoned. */
const DEADLINE_MARGIN_MS = 60_000;

function streamClosed(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.readableEnded) return resolve();
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

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

  private async admitAndRun(job: Job, { cancel, receivedAt = Date.now() }: RunOptions): Promise<RunResult> {
    if (this.stopping.signal.aborted) throw new ShuttingDownError();
    const deadline = receivedAt + job.timeoutMs;
    // Ends the run early: the client went away, or the server is stopping.
    const stop = AbortSignal.any([this.stopping.signal, ...(cancel ? [cancel] : [])]);
    let sandbox = this.pool.take(job.memoryMb);
    if (!sandbox) {
      this.pool.yieldSlot();
      const release = await this.admission.acquire(deadline, stop);
      if (this.stopping.signal.aborted) {
        release();
        throw new ShuttingDownError();
      }
      sandbox = await this.prepare(job.memoryMb, release, deadline);
    }
    const queuedMs = Date.now() - receivedAt;
    return this.execute(sandbox, job, { timeoutMs: Math.max(1, deadline - Date.now()), queuedMs, stop });
  }

  /** Creates, attaches and starts a container holding `release`'s slot; on failure nothing is left behind. */
  async prepare(memoryMb: number, release: Release, deadline: number): Promise<Sandbox> {
    const { config } = this;
    const runId = randomUUID();
    this.live.add(runId);
    const spec = containerSpec({
      image: config.image,
      runtime: config.runtime,
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
      return { runId, containerId, stream, memoryMb, release, exit, abandonWait };
    } catch (err) {
      this.dispose(runId, containerId, release);
      throw err;
    }
  }

  private async execute(
    sandbox: Sandbox,
    job: Job,
    { timeoutMs, queuedMs, stop }: { timeoutMs: number; queuedMs: number; stop: AbortSignal },
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
      await Promise.race([closed, grace.promise]);
      grace.cancel();
      output.end();
      const collectedArtifacts = await output.artifacts.finish();
      const serviceEnded = timedOut || limitHit;
      // A run the service ended returns no artifacts, even if some arrived before the kill landed.
      const { artifacts, truncated: artifactsTruncated } = serviceEnded ? { artifacts: [], truncated: false } : collectedArtifacts;
      // A launcher that exits 0 always writes the marker first; without it, the output was lost on the way.
      if (!serviceEnded && exitCode === 0 && !output.completed) {
        throw new EngineUnavailableError('the output stream from the sandbox was lost; the run\'s result is unknown');
      }
      const oomKilled = !serviceEnded && exitCode === EXIT_SIGKILL && (await this.docker.inspectExit(containerId)).oomKilled;
      const status: RunStatus = timedOut
        ? 'timeout'
        : limitHit
          ? 'output_limit'
          : oomKilled
            ? 'oom'
            : exitCode === 0
              ? 'ok'
              : 'error';
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
      this.discard(sandbox);
    }
  }

  /** Ends a sandbox, used or not: its stream closed, its container removed, its slot freed. */
  private discard(sandbox: Sandbox): void {
    sandbox.stream.destroy();
    sandbox.abandonWait.abort();
    this.dispose(sandbox.runId, sandbox.containerId, sandbox.release);
  }

  /**
   * Removes the container off the response path, then frees its slot, so live containers never exceed
   * the maximum. A removal that fails (engine gone) still frees the slot; the reaper finds the container later.
   */
  private dispose(runId: string, containerId: string | undefined, release: Release): void {
    const removal = containerId === undefined ? Promise.resolve() : this.docker.remove(containerId);
    void this.track(
      removal
        .catch((err: Error) => this.log.error({ runId, containerId, err: err.message }, 'container removal failed'))
        .finally(() => {
          this.live.delete(runId);
          release();
          this.pool.refill();
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
