/**
 * The per-key limit flags of `runbox keys add` and `keys set`, apart from the store-opening code in keys.ts, so
 * that the command line can declare them without loading the store drivers.
 */
import { SETTINGS } from '../config';
import type { KeyLimits } from '../store/store';

/** The limit flags as commander gives them: camelCase of the flag (`--daily-runs` is `dailyRuns`). */
export type LimitOptions = Record<string, string | undefined>;

/** Each limit's flag and least value: no lower than any run can have (timeout, memory), or than one. */
export const LIMIT_FLAGS: Record<keyof KeyLimits, { flag: string; min: number; fractional?: boolean; doc: string }> = {
  ratePerSecond: { flag: 'rate', min: 0.01, fractional: true, doc: 'requests per second (a token bucket of one second)' },
  maxConcurrent: { flag: 'concurrency', min: 1, doc: 'runs at once, across replicas' },
  dailyRuns: { flag: 'daily-runs', min: 1, doc: 'runs per UTC day' },
  maxTimeoutMs: { flag: 'max-timeout-ms', min: SETTINGS.defaultTimeoutMs.min, doc: 'largest timeout_ms' },
  maxMemoryMb: { flag: 'max-memory-mb', min: SETTINGS.defaultMemoryMb.min, doc: 'largest memory_mb' },
};
