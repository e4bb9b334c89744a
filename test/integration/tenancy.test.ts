/**
 * Several keys on one server, against the real engine: the audit trail, runs per day, each key's share of
 * concurrent runs, fairness between keys in the queue, and what a store outage does to a run.
 */
import { createHash } from 'node:crypto';
import { makeKey } from '../../src/keys/api-keys';
import { openPostgres } from '../../src/store/postgres';
import { NO_LIMITS, type KeyLimits, type Store } from '../../src/store/store';
import { eventually, programRunning, runContainers, startServer } from '../support/engine';
import { getRecord, postRun, type Json } from '../support/http';
import { startPostgres } from '../support/postgres';

type Server = Awaited<ReturnType<typeof startServer>>;

const BOOTSTRAP = 'bootstrap-key-for-tests-0123456789';

async function addKey(store: Store, name: string, limits: Partial<KeyLimits> = {}): Promise<string> {
  const made = makeKey({ name, env: 'test', limits: { ...NO_LIMITS, ...limits } });
  await store.addKey(made.record);
  return made.key;
}

const runAs = (server: Server, key: string, body: object, headers: Record<string, string> = {}) =>
  postRun(server.url, body, { headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers } });

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the audit trail', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer({ RUNBOX_POOL_SIZE: '0' });
  });
  afterAll(() => server.close());

  it('keeps one record per run, for the key that made it only, without the code', async () => {
    const key = await addKey(server.store, 'auditor');
    const other = await addKey(server.store, 'someone else');
    const code = 'import pathlib\npathlib.Path("output/result.txt").write_text("42")\nprint("done")';
    const run = await runAs(server, key, { code, stdin: 'input' }, { 'x-request-id': 'audit-test-1' });
    expect(run.status).toBe(200);
    expect(run.headers.get('x-request-id')).toBe('audit-test-1');

    const { status, body } = await getRecord(server.url, run.body.id, key);
    expect(status).toBe(200);
    expect(body).toEqual({
      id: run.body.id,
      request_id: 'audit-test-1',
      received_at: expect.any(String),
      started_at: expect.any(String),
      ended_at: expect.any(String),
      status: 'ok',
      exit_code: 0,
      duration_ms: run.body.duration_ms,
      queued_ms: run.body.queued_ms,
      usage: run.body.usage,
      bytes_in: Buffer.byteLength(code) + 'input'.length,
      bytes_out: 'done\n'.length + 2,
      code_sha256: sha256(code),
      artifacts: [{ path: 'result.txt', size: 2, sha256: sha256('42') }],
      image_id: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    expect(Date.parse(body.received_at)).toBeLessThanOrEqual(Date.parse(body.started_at));
    expect(Date.parse(body.started_at)).toBeLessThanOrEqual(Date.parse(body.ended_at));
    // Another key, or none, cannot tell the run exists.
    expect((await getRecord(server.url, run.body.id, other)).status).toBe(404);
    expect((await getRecord(server.url, run.body.id)).status).toBe(401);
  });

  it('keeps code, stdin and outputs only when the operator asks for them', async () => {
    const keeping = await startServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_AUDIT_STORE_CONTENT: '1' });
    try {
      const key = await addKey(keeping.store, 'kept');
      const run = await runAs(keeping, key, { code: 'print(input())', stdin: 'kept-stdin' });
      const { body } = await getRecord(keeping.url, run.body.id, key);
      expect(body.content).toEqual({
        entrypoint: 'main.py',
        args: [],
        files: [{ path: 'main.py', content: Buffer.from('print(input())').toString('base64') }],
        stdin: Buffer.from('kept-stdin').toString('base64'),
        stdout: { encoding: 'utf8', content: 'kept-stdin\n' },
        stderr: { encoding: 'utf8', content: '' },
        artifacts: [],
      });
    } finally {
      await keeping.close();
    }
  });
});

