/** The SQLite store: the store contract (store-contract.ts), and opening a store that is not right. */
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPostgres, redactedUrl } from '../../src/store/postgres';
import { openSqlite, SQLITE_FILE } from '../../src/store/sqlite';
import { StoreError } from '../../src/store/store';
import { testDataDir } from '../support/config';
import { storeContract } from './store-contract';

storeContract('SQLite', async () => {
  const dir = testDataDir();
  const store = openSqlite(dir);
  return { store, reopen: async () => openSqlite(dir), done: () => store.close() };
});

describe('opening a store that is not right', () => {
  it('refuses a store whose schema is newer than this runbox knows', () => {
    const dir = testDataDir();
    const store = openSqlite(dir);
    void store.close();
    const db = new Database(join(dir, SQLITE_FILE));
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)').run();
    db.close();
    expect(() => openSqlite(dir)).toThrow(/schema is version 999, newer than this runbox knows/);
  });

  it('reports a corrupt SQLite file, and leaves it as it was', () => {
    const dir = testDataDir();
    const garbage = 'this is not a database, but it may be somebody’s only copy of something'.repeat(100);
    writeFileSync(join(dir, SQLITE_FILE), garbage);
    expect(() => openSqlite(dir)).toThrow(/cannot open the SQLite store .*runbox\.db: file is not a database/);
    expect(readFileSync(join(dir, SQLITE_FILE), 'utf8')).toBe(garbage);
  });

  it('names RUNBOX_DATABASE_URL, without its password, when PostgreSQL cannot be reached', async () => {
    const url = 'postgresql://runbox:hunter2@localhost/runbox?host=/nonexistent-socket-dir';
    const failure = await openPostgres(url).catch((err: Error) => err);
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as Error).message).toMatch(/RUNBOX_DATABASE_URL postgresql:\/\/runbox:\*\*\*@localhost/);
    expect((failure as Error).message).not.toContain('hunter2');
    expect(redactedUrl('postgres://u:p@h/db')).toBe('postgres://u:***@h/db');
    expect(redactedUrl('postgres://u@h:5433/db?password=s3cret&sslpassword=x')).toBe('postgres://u@h:5433/db');
  });
});
