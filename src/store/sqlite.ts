/** The embedded store: one SQLite file in RUNBOX_DATA_DIR, in WAL mode so the CLI and the server can share it. */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkSchemaKnown, MIGRATIONS } from './migrations';
import {
  KEY_COLUMNS,
  keyFromRow,
  LIMIT_COLUMNS,
  limitFields,
  StoreError,
  type KeyLimits,
  type KeyRow,
  type NewKey,
  type Store,
} from './store';

export const SQLITE_FILE = 'runbox.db';

export function openSqlite(dataDir: string): Store {
  const path = join(dataDir, SQLITE_FILE);
  let db: Database.Database | undefined;
  try {
    mkdirSync(dataDir, { recursive: true });
    db = new Database(path);
    const opened = db;
    // Opening may wait for another process's migration or write (the CLI, a second server).
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    db.transaction(() => {
      const applied = new Set(
        (opened.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
      );
      checkSchemaKnown(applied);
      for (const step of MIGRATIONS) {
        if (applied.has(step.version)) continue;
        opened.exec(step.sqlite);
        opened.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(step.version, Date.now());
      }
    }).immediate();
    // Serving, a wait blocks the event loop (better-sqlite3 is synchronous): a write that cannot get the lock
    // at once fails instead (last-used times; the CLI's changes are short).
    db.pragma('busy_timeout = 250');
  } catch (err) {
    db?.close();
    // A corrupt or foreign file is reported, never replaced: it may hold the only copy of the keys.
    throw new StoreError(`cannot open the SQLite store ${path}: ${(err as Error).message}`);
  }

  const wrap = <T>(what: string, work: () => T): Promise<T> => {
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(new StoreError(`the SQLite store ${path} failed (${what}): ${(err as Error).message}`));
    }
  };
  const byId = db.prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ?`);

  return {
    location: path,
    addKey: (key: NewKey) =>
      wrap('add key', () => {
        db.prepare(
          `INSERT INTO api_keys (id, name, description, env, prefix, key_hash, created_at, max_timeout_ms, max_memory_mb)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          key.id,
          key.name,
          key.description,
          key.env,
          key.prefix,
          key.hash,
          key.createdAt,
          key.limits.maxTimeoutMs,
          key.limits.maxMemoryMb,
        );
      }),
    listKeys: () =>
      wrap('list keys', () =>
        (db.prepare(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`).all() as KeyRow[]).map(keyFromRow),
      ),
    keyByHash: (hash: string) =>
      wrap('find key', () => {
        const row = db.prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE key_hash = ?`).get(hash) as KeyRow | undefined;
        return row && keyFromRow(row);
      }),
    hasActiveKeys: () =>
      wrap('count keys', () => db.prepare('SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1').get() !== undefined),
    revokeKey: (id: string, at: number) =>
      wrap('revoke key', () => {
        db.prepare('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(at, id);
        return byId.get(id) !== undefined;
      }),
    setKeyLimits: (id: string, limits: Partial<KeyLimits>) =>
      wrap('set limits', () => {
        const fields = limitFields(limits);
        if (fields.length > 0) {
          const sets = fields.map(([field]) => `${LIMIT_COLUMNS[field]} = ?`).join(', ');
          db.prepare(`UPDATE api_keys SET ${sets} WHERE id = ?`).run(...fields.map(([, value]) => value), id);
        }
        const row = byId.get(id) as KeyRow | undefined;
        return row && keyFromRow(row);
      }),
    touchKey: (id: string, at: number) =>
      wrap('touch key', () => {
        db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(at, id);
      }),
    close: () => wrap('close', () => void db.close()),
  };
}
