/**
 * The run service: the one run path under every door (POST /v1/runs, SSE, MCP, the compat contracts).
 * Transport-free: a door hands it who is asking, the request as POST /v1/runs takes it, a signal for the
 * caller going away, and when the result will have been delivered; it answers with the run's response or
 * throws a RunboxError. Every door thus gets the same parsing, key ceilings, packages, quota, concurrency
 * share, admission, audit record, metrics and log line.
 */
import type { Logger } from 'pino';
import type { AuditTrail, RunOrigin } from '../audit/audit-trail';
import type { RunRequestParser } from '../api/run-request';
import { runResponse, type RunResponse } from '../api/run-response';
import { QueueTimeoutError, RunboxError, ShuttingDownError } from '../errors';
import type { Principal } from '../keys/principal';
import type { Metrics } from '../metrics/metrics';
import type { PackageCatalog } from '../packages/catalog';
import type { QuotaState, Quotas } from '../quotas/quotas';
import { InstallSpentError } from '../sandbox/dependency-sets';
import { InFlight } from '../sandbox/in-flight';
import type { PhaseClock } from '../sandbox/phases';
import type { LiveRun, RunResult, Runner } from '../sandbox/runner';

export interface RunCall {
  principal: Principal;
  /** What the key has left (its RateLimit state); updated as the run is counted and given back. */
  quota: QuotaState;
  /** A POST /v1/runs body, or a tool's arguments (with the tool's `parser`). */
  request: unknown;
  parser?: RunRequestParser;
  requestId: string;
  log: Logger;
  /** Aborts when the caller goes away (or the door cancels the run): it leaves the queue, or is killed. */
  signal: AbortSignal;
  /** Follows the run as it happens (streaming doors). */
  live?: LiveRun;
  /**
   * Settles once the result is delivered or abandoned. Until then the run is held against its key's
   * concurrency share, or, for a key without one, against its run slot: a caller that does not read stalls
   * only its own key, and what undelivered results hold stays bounded.
   */
  delivered: Promise<unknown>;
  /**
   * Where the run's time goes, lapped phase by phase from when the door took the request; the door reports it
   * (Server-Timing), and the service logs it and feeds the per-phase histogram.
   */
  clock: PhaseClock;
}

export interface RunServiceDeps {
  parser: RunRequestParser;
  runner: Runner;
  catalog: PackageCatalog;
  quotas: Quotas;
  audit: AuditTrail;
  metrics: Metrics;
  /** Set once shutdown begins: new runs are refused. */
  state: { readonly draining: boolean };
  /** How long a run may wait for its key's share and a slot (its timeout_ms is the program's own). */
  queueTimeoutMs: number;
}

export class RunService {
  /** Runs in progress, from parsing to their audit record's end: a graceful stop waits for them. */
  private readonly inFlight = new InFlight();

  constructor(private readonly deps: RunServiceDeps) {}

  /** Resolves once no run is in progress (their audit records written). */
  settle(): Promise<void> {
    return this.inFlight.settle();
  }

  run(call: RunCall): Promise<RunResponse> {
    return this.inFlight.add(this.carryOut(call));
  }

  private async carryOut(call: RunCall): Promise<RunResponse> {
    const { runner, catalog, quotas, audit, metrics, state } = this.deps;
    const { principal, quota, log, signal, clock } = call;
    if (state.draining) throw new ShuttingDownError();
    const receivedAt = Date.now();
    const job = (call.parser ?? this.deps.parser).parse(call.request, principal.limits);
    // Before anything is counted or created: a dependency that cannot be met is the request's fault (400).
    const dependencies = await catalog.resolve(job.dependencies);
    const origin: RunOrigin = { keyId: principal.keyId, requestId: call.requestId, receivedAt, job };
    const reservation = await quotas.reserveRun(principal, quota, log, receivedAt);
    /** Set once the run's record exists: from then on, however the run ends, its record is ended too. */
    let started: { id: string; at: number } | undefined;
    let result: RunResult;
    try {
      // It queues for at most the queue timeout; then its install and its program have timeout_ms each.
      const waitUntil = receivedAt + this.deps.queueTimeoutMs;
      const releaseShare = await quotas.shareFor(principal, { waitUntil, endsBy: waitUntil + 2 * job.timeoutMs }, signal, log);
      const ownShare = principal.keyId !== null && principal.limits.maxConcurrent !== null;
      try {
        const admitted = await runner.admit(job, {
          cancel: signal,
          receivedAt,
          holdSlotUntil: ownShare ? undefined : call.delivered,
          tenant: principal.keyId ?? '',
          wheels: dependencies.wheels,
          clock,
        });
        try {
          await audit.begin(origin, admitted, log);
        } catch (err) {
          admitted.abandon();
          throw err;
        }
        clock.lap('record');
        started = { id: admitted.id, at: Date.now() };
        reservation.started();
        result = await admitted.start(call.live);
      } finally {
        void call.delivered.then(releaseShare, releaseShare);
      }
    } catch (caught) {
      throw await this.failed(caught, call, origin, reservation, started);
    } finally {
      // A run that never started (refused, cancelled, failed to start) does not count against the day.
      reservation.settle();
    }
    await audit.finish(result, log);
    clock.lap('record');
    const phases = clock.snapshot();
    metrics.runEnded(result.status, result.durationMs, result.queuedMs, phases);
    log.info(
      { runId: result.id, keyId: principal.keyId, status: result.status, exitCode: result.exitCode, sandbox: clock.source, phases },
      'run ended',
    );
    return runResponse(result, dependencies.packages);
  }

  /** Accounts for a run that failed after it spent something (a container, a record); returns the answer. */
  private async failed(
    caught: unknown,
    { principal, log, clock }: RunCall,
    origin: RunOrigin,
    reservation: { started(): void },
    started: { id: string; at: number } | undefined,
  ): Promise<unknown> {
    const { audit, metrics } = this.deps;
    // Its whole time went into waiting: Server-Timing says so.
    if (caught instanceof QueueTimeoutError) clock.lap('queue');
    let err = caught;
    let spent = started;
    if (caught instanceof InstallSpentError) {
      // Its own dependency install failed: a container ran for it, so it counts as the key's run and is in
      // the audit trail under the install's id, whatever the install's answer was.
      err = caught.original;
      reservation.started();
      try {
        await audit.begin(origin, { id: caught.installId, queuedMs: 0 }, log);
        spent = { id: caught.installId, at: Date.now() - caught.durationMs };
      } catch (auditErr) {
        log.error({ err: auditErr, runId: caught.installId }, 'the audit trail could not record a failed install');
      }
      if (err instanceof RunboxError) err.headers['X-Runbox-Run-Id'] = caught.installId;
    }
    if (spent) {
      const code = err instanceof RunboxError ? err.code : 'internal';
      metrics.runFailed(code, clock.snapshot());
      await audit.failed(spent.id, code, Date.now() - spent.at, log);
      log.info({ runId: spent.id, keyId: principal.keyId, failed: code, phases: clock.snapshot() }, 'run ended');
    }
    return err;
  }
}
