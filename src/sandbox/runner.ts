/** The run lifecycle: one fresh container per job, a deadline, bounded output, and removal whatever happens. */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { DockerClient } from '../docker/client';
import { EngineUnavailableError } from '../errors';
import type { Artifact } from './artifacts';
import { containerSpec } from './container-spec';
import type { Job } from './job';
import { manifestFor, packJob } from './job-tar';
import { runLabels } from './labels';
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
  artifacts: Artifact[];
  artifactsTruncated: boolean;
}

/** 128 + SIGKILL: what the init process reports for a killed launcher. */
const EXIT_SIGKILL = 137;

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

  constructor(
    private readonly docker: DockerClient,
    private readonly config: Config,
    private readonly instanceId: string,
    private readonly log: Logger,
  ) {}

  /** Runs a job to completion. `cancel` (e.g. the client went away) kills the run early. */
  run(job: Job, cancel?: AbortSignal): Promise<RunResult> {
    return this.track(this.execute(job, cancel));
  }

  private async execute(job: Job, cancel?: AbortSignal): Promise<RunResult> {
    const { config } = this;
    const { limits } = config;
    const marker = `\u0000runbox-end-${randomBytes(16).toString('hex')}\u0000`;
    const input = await packJob(job, manifestFor(job, marker, limits));
    const hardDeadline = Date.now() + job.timeoutMs + config.killGraceMs + 2 * config.dockerCallTimeoutMs;
    const spec = containerSpec({
      image: config.image,
      runtime: config.runtime,
      memoryMb: job.memoryMb,
      cpus: limits.cpus,
      pidsLimit: limits.pidsLimit,
      workspaceMb: limits.workspaceMb,
      tmpMb: limits.tmpMb,
      labels: runLabels(job.id, this.instanceId, hardDeadline),
    });

    let id: string | undefined;
    let stream: Duplex | undefined;
    let timer: NodeJS.Timeout | undefined;
    const waitAbort = new AbortController();
    const hardTimer = setTimeout(() => waitAbort.abort(), hardDeadline - Date.now());
    let exited = false;
    let timedOut = false;
    let limitHit = false;
    let killing: Promise<void> | undefined;
    const kill = () => {
      if (id === undefined || exited) return;
      killing ??= this.docker.kill(id).catch((err: Error) => this.log.warn({ runId: job.id, err: err.message }, 'kill failed'));
    };
    const onCancel = () => kill();
    cancel?.addEventListener('abort', onCancel, { once: true });

    try {
      id = await this.docker.create(spec);
      stream = await this.docker.attach(id);
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

      await this.docker.start(id);
      const started = performance.now();
      timer = setTimeout(() => {
        if (exited) return;
        timedOut = true;
        kill();
      }, job.timeoutMs);
      if (cancel?.aborted) kill();
      // Half-closing our side closes the launcher's stdin once the job archive is through.
      stream.end(input);

      let exitCode: number;
      try {
        exitCode = await this.docker.wait(id, waitAbort.signal);
      } catch (err) {
        if (waitAbort.signal.aborted) throw new EngineUnavailableError('the Docker engine did not end the run in time');
        throw err;
      }
      exited = true;
      const durationMs = Math.round(performance.now() - started);
      clearTimeout(timer);

      // The engine closes the stream once the container is gone; a stream that lingers is cut off.
      const grace = delay(config.killGraceMs);
      await Promise.race([closed, grace.promise]);
      grace.cancel();
      output.end();
      const { artifacts, truncated: artifactsTruncated } = await output.artifacts.finish();

      const serviceEnded = timedOut || limitHit;
      const oomKilled = !serviceEnded && exitCode === EXIT_SIGKILL && (await this.docker.inspectExit(id)).oomKilled;
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
        id: job.id,
        status,
        exitCode: serviceEnded ? null : exitCode,
        stdout: collected.stdout,
        stderr: collected.stderr,
        stdoutTruncated: collected.stdoutTruncated,
        stderrTruncated: collected.stderrTruncated,
        timedOut,
        oomKilled,
        durationMs,
        artifacts,
        artifactsTruncated,
      };
    } finally {
      clearTimeout(timer);
      clearTimeout(hardTimer);
      cancel?.removeEventListener('abort', onCancel);
      stream?.destroy();
      if (id !== undefined) this.removeLater(id, job.id);
    }
  }

  /** Removal is off the response path; settle() waits for it. */
  private removeLater(containerId: string, runId: string): void {
    void this.track(
      this.docker
        .remove(containerId)
        .catch((err: Error) => this.log.error({ runId, containerId, err: err.message }, 'container removal failed')),
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

  /** Resolves once every run in progress has ended and its container is removed. */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
