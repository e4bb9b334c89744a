/**
 * The store the configuration names (src/config.ts storeConfig): PostgreSQL when RUNBOX_DATABASE_URL is set, else
 * SQLite in RUNBOX_DATA_DIR, else in this user's data folder.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openPostgres, redactedUrl } from './postgres';
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

/** Which store, and what chose it, for people: a PostgreSQL URL without its secrets. */
export function describeStore(config: StoreConfig): string {
  const path = sqlitePath(config);
  if (path === undefined) return `PostgreSQL at ${redactedUrl(config.databaseUrl!)} (RUNBOX_DATABASE_URL)`;
  return `SQLite at ${path} (${config.dataDirFrom === 'RUNBOX_DATA_DIR' ? 'RUNBOX_DATA_DIR' : "this user's default; RUNBOX_DATA_DIR overrides it"})`;
}

/**
 * Before the per-user default, the default was ./data. A store found there while the default is in use holds
 * keys, revocations and limits the user means to keep: starting afresh beside it would turn a server its keys
 * had locked into a keyless one. So the server and `runbox keys` stop on it, saying how to go on.
 */
export function earlierDefaultStore(config: StoreConfig, cwd = process.cwd()): string | undefined {
  const earlier = join(cwd, 'data', SQLITE_FILE);
  if (config.databaseUrl !== undefined || config.dataDirFrom !== 'default' || !existsSync(earlier)) return undefined;
  return `${earlier} is a store made where the default was ./data (the default is now ${config.dataDir}); to keep using it, set RUNBOX_DATA_DIR=${join(cwd, 'data')}, or move the folder to ${config.dataDir}`;
}
