/** The embedded store: one SQLite file in RUNBOX_DATA_DIR, in WAL mode so the CLI and the server can share it. */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Queries, SqlDriver } from './driver';
import { checkSchemaKnown, MIGRATIONS } from './migrations';
import { sqlStore } from './sql-store';
import { StoreError, type Store } from './store';

export const SQLITE_FILE = 'runbox.db';

/** SQLite reads `$1` as a parameter named "1". */
const named = (values: unknown[]) => Object.fromEntries(values.map((value, i) => [i + 1, value ?? null]));

function openDatabase(path: string, dataDir: string): Database.Database {
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
    return db;
  } catch (err) {
    db?.close();
    // A corrupt or foreign file is reported, never replaced: it may hold the only copy of the keys.
    throw new StoreError(`cannot open the SQLite store ${path}: ${(err as Error).message}`);
  }
}

export function sqliteDriver(dataDir: string): SqlDriver {
  const path = join(dataDir, SQLITE_FILE);
  const db = openDatabase(path, dataDir);
  const statements = new Map<string, Database.Statement>();

  const direct: Queries = {
    all<R extends object>(what: string, sql: string, values: unknown[] = []): Promise<R[]> {
      try {
        let statement = statements.get(sql);
        if (!statement) statements.set(sql, (statement = db.prepare(sql)));
        const params = named(values);
        return Promise.resolve(statement.reader ? (statement.all(params) as R[]) : (statement.run(params), []));
      } catch (err) {
        return Promise.reject(new StoreError(`the SQLite store ${path} failed (${what}): ${(err as Error).message}`));
      }
    },
  };
  // One connection: a transaction's statements must not interleave with other requests' (at its awaits).
  let turn: Promise<unknown> = Promise.resolve();
  let inTransaction = false;

  return {
    location: path,
    all: (what, sql, values) => (inTransaction ? turn.then(() => direct.all(what, sql, values)) : direct.all(what, sql, values)),
    transaction<T>(what: string, work: (tx: Queries) => Promise<T>): Promise<T> {
      const run = turn.then(async () => {
        inTransaction = true;
        try {
          await direct.all(what, 'BEGIN IMMEDIATE');
          try {
            const result = await work(direct);
            await direct.all(what, 'COMMIT');
            return result;
          } catch (err) {
            try {
              if (db.inTransaction) db.exec('ROLLBACK');
            } catch {
              // The original failure is the one to report; SQLite rolls back a broken transaction itself.
            }
            throw err;
          }
        } finally {
          inTransaction = false;
        }
      });
      turn = run.catch(() => undefined);
      return run;
    },
    close: () => {
      try {
        db.close();
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(new StoreError(`the SQLite store ${path} failed (close): ${(err as Error).message}`));
      }
    },
  };
}

export function openSqlite(dataDir: string): Store {
  return sqlStore(sqliteDriver(dataDir));
}
