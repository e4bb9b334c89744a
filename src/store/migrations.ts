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
];

/** A store migrated by a newer runbox may not be understood by this one: refuse it rather than misread it. */
export function checkSchemaKnown(applied: Set<number>): void {
  const known = Math.max(...MIGRATIONS.map((m) => m.version));
  const newest = Math.max(0, ...applied);
  if (newest > known) {
    throw new Error(`its schema is version ${newest}, newer than this runbox knows (${known}); upgrade runbox`);
  }
}
