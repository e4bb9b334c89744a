/**
 * Prometheus metrics (prom-client), served at GET /metrics. Labels take only values from fixed sets (run
 * statuses, error codes, engine operations): never a key, an id or code, so cardinality stays bounded.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ERROR_CODES } from '../errors';
import { PHASES, type PhaseTimes } from '../sandbox/phases';

/** What the gauges read when scraped. */
export interface Observed {
  liveContainers: () => number;
  poolIdle: () => number;
  queueDepth: () => number;
  keyShareWaiting: () => number;
  slotsInUse: () => number;
}

/** Seconds: from a quick warm run to the longest timeout. */
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Seconds: phases run from well under a millisecond (a warm member taken) to a run's whole timeout. */
const PHASE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const ENGINE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15];

/** Error codes as rejection reasons; `invalid_request` is `invalid`. Anything else is not a known reason. */
const reasonOf = (code: string): string | undefined =>
  code === 'invalid_request' ? 'invalid' : code === 'client_closed_request' ? 'client_gone' : code in ERROR_CODES ? code : undefined;

export class Metrics {
  readonly registry = new Registry();
  private readonly runs = new Counter({
    name: 'runbox_runs_total',
    help: 'Runs that ended, by status (ok, error, timeout, oom, output_limit, ...), or by error code if the service failed them.',
    labelNames: ['status'],
    registers: [this.registry],
  });
  private readonly runDuration = new Histogram({
    name: 'runbox_run_duration_seconds',
    help: "Runs' wall time in their sandbox, from the job's arrival to the program's exit.",
    buckets: RUN_BUCKETS,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'runbox_queue_wait_seconds',
    help: 'Time runs waited for a slot (and a sandbox) before starting.',
    buckets: RUN_BUCKETS,
    registers: [this.registry],
  });
  private readonly phaseDuration = new Histogram({
    name: 'runbox_run_phase_seconds',
    help: `Where runs' time went, by phase (${PHASES.join(', ')}): what each run's Server-Timing header reports.`,
    labelNames: ['phase'],
    buckets: PHASE_BUCKETS,
    registers: [this.registry],
  });
  private readonly rejections = new Counter({
    name: 'runbox_rejections_total',
    help: 'Requests refused, by reason: busy, rate_limited, quota_exceeded, unauthorized, invalid, and the other error codes.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly engineCalls = new Histogram({
    name: 'runbox_engine_call_duration_seconds',
    help: 'Docker engine calls, by operation (wait, which lasts as long as its container, is left out).',
    labelNames: ['operation'],
    buckets: ENGINE_BUCKETS,
    registers: [this.registry],
  });
  private readonly engineErrors = new Counter({
    name: 'runbox_engine_call_errors_total',
    help: 'Docker engine calls that failed or timed out, by operation.',
    labelNames: ['operation'],
    registers: [this.registry],
  });
  private readonly auditFailures = new Counter({
    name: 'runbox_audit_write_failures_total',
    help: 'Audit records the store could not take (the run was not started, or its result withheld).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The gauges, read from the live service at each scrape. */
  observe(observed: Observed): void {
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    gauge('runbox_live_containers', 'Sandbox containers alive now (running, starting, warm or being removed).', observed.liveContainers);
    gauge('runbox_pool_idle', 'Warm pool members ready for a run.', observed.poolIdle);
    // What the autoscaler reads: only requests more replicas could serve. A request waiting for its own key's
    // concurrency share would wait as long on any replica, so it has its own series.
    gauge('runbox_queue_depth', 'Requests waiting for a run slot (server capacity).', observed.queueDepth);
    gauge(
      'runbox_key_share_waiting',
      "Requests waiting for their own key's concurrency share (more replicas would not serve them sooner).",
      observed.keyShareWaiting,
    );
    gauge('runbox_slots_in_use', 'Run slots taken.', observed.slotsInUse);
  }

  runEnded(status: string, durationMs: number, queuedMs: number, phases: PhaseTimes): void {
    this.runs.inc({ status });
    this.runDuration.observe(durationMs / 1000);
    this.queueWait.observe(queuedMs / 1000);
    this.observePhases(phases);
  }

  /** A run that started and then failed (engine, shutdown, fault): counted under its error code. */
  runFailed(code: string, phases: PhaseTimes): void {
    if (reasonOf(code) !== undefined) this.runs.inc({ status: code });
    this.observePhases(phases);
  }

  private observePhases(phases: PhaseTimes): void {
    for (const phase of PHASES) {
      const ms = phases[phase];
      if (ms !== undefined) this.phaseDuration.observe({ phase }, ms / 1000);
    }
  }

  rejected(code: string): void {
    const reason = reasonOf(code);
    if (reason !== undefined) this.rejections.inc({ reason });
  }

  engineCall(operation: string, seconds: number, failed: boolean): void {
    // A wait lasts as long as its container runs: that is the run's duration, not the engine's latency.
    if (operation !== 'wait') this.engineCalls.observe({ operation }, seconds);
    if (failed) this.engineErrors.inc({ operation });
  }

  auditWriteFailed(): void {
    this.auditFailures.inc();
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
