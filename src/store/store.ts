/**
 * What runbox keeps between requests and across replicas: API keys, the state of their limits (rate buckets,
 * runs per day, concurrent-run leases) and the audit trail. One interface, two implementations over the same
 * SQL (sql-store.ts): SQLite in RUNBOX_DATA_DIR (the default, embedded) and PostgreSQL at RUNBOX_DATABASE_URL
 * (shared by replicas). Only a key's SHA-256 is stored, never the key.
 */

export type KeyEnv = 'test' | 'prod';

/** Per-key limits; null: none (the server's own limits still apply). */
export interface KeyLimits {
  /** Requests per second, as a token bucket holding one second's worth. */
  ratePerSecond: number | null;
  /** Runs at once, across every replica sharing the store. */
  maxConcurrent: number | null;
  /** Runs started per UTC day. */
  dailyRuns: number | null;
  maxTimeoutMs: number | null;
  maxMemoryMb: number | null;
}

export const NO_LIMITS: KeyLimits = { ratePerSecond: null, maxConcurrent: null, dailyRuns: null, maxTimeoutMs: null, maxMemoryMb: null };

export interface KeyRecord {
  id: string;
  name: string;
  description: string | null;
  env: KeyEnv;
  /** The key's first characters (`rbx_test_ab12`), to recognise it by; not enough to use it. */
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  limits: KeyLimits;
}

export interface NewKey {
  id: string;
  name: string;
  description: string | null;
  env: KeyEnv;
  prefix: string;
  /** Hex SHA-256 of the key. */
  hash: string;
  createdAt: number;
  limits: KeyLimits;
}

/** A key's rate bucket after a request took (or failed to take) a token. */
export interface Bucket {
  allowed: boolean;
  /** Tokens left, fractional. */
  tokens: number;
}

/** An artifact as the audit trail keeps it: never its content unless content is kept. */
export interface ArtifactDigest {
  path: string;
  size: number;
  sha256: string;
}

/** What is known of a run when it starts: its record exists before the program gets its job. */
export interface RunStart {
  id: string;
  /** Null in keyless (loopback) mode; `bootstrap` for RUNBOX_API_KEY. */
  keyId: string | null;
  requestId: string;
  receivedAt: number;
  startedAt: number;
  queuedMs: number;
  /** Decoded bytes of code, files and stdin. */
  bytesIn: number;
  /** SHA-256 (hex) of the entrypoint's source. */
  codeSha256: string;
  imageId: string | null;
}

/** What is known once it ended. */
export interface RunEnd {
  endedAt: number;
  status: string;
  exitCode: number | null;
  durationMs: number;
  cpuMs: number | null;
  maxRssKb: number | null;
  /** Bytes of stdout, stderr and artifacts returned. */
  bytesOut: number;
  artifacts: ArtifactDigest[];
  /** Code, stdin and outputs: only with RUNBOX_AUDIT_STORE_CONTENT=1. */
  content: unknown;
}

/** One run in the audit trail; `status` is `running` until it ended (and stays so if its end could not be written). */
export type RunRecord = RunStart & { endedAt: number | null; status: string } & Partial<Omit<RunEnd, 'endedAt' | 'status'>>;

export interface Store {
  /** Where the data lives, for messages: a file path, or the database URL without its password. */
  readonly location: string;
  addKey(key: NewKey): Promise<void>;
  listKeys(): Promise<KeyRecord[]>;
  /** The key with this hash, revoked or not. */
  keyByHash(hash: string): Promise<KeyRecord | undefined>;
  /** Whether any key that is not revoked exists: then every request needs one. */
  hasActiveKeys(): Promise<boolean>;
  /** Marks the key revoked; false when no such key exists. Revoking twice keeps the first time. */
  revokeKey(id: string, at: number): Promise<boolean>;
  /** Changes the given limits (null clears one); undefined when no such key exists. */
  setKeyLimits(id: string, limits: Partial<KeyLimits>): Promise<KeyRecord | undefined>;
  touchKey(id: string, at: number): Promise<void>;