describe('per-key limits on runs', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_MAX_CONCURRENT: '3', RUNBOX_MAX_QUEUE: '20' });
  });
  afterAll(() => server.close());

  it('runs per day: counted when they run, refused with 429 once used up; refusals do not count', async () => {
    const key = await addKey(server.store, 'daily', { dailyRuns: 2 });
    expect((await runAs(server, key, { code: 42 })).status).toBe(400);
    const first = await runAs(server, key, { code: 'print(1)' });
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toMatch(/^"daily";r=1;t=\d+$/);
    expect((await runAs(server, key, { code: 'print(2)' })).status).toBe(200);
    const refused = await runAs(server, key, { code: 'print(3)' });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('quota_exceeded');
    expect(refused.headers.get('ratelimit')).toMatch(/^"daily";r=0;t=\d+$/);
  });

  it("a key's concurrency share: its second run waits for its first, while another key's runs go at once", async () => {
    const single = await addKey(server.store, 'one at a time', { maxConcurrent: 1 });
    const free = await addKey(server.store, 'unlimited');
    // The second run waits for the key's share, within the queue's bound (30 s): room for a loaded machine.
    const slow = { code: 'import time; time.sleep(1.5)', timeout_ms: 60_000 };
    const runs = await Promise.all([runAs(server, single, slow), runAs(server, single, slow), runAs(server, free, slow)]);
    expect(runs.map((r) => r.status)).toEqual([200, 200, 200]);
    const records: Json[] = await Promise.all(
      runs.map(async (r, i) => (await getRecord(server.url, r.body.id, i < 2 ? single : free)).body),
    );
    const [a, b] = [records[0], records[1]].sort((x, y) => Date.parse(x.started_at) - Date.parse(y.started_at));
    // The key's second run started only once its first had ended.
    expect(Date.parse(b.started_at)).toBeGreaterThanOrEqual(Date.parse(a.ended_at));
    // The other key's run overlapped the first.
    expect(Date.parse(records[2].started_at)).toBeLessThan(Date.parse(a.ended_at));
  });

  it('fair admission: a key with a queue of runs does not make a later key wait behind all of them', async () => {
    const fair = await startServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_MAX_CONCURRENT: '1', RUNBOX_MAX_QUEUE: '20' });
    try {
      const busy = await addKey(fair.store, 'busy');
      const light = await addKey(fair.store, 'light');
      // These wait behind the holder and each other, within the queue's bound (RUNBOX_QUEUE_TIMEOUT_MS, 30 s), on a loaded machine too.
      const work = { code: 'import time; time.sleep(0.3)', timeout_ms: 120_000 };
      // The busy key's first run holds the one slot until the test lets it go (its client leaves)...
      const leaving = new AbortController();
      const holder = postRun(
        fair.url,
        { code: 'import time; time.sleep(120)', timeout_ms: 150_000 },
        {
          headers: { 'content-type': 'application/json', 'x-api-key': busy },
          signal: leaving.signal,
        },
      ).catch((err: Error) => err.name);
      expect(await eventually(() => fair.admission.inUse === 1)).toBe(true);
      // ...while four more of its runs queue, and then the light key's one.
      const busyRuns = Array.from({ length: 4 }, () => runAs(fair, busy, work));
      expect(await eventually(() => fair.admission.queued === 4)).toBe(true);
      const lightRun = runAs(fair, light, work);
      expect(await eventually(() => fair.admission.queued === 5)).toBe(true);
      leaving.abort();
      expect(await holder).toBe('AbortError');
      const done = await Promise.all([...busyRuns, lightRun]);
      expect(done.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      const starts = await Promise.all(
        done.map(async (r, i) => Date.parse((await getRecord(fair.url, r.body.id, i < 4 ? busy : light)).body.started_at)),
      );
      const lightStart = starts[4];
      const busyBefore = starts.slice(0, 4).filter((at) => at < lightStart).length;
      // In arrival order it would run after all four; taking turns, after one of them at most.
      expect(busyBefore).toBeLessThanOrEqual(1);
    } finally {
      await fair.close();
    }
  });
});

describe('when the store fails (PostgreSQL stopped)', () => {
  let pg: ReturnType<typeof startPostgres>;
  let store: Store;
  let server: Server;
  let key: string;
  beforeAll(async () => {
    pg = startPostgres();
    store = await openPostgres(pg.url);
    server = await startServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_API_KEY: BOOTSTRAP }, undefined, store);
    key = await addKey(store, 'outage');
  });
  afterAll(async () => {
    await server.close();
    pg.stop();
  });

  it('a run whose record cannot be completed is not reported as done: its result is withheld, and nothing is left', async () => {
    const running = runAs(server, key, { code: 'import time; time.sleep(3); print("finished")' });
    // The record is written before the program starts; once it runs, the store goes away.
    expect(await eventually(() => programRunning(server.config.instanceId), 30_000, 50)).toBe(true);
    pg.halt();
    let res;
    try {
      res = await running;
    } finally {
      pg.resume();
    }
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('store_unavailable');
    expect(res.body.error.message).toMatch(/^run \S+ ended, but the store could not complete its audit record, so its result is withheld$/);
    expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);

    const runId = /^run (\S+) ended/.exec(res.body.error.message as string)![1];
    const { body } = await getRecord(server.url, runId, key);
    expect(body).toMatchObject({ status: 'running', ended_at: null });
  });

  it('with the store down, a run is not started at all, even for a key the store is not needed to check', async () => {
    // The bootstrap key is checked without the store: what refuses the run is its record, which cannot be written.
    pg.halt();
    try {
      const res = await runAs(server, BOOTSTRAP, { code: 'print("never")' });
      expect(res.status).toBe(503);
      expect(res.body.error).toEqual({
        code: 'store_unavailable',
        message: "the store could not record the run's start, so it was not run",
      });
      expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);
    } finally {
      pg.resume();
    }
  });
});
