/**
 * Where a run's time goes, phase by phase, as this server measured it: what the Server-Timing header, the
 * `run ended` log line and the per-phase histogram report. One clock per run, started when its request
 * arrived; each phase is the time from the end of the one before to its own end, so the phases add up to
 * the run's time in the server.
 */

/** In the order a run goes through them. */
export const PHASES = ['queue', 'acquire', 'install', 'upload', 'program', 'collect', 'record'] as const;
export type Phase = (typeof PHASES)[number];

/** What each phase covers: the Server-Timing descriptions, the metric's help and the docs say the same. */
export const PHASE_MEANINGS: Record<Phase, string> = {
  queue: "the request read and checked, then waiting for the key's share and a run slot",
  acquire: 'a sandbox: a warm one from the pool, or a new container',
  install: 'its dependency set, when not installed yet',
  upload: 'the job (code, stdin, files) packed and handed to the sandbox',
  program: 'the program, from the job handed in to its exit',
  collect: 'output and artifacts read and checked',
  record: 'audit trail and metrics',
};

/** How the sandbox was got: from the warm pool (plain or preloaded), or created for the run. */
export type SandboxSource = 'pool' | 'preloaded' | 'created';

/** Milliseconds per phase; a phase the run did not go through is absent. */
export type PhaseTimes = Partial<Record<Phase, number>>;

export class PhaseClock {
  private last: number;
  private readonly times: PhaseTimes = {};
  /** Set once the run has its sandbox. */
  source: SandboxSource | undefined;

  /** `startedAt`: the request's arrival, on the performance.now() clock (now by default). */
  constructor(private readonly startedAt = performance.now()) {
    this.last = startedAt;
  }

  /** Milliseconds since the request arrived, rounded to 0.1 ms. */
  elapsed(): number {
    return Math.round((performance.now() - this.startedAt) * 10) / 10;
  }

  /** Ends `phase` now: it is credited the time since the last phase ended (added to it, if it came before). */
  lap(phase: Phase): number {
    const now = performance.now();
    const spent = Math.max(0, now - this.last);
    this.times[phase] = (this.times[phase] ?? 0) + spent;
    this.last = now;
    return spent;
  }

  /** Credits `ms` of what has passed since the last lap to `phase`, and moves the clock on by that much. */
  credit(phase: Phase, ms: number): void {
    const spent = Math.max(0, Math.min(ms, performance.now() - this.last));
    this.times[phase] = (this.times[phase] ?? 0) + spent;
    this.last += spent;
  }

  /** The phases so far, in their order, rounded to 0.1 ms. */
  snapshot(): PhaseTimes {
    const out: PhaseTimes = {};
    for (const phase of PHASES) {
      const ms = this.times[phase];
      if (ms !== undefined) out[phase] = Math.round(ms * 10) / 10;
    }
    return out;
  }
}
