/**
 * What runbox keeps between requests and across replicas: API keys so far. One interface, two
 * implementations: SQLite in RUNBOX_DATA_DIR (the default, embedded) and PostgreSQL at RUNBOX_DATABASE_URL
 * (shared by replicas). Only a key's SHA-256 is stored, never the key.
 */

export type KeyEnv = 'test' | 'prod';

/** Per-key ceilings on what a run may ask for; null: the server's own limit. */
export interface KeyLimits {
  maxTimeoutMs: number | null;
  maxMemoryMb: number | null;
}

export const NO_LIMITS: KeyLimits = { maxTimeoutMs: null, maxMemoryMb: null };

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
  close(): Promise<void>;
}

/** The store cannot be opened or used: the message names it (never a password). */
export class StoreError extends Error {}

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
  max_timeout_ms: number | string | null;
  max_memory_mb: number | string | null;
}

const num = (value: number | string | null): number | null => (value === null ? null : Number(value));

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
    limits: { maxTimeoutMs: num(row.max_timeout_ms), maxMemoryMb: num(row.max_memory_mb) },
  };
}

export const KEY_COLUMNS = 'id, name, description, env, prefix, created_at, last_used_at, revoked_at, max_timeout_ms, max_memory_mb';

/** Limit fields and their columns, for updates built from a partial set. */
export const LIMIT_COLUMNS: Record<keyof KeyLimits, string> = { maxTimeoutMs: 'max_timeout_ms', maxMemoryMb: 'max_memory_mb' };

/** The limits given, as [field, value] pairs of known fields only: column names never come from the caller's keys. */
export function limitFields(limits: Partial<KeyLimits>): [keyof KeyLimits, number | null][] {
  return (Object.keys(LIMIT_COLUMNS) as (keyof KeyLimits)[])
    .filter((field) => Object.hasOwn(limits, field) && limits[field] !== undefined)
    .map((field) => [field, limits[field] as number | null]);
}
