/** The store the configuration names: PostgreSQL when RUNBOX_DATABASE_URL is set, else SQLite in RUNBOX_DATA_DIR. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openPostgres } from './postgres';
import { openSqlite, SQLITE_FILE } from './sqlite';
import type { StoreConfig } from '../config';
import type { Store } from './store';

export async function openStore({ dataDir, databaseUrl }: StoreConfig): Promise<Store> {
  return databaseUrl !== undefined ? openPostgres(databaseUrl) : openSqlite(dataDir);
}

/** The SQLite file, when the store is SQLite. */
export function sqlitePath({ dataDir, databaseUrl }: StoreConfig): string | undefined {
  return databaseUrl === undefined ? join(dataDir, SQLITE_FILE) : undefined;
}

/** Whether the store has been made: PostgreSQL's is the operator's to make, so it counts as there. */
export function storeExists(config: StoreConfig): boolean {
  const path = sqlitePath(config);
  return path === undefined || existsSync(path);
}

/** Which store, and what chose it, for people: a PostgreSQL URL without its password. */
export function describeStore(config: StoreConfig): string {
  const path = sqlitePath(config);
  if (path === undefined) {
    const url = new URL(config.databaseUrl!);
    if (url.password) url.password = '***';
    return `PostgreSQL at ${url.toString()} (RUNBOX_DATABASE_URL)`;
  }
  return `SQLite at ${path} (${config.dataDirFrom === 'RUNBOX_DATA_DIR' ? 'RUNBOX_DATA_DIR' : "this user's default; RUNBOX_DATA_DIR overrides it"})`;
}

/**
 * Before the per-user default, the default was ./data: a store found there while the default is in use is
 * probably the one the user means, so say how to keep it rather than silently start afresh.
 */
export function earlierDefaultStoreHint(config: StoreConfig, cwd = process.cwd()): string | undefined {
  const earlier = join(cwd, 'data', SQLITE_FILE);
  if (config.databaseUrl !== undefined || config.dataDirFrom !== 'default' || !existsSync(earlier)) return undefined;
  return `${earlier} is a store made where the default was ./data; to keep using it, set RUNBOX_DATA_DIR=${join(cwd, 'data')}`;
}
