/**
 * What every store must do, as one suite run on each: store.test.ts on SQLite (unit), and
 * test/integration/store-postgres.test.ts on a real PostgreSQL 15 server.
 */
import { hashKey, KEY_FORMAT, makeKey } from '../../src/keys/api-keys';
import { NO_LIMITS, StoreError, type Store } from '../../src/store/store';

export interface OpenedStore {
  store: Store;
  /** The same data opened again (a restart). */
  reopen(): Promise<Store>;
  done(): Promise<void>;
}

export function storeContract(kind: string, open: () => Promise<OpenedStore>): void {
  describe(`the ${kind} store`, () => {
    let opened: OpenedStore;
    let store: Store;
    beforeAll(async () => {
      opened = await open();
      store = opened.store;
    });
    afterAll(() => opened.done());

    it('starts with no keys, and keeps only a hash of each key', async () => {
      expect(await store.listKeys()).toEqual([]);
      expect(await store.hasActiveKeys()).toBe(false);
      const { key, record } = makeKey({ name: 'ci', env: 'test', limits: { ...NO_LIMITS, maxTimeoutMs: 30_000 }, now: 1000 });
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
        limits: { ...NO_LIMITS, maxTimeoutMs: 30_000 },
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
        limits: { ...NO_LIMITS, maxMemoryMb: 256 },
      });
      expect(await store.setKeyLimits(record.id, { maxMemoryMb: null, maxTimeoutMs: 1000 })).toMatchObject({
        limits: { ...NO_LIMITS, maxTimeoutMs: 1000 },
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
    it('keeps every limit of a key, and changes each on its own', async () => {
      const limits = { ratePerSecond: 2.5, maxConcurrent: 3, dailyRuns: 100, maxTimeoutMs: 5000, maxMemoryMb: 128 };
      const { record } = makeKey({ name: 'limited', env: 'test', limits });
      await store.addKey(record);
      expect((await store.listKeys()).find((k) => k.id === record.id)?.limits).toEqual(limits);
      expect((await store.setKeyLimits(record.id, { ratePerSecond: null, dailyRuns: 7 }))?.limits).toEqual({
        ...limits,
        ratePerSecond: null,
        dailyRuns: 7,
      });
    });

    it('rate buckets: start full at one second of tokens, refill with time, and refuse when empty', async () => {
      const take = (now: number) => store.takeToken('key_rate', 2, now);
      expect(await take(10_000)).toEqual({ allowed: true, tokens: 1 });
      expect(await take(10_000)).toEqual({ allowed: true, tokens: 0 });
      expect(await take(10_000)).toEqual({ allowed: false, tokens: 0 });
      expect(await take(10_250)).toEqual({ allowed: false, tokens: 0.5 });
      expect(await take(10_500)).toEqual({ allowed: true, tokens: 0 });
      // Never more than one second's worth, however long it was idle; a clock behind does not refill it.
      expect(await take(60_000)).toEqual({ allowed: true, tokens: 1 });
      expect(await take(50_000)).toEqual({ allowed: true, tokens: 0 });
    });

    it('rate buckets: concurrent takers never get more tokens than there are', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => store.takeToken('key_race', 5, 1000)));
      expect(results.filter((r) => r.allowed)).toHaveLength(5);
    });

    it('runs per day: counted up to the limit, per key and day, and given back for runs that never started', async () => {
      const count = () => store.countRun('key_daily', '2026-11-22', 2);
      expect(await count()).toEqual({ allowed: true, runs: 1 });
      expect(await count()).toEqual({ allowed: true, runs: 2 });
      expect(await count()).toEqual({ allowed: false, runs: 2 });
      expect(await store.countRun('key_daily', '2026-11-23', 2)).toEqual({ allowed: true, runs: 1 });
      await store.uncountRun('key_daily', '2026-11-22');
      expect(await store.runsOn('key_daily', '2026-11-22')).toBe(1);
      expect(await store.runsOn('key_other', '2026-11-22')).toBe(0);
      const racing = await Promise.all(Array.from({ length: 10 }, () => store.countRun('key_daily_race', '2026-11-22', 4)));
      expect(racing.filter((r) => r.allowed)).toHaveLength(4);
    });

    it('concurrency leases: at most the limit held at once, freed by release or expiry', async () => {
      const lease = (id: string, expiresAt = 100_000) => store.acquireLease({ id, keyId: 'key_conc', expiresAt }, 2, 1000);
      const racing = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => lease(id)));
      expect(racing.filter(Boolean)).toHaveLength(2);
      const held = ['a', 'b', 'c', 'd', 'e'].filter((_, i) => racing[i]);
      await store.releaseLease(held[0]);
      expect(await lease('f', 2000)).toBe(true);
      expect(await lease('g')).toBe(false);
      // A lease past its expiry (a replica that died holding it) no longer counts.
      expect(await store.acquireLease({ id: 'h', keyId: 'key_conc', expiresAt: 100_000 }, 2, 2000)).toBe(true);
    });

    it('audit records: written at the start, completed at the end, purged after retention', async () => {
      const start = {
        id: 'run_audit1',
        keyId: 'key_a',
        requestId: 'req-1',
        receivedAt: 1000,
        startedAt: 1200,
        queuedMs: 200,
        bytesIn: 42,
        codeSha256: 'ab'.repeat(32),
        imageId: 'sha256:feed',
      };
      await store.beginRun(start, { code: 'print(1)' });
      expect(await store.runById('run_audit1')).toMatchObject({
        ...start,
        status: 'running',
        endedAt: null,
        content: { code: 'print(1)' },
      });
      const artifacts = [{ path: 'out.csv', size: 3, sha256: 'cd'.repeat(32) }];
      await store.finishRun('run_audit1', {
        endedAt: 1500,
        status: 'ok',
        exitCode: 0,
        durationMs: 300,
        cpuMs: 120,
        maxRssKb: 9000,
        bytesOut: 10,
        artifacts,
        content: { stdout: '1\n' },
      });
      expect(await store.runById('run_audit1')).toEqual({
        ...start,
        endedAt: 1500,
        status: 'ok',
        exitCode: 0,
        durationMs: 300,
        cpuMs: 120,
        maxRssKb: 9000,
        bytesOut: 10,
        artifacts,
        content: { code: 'print(1)', stdout: '1\n' },
      });
      await store.beginRun({ ...start, id: 'run_audit2', receivedAt: 5000 }, null);
      expect((await store.runById('run_audit2'))?.content).toBeNull();
      await store.finishRun('run_audit2', {
        endedAt: 6000,
        status: 'error',
        exitCode: 1,
        durationMs: 5,
        cpuMs: null,
        maxRssKb: null,
        bytesOut: 0,
        artifacts: [],
        content: null,
      });
      expect(await store.runById('run_audit2')).toMatchObject({ status: 'error', exitCode: 1, content: null });
      await expect(
        store.finishRun('run_none', {
          endedAt: 1,
          status: 'ok',
          exitCode: 0,
          durationMs: 1,
          cpuMs: null,
          maxRssKb: null,
          bytesOut: 0,
          artifacts: [],
          content: null,
        }),
      ).rejects.toThrow(StoreError);
      expect(await store.purge(2000, 10_000)).toBe(1);
      expect(await store.runById('run_audit1')).toBeUndefined();
      expect(await store.runById('run_audit2')).toBeDefined();
      expect(await store.runById('run_none')).toBeUndefined();
    });
  });
}
