/**
 * The schema, as numbered steps applied in order at startup, each once, recorded in schema_migrations.
 * Each step has its SQL for both databases; a step is never edited once released, only followed by another.
 */
export interface Migration {
  version: number;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    sqlite: `
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT,
        env TEXT NOT NULL CHECK (env IN ('test', 'prod')),
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at INTEGER,
        max_timeout_ms INTEGER,
        max_memory_mb INTEGER
      );`,
    postgres: `
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT,
        env TEXT NOT NULL CHECK (env IN ('test', 'prod')),
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at BIGINT,
        max_timeout_ms INTEGER,
        max_memory_mb INTEGER
      );`,
  },
  {
    // Per-key limits beyond timeout and memory, their state, and the audit trail.
    version: 2,
    sqlite: `
      ALTER TABLE api_keys ADD COLUMN rate_per_second REAL;
      ALTER TABLE api_keys ADD COLUMN max_concurrent INTEGER;
      ALTER TABLE api_keys ADD COLUMN daily_runs INTEGER;
      CREATE TABLE rate_buckets (key_id TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE run_counts (key_id TEXT NOT NULL, day TEXT NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY (key_id, day));
      CREATE TABLE run_leases (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX run_leases_by_key ON run_leases (key_id, expires_at);
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        key_id TEXT,
        request_id TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        status TEXT NOT NULL,
        exit_code INTEGER,
        duration_ms INTEGER,
        queued_ms INTEGER NOT NULL,
        cpu_ms INTEGER,
        max_rss_kb INTEGER,
        bytes_in INTEGER NOT NULL,
        bytes_out INTEGER,
        code_sha256 TEXT NOT NULL,
        artifacts TEXT,
        image_id TEXT,
        content TEXT
      );
      CREATE INDEX runs_by_received ON runs (received_at);`,
    postgres: `
      ALTER TABLE api_keys ADD COLUMN rate_per_second DOUBLE PRECISION;
      ALTER TABLE api_keys ADD COLUMN max_concurrent INTEGER;
      ALTER TABLE api_keys ADD COLUMN daily_runs INTEGER;
      CREATE TABLE rate_buckets (key_id TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, updated_at BIGINT NOT NULL);
      CREATE TABLE run_counts (key_id TEXT NOT NULL, day TEXT NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY (key_id, day));
      CREATE TABLE run_leases (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, expires_at BIGINT NOT NULL);
      CREATE INDEX run_leases_by_key ON run_leases (key_id, expires_at);
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        key_id TEXT,
        request_id TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        status TEXT NOT NULL,
        exit_code INTEGER,
        duration_ms INTEGER,
        queued_ms INTEGER NOT NULL,
        cpu_ms BIGINT,
        max_rss_kb BIGINT,
        bytes_in BIGINT NOT NULL,
        bytes_out BIGINT,
        code_sha256 TEXT NOT NULL,
        artifacts TEXT,
        image_id TEXT,
        content TEXT
      );
      CREATE INDEX runs_by_received ON runs (received_at);`,
  },
];

/** A store migrated by a newer runbox may not be understood by this one: refuse it rather than misread it. */
export function checkSchemaKnown(applied: Set<number>): void {
  const known = Math.max(...MIGRATIONS.map((m) => m.version));
  const newest = Math.max(0, ...applied);
  if (newest > known) {
    throw new Error(`its schema is version ${newest}, newer than this runbox knows (${known}); upgrade runbox`);
  }
}
