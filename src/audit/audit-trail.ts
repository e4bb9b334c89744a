/**
 * The audit trail: one record per run, written in two steps.
 * - Before the program gets its job, the record is created. If the store cannot take it, the run does not
 *   happen (503 store_unavailable): no run goes unrecorded.
 * - Before the result is returned, the record is completed. If the store cannot take that, the result is
 *   withheld (503 store_unavailable naming the run id): a run is never reported as done while its record is
 *   lost. The record stays `running`; the sandbox had no way out, so running the program again is safe.
 * Code, stdin and outputs are kept only with RUNBOX_AUDIT_STORE_CONTENT=1; otherwise hashes and sizes.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditOptions } from '../config';
import { StoreUnavailableError } from '../errors';
import type { Encoded } from '../sandbox/encoding';
import type { Metrics } from '../metrics/metrics';
import type { Job } from '../sandbox/job';
import type { RunResult } from '../sandbox/runner';
import { StoreError, type RunRecord, type Store } from '../store/store';

/** What the request told us about a run, before it started. */
export interface RunOrigin {
  keyId: string | null;
  requestId: string;
  receivedAt: number;
  job: Job;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const encodedBytes = ({ content, encoding }: Encoded) => Buffer.byteLength(content, encoding === 'base64' ? 'base64' : 'utf8');

/** How often records past retention (and spent limit state) are deleted. */
const PURGE_EVERY_MS = 60 * 60_000;
/** How long the sandbox image's id is reused before it is asked of the engine again. */
const IMAGE_ID_TTL_MS = 60_000;

export class AuditTrail {
  private purgeTimer: NodeJS.Timeout | undefined;
  private image: { at: number; id: Promise<string | null> } | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: AuditOptions,
    private readonly imageId: () => Promise<string | undefined>,
    private readonly log: Logger,
    private readonly metrics: Pick<Metrics, 'auditWriteFailed'>,
  ) {}

  /** The sandbox image's id, asked of the engine at most once a minute (never on every run). */
  private currentImageId(): Promise<string | null> {
    if (!this.image || Date.now() - this.image.at > IMAGE_ID_TTL_MS) {
      this.image = {
        at: Date.now(),
        id: this.imageId().then(
          (id) => id ?? null,
          () => null,
        ),
      };
    }
    return this.image.id;
  }

  /** Creates the run's record; throws StoreUnavailableError (the run must not start) if the store fails. */
  async begin(origin: RunOrigin, run: { id: string; queuedMs: number }, log: Logger = this.log): Promise<void> {
    const { job } = origin;
    const entrypoint = job.files.find((f) => f.path === job.entrypoint);
    const content = this.options.storeContent
      ? {
          entrypoint: job.entrypoint,
          args: job.args,
          files: job.files.map((f) => ({ path: f.path, content: f.data.toString('base64') })),
          stdin: job.stdin.toString('base64'),
        }
      : null;
    try {
      await this.store.beginRun(
        {
          id: run.id,
          keyId: origin.keyId,
          requestId: origin.requestId,
          receivedAt: origin.receivedAt,
          startedAt: Date.now(),
          queuedMs: run.queuedMs,
          bytesIn: job.files.reduce((sum, f) => sum + f.data.length, 0) + job.stdin.length,
          codeSha256: sha256(entrypoint?.data ?? ''),
          imageId: await this.currentImageId(),
        },
        content,
      );
    } catch (err) {
      throw this.unavailable(err, run.id, "the store could not record the run's start, so it was not run", log);
    }
  }

  /** Completes the record; throws StoreUnavailableError (the result must be withheld) if the store fails. */
  async finish(result: RunResult, log: Logger = this.log): Promise<void> {
    const outputs = this.options.storeContent
      ? {
          stdout: result.stdout,
          stderr: result.stderr,
          artifacts: result.artifacts.map((a) => ({ path: a.path, encoding: a.encoding, content: a.content })),
        }
      : null;
    try {
      await this.store.finishRun(result.id, {
        endedAt: Date.now(),
        status: result.status,
        exitCode: result.exitCode,
        durationMs: result.durationMs,
        cpuMs: result.usage?.cpuMs ?? null,
        maxRssKb: result.usage?.maxRssKb ?? null,
        bytesOut: encodedBytes(result.stdout) + encodedBytes(result.stderr) + result.artifacts.reduce((sum, a) => sum + a.size, 0),
        artifacts: result.artifacts.map((a) => ({ path: a.path, size: a.size, sha256: a.sha256 })),
        content: outputs,
      });
    } catch (err) {
      throw this.unavailable(
        err,
        result.id,
        `run ${result.id} ended, but the store could not complete its audit record, so its result is withheld`,
        log,
      );
    }
  }

  /**
   * Ends the record of a run that started and then failed (the engine, shutdown, a fault), under the error's
   * code. Best effort: the request fails with that error whatever happens here.
   */
  async failed(id: string, code: string, durationMs: number, log: Logger = this.log): Promise<void> {
    const end = {
      endedAt: Date.now(),
      status: code,
      exitCode: null,
      durationMs,
      cpuMs: null,
      maxRssKb: null,
      bytesOut: 0,
      artifacts: [],
      content: null,
    };
    await this.store.finishRun(id, end).catch((err: unknown) => {
      this.metrics.auditWriteFailed();
      log.error({ err, runId: id }, 'the audit trail could not record the end of a failed run');
    });
  }

  /** The run's record, only to the key that made it. */
  async record(id: string, keyId: string | null, log: Logger = this.log): Promise<(RunRecord & { content: unknown }) | undefined> {
    let found;
    try {
      found = await this.store.runById(id);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      log.error({ err, runId: id }, 'the store did not answer');
      throw new StoreUnavailableError('the store did not answer');
    }
    return found && found.keyId === keyId ? found : undefined;
  }

  private unavailable(err: unknown, runId: string, message: string, log: Logger): Error {
    if (!(err instanceof StoreError)) return err as Error;
    this.metrics.auditWriteFailed();
    log.error({ err, runId }, 'the audit trail could not be written');
    return new StoreUnavailableError(message);
  }

  /** Deletes records older than the retention now and every hour. */
  startPurging(): void {
    const purge = () => {
      const now = Date.now();
      this.store.purge(now - this.options.retentionDays * 86_400_000, now).then(
        (runs) => runs > 0 && this.log.info({ runs, retentionDays: this.options.retentionDays }, 'purged audit records past retention'),
        (err: Error) => this.log.warn({ err }, 'purging the audit trail failed; it is tried again within the hour'),
      );
    };
    purge();
    this.purgeTimer = setInterval(purge, PURGE_EVERY_MS);
    this.purgeTimer.unref();
  }

  stopPurging(): void {
    clearInterval(this.purgeTimer);
  }
}
