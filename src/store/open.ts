/** The store the configuration names: PostgreSQL when RUNBOX_DATABASE_URL is set, else SQLite in RUNBOX_DATA_DIR. */
import { openPostgres } from './postgres';
import { openSqlite } from './sqlite';
import type { StoreConfig } from '../config';
import type { Store } from './store';

export async function openStore({ dataDir, databaseUrl }: StoreConfig): Promise<Store> {
  return databaseUrl !== undefined ? openPostgres(databaseUrl) : openSqlite(dataDir);
}
