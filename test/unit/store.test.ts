/** One suite, both stores: SQLite in a temp dir, and a real PostgreSQL 15 server started for it. */
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashKey, KEY_FORMAT, makeKey } from '../../src/keys/api-keys';
import { openPostgres, redactedUrl } from '../../src/store/postgres';
import { openSqlite, SQLITE_FILE } from '../../src/store/sqlite';
import { NO_LIMITS, StoreError, type Store } from '../../src/store/store';
import { testDataDir } from '../support/config';
import { startPostgres } from '../support/postgres';

type Opened = { store: Store; reopen(): Promise<Store>; done(): Promise<void> };

const kinds: [string, () => Promise<Opened>][] = [
  [
    'SQLite',
    async () => {
      const dir = testDataDir();
      const store = openSqlite(dir);
      return { store, reopen: async () => openSqlite(dir), done: () => store.close() };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const server = startPostgres();
      const store = await openPostgres(server.url);
      return {
        store,
        reopen: () => openPostgres(server.url),
        done: async () => {
          await store.close();
          server.stop();
        },
      };
    },
  ],
];

describe.each(kinds)('the %s store', (_kind, open) => {
  let opened: Opened;
  let store: Store;
  beforeAll(async () => {
    opened = await open();
    store = opened.store;
  });
  afterAll(() => opened.done());

  it('starts with no keys, and keeps only a hash of each key', async () => {
    expect(await store.listKeys()).toEqual([]);
    expect(await store.hasActiveKeys()).toBe(false);
    const { key, record } = makeKey({ name: 'ci', env: 'test', limits: { maxTimeoutMs: 30_000, maxMemoryMb: null }, now: 1000 });
    expect(key).toMatch(KEY_FORMAT);
    await store.addKey(record);
    const [listed] = await store.listKeys();
    expect(listed).toEqual({
      id: record.id,
      name: 'ci',
      description: null,
      env: 'test',
      prefix: key.slice(0, 13),
      createdAt: 1000,
      lastUsedAt: null,
      revokedAt: null,
      limits: { maxTimeoutMs: 30_000, maxMemoryMb: null },
    });
    expect(JSON.stringify(listed)).not.toContain(key.slice(13));
    expect(await store.keyByHash(hashKey(key))).toEqual(listed);
    expect(await store.keyByHash(hashKey(`${key}x`))).toBeUndefined();
    expect(await store.hasActiveKeys()).toBe(true);
  });

  it('records use, changes limits, revokes once', async () => {
    const { key, record } = makeKey({ name: 'agent', description: 'the agent platform', env: 'prod', limits: NO_LIMITS });
    await store.addKey(record);
    await store.touchKey(record.id, 5000);
    expect(await store.setKeyLimits(record.id, { maxMemoryMb: 256 })).toMatchObject({
      lastUsedAt: 5000,
      limits: { maxTimeoutMs: null, maxMemoryMb: 256 },
    });
    expect(await store.setKeyLimits(record.id, { maxMemoryMb: null, maxTimeoutMs: 1000 })).toMatchObject({
      limits: { maxTimeoutMs: 1000, maxMemoryMb: null },
    });
    expect(await store.setKeyLimits('key_none', { maxMemoryMb: 1 })).toBeUndefined();
    expect(await store.revokeKey(record.id, 7000)).toBe(true);
    expect(await store.revokeKey(record.id, 9000)).toBe(true);
    expect((await store.keyByHash(hashKey(key)))?.revokedAt).toBe(7000);
    expect(await store.revokeKey('key_none', 1)).toBe(false);
  });

  it('refuses a second key with the same hash, and survives reopening (migrations run once)', async () => {
    const { record } = makeKey({ name: 'dup', env: 'test', limits: NO_LIMITS });
    await store.addKey(record);
    await expect(store.addKey({ ...record, id: 'key_other' })).rejects.toThrow(StoreError);
    const again = await opened.reopen();
    try {
      expect((await again.listKeys()).map((k) => k.name)).toEqual(['ci', 'agent', 'dup']);
    } finally {
      await again.close();
    }
  });

  it('keeps concurrent adds and revokes whole', async () => {
    const made = Array.from({ length: 20 }, (_, i) => makeKey({ name: `k${i}`, env: 'test', limits: NO_LIMITS }).record);
    await Promise.all(made.map((record) => store.addKey(record)));
    await Promise.all(made.filter((_, i) => i % 2 === 0).map((record) => store.revokeKey(record.id, 1)));
    const keys = (await store.listKeys()).filter((k) => k.name.match(/^k\d+$/));
    expect(keys).toHaveLength(20);
    expect(keys.filter((k) => k.revokedAt !== null)).toHaveLength(10);
  });
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