  /** Takes one token from the key's bucket (`rate` per second, holding at most `rate`), if it has one. */
  takeToken(keyId: string, rate: number, now: number): Promise<Bucket>;
  /** Counts one more run for the key on `day` unless it has `limit` already; the count after. */
  countRun(keyId: string, day: string, limit: number): Promise<{ allowed: boolean; runs: number }>;
  /** Takes back a count for a run that never started. */
  uncountRun(keyId: string, day: string): Promise<void>;
  runsOn(keyId: string, day: string): Promise<number>;
  /** Holds one of the key's `limit` concurrent-run leases until released or `expiresAt`; false when all are held. */
  acquireLease(lease: { id: string; keyId: string; expiresAt: number }, limit: number, now: number): Promise<boolean>;
  releaseLease(id: string): Promise<void>;

  beginRun(run: RunStart, content: unknown): Promise<void>;
  finishRun(id: string, end: RunEnd): Promise<void>;
  runById(id: string): Promise<(RunRecord & { content: unknown }) | undefined>;
  /** Deletes runs received before `before`, and limit state no longer needed at `now`; how many runs went. */
  purge(before: number, now: number): Promise<number>;
  close(): Promise<void>;
}

/** The store cannot be opened or used: the message names it (never a password). */
export class StoreError extends Error {}

/** A bucket holds one second's worth of tokens, and at least one (else a rate below 1/s could never be met). */
export const bucketCapacity = (rate: number): number => Math.max(1, rate);

/** The UTC day of an instant, as runs per day are counted (the `day` of countRun and runsOn): YYYY-MM-DD. */
export const utcDay = (at: number): string => new Date(at).toISOString().slice(0, 10);

/** A row as both databases return it (PostgreSQL gives BIGINT columns as strings). */
export interface KeyRow {
  id: string;
  name: string;
  description: string | null;
  env: string;
  prefix: string;
  created_at: number | string;
  last_used_at: number | string | null;
  revoked_at: number | string | null;
  rate_per_second: number | string | null;
  max_concurrent: number | string | null;
  daily_runs: number | string | null;
  max_timeout_ms: number | string | null;
  max_memory_mb: number | string | null;
}

export const num = (value: number | string | null): number | null => (value === null ? null : Number(value));

export function keyFromRow(row: KeyRow): KeyRecord {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    env: row.env as KeyEnv,
    prefix: row.prefix,
    createdAt: Number(row.created_at),
    lastUsedAt: num(row.last_used_at),
    revokedAt: num(row.revoked_at),
    limits: {
      ratePerSecond: num(row.rate_per_second),
      maxConcurrent: num(row.max_concurrent),
      dailyRuns: num(row.daily_runs),
      maxTimeoutMs: num(row.max_timeout_ms),
      maxMemoryMb: num(row.max_memory_mb),
    },
  };
}

/** Limit fields and their columns, for updates built from a partial set. */
export const LIMIT_COLUMNS: Record<keyof KeyLimits, string> = {
  ratePerSecond: 'rate_per_second',
  maxConcurrent: 'max_concurrent',
  dailyRuns: 'daily_runs',
  maxTimeoutMs: 'max_timeout_ms',
  maxMemoryMb: 'max_memory_mb',
};

export const KEY_COLUMNS = `id, name, description, env, prefix, created_at, last_used_at, revoked_at, ${Object.values(LIMIT_COLUMNS).join(', ')}`;

/** The limits given, as [field, value] pairs of known fields only: column names never come from the caller's keys. */
export function limitFields(limits: Partial<KeyLimits>): [keyof KeyLimits, number | null][] {
  return (Object.keys(LIMIT_COLUMNS) as (keyof KeyLimits)[])
    .filter((field) => Object.hasOwn(limits, field) && limits[field] !== undefined)
    .map((field) => [field, limits[field] as number | null]);
}
