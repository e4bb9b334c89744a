/** Admission under load, orphans, engine outages and shutdown, against the real engine. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SQLITE_FILE } from '../../src/store/sqlite';
import { randomBytes } from 'node:crypto';
import { createDockerClient } from '../../src/docker/client';
import { containerSpec } from '../../src/sandbox/container-spec';
import { SANDBOX_UID } from '../../src/sandbox/protocol';
import { LABEL_INSTANCE, runLabels } from '../../src/sandbox/labels';
import { sandboxImageTag } from '../../src/provision/image';
import { startEngineProxy } from '../support/engine-proxy';
import { docker, eventually, programRunning, runContainers, startServer, watchInstance } from '../support/engine';
import { testInstanceId } from '../support/instance';
import { spawnServer } from '../support/server-process';
import { getRecord, postRun, type Json } from '../support/http';
import { postStream } from '../support/sse';
import { until } from '../support/wait';

const post = (url: string, body: object, signal?: AbortSignal) => postRun(url, body, { signal });

const sleeper = (seconds: number, timeout_ms = 30_000) => ({ code: `import time; time.sleep(${seconds}); print("slept")`, timeout_ms });

const uniqueInstance = () => testInstanceId('fault');

/**
 * A server on an instance whose containers the engine's events follow from before its start, so the most it
 * ever had at once is counted from every create and destroy (sampling the list could miss one).
 */
async function watchedServer(env: Record<string, string>) {
  const instance = uniqueInstance();
  const watch = await watchInstance(instance);
  const server = await startServer({ ...env, RUNBOX_INSTANCE_ID: instance });
  let closed: Promise<void> | undefined;
  const closeServer = () => (closed ??= server.close(30_000));
  return {
    server,
    close: async () => {
      watch.close();
      await closeServer();
    },
    /** Stops the server; once the engine has reported every container gone, the most there were at once. */
    async closeAndCount(): Promise<number> {
      await closeServer();
      const count = (action: string) => watch.events.filter((e) => e.action === action).length;
      await until(() => count('destroy') === count('create'), 'a destroy event for every container created');
      return watch.peak();
    },
  };
}

afterAll(async () => {
  expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);
});

describe('admission control', () => {
  it('never runs more containers than the maximum, and refuses the overflow at once with Retry-After', async () => {
    const watched = await watchedServer({ RUNBOX_MAX_CONCURRENT: '2', RUNBOX_MAX_QUEUE: '2', RUNBOX_POOL_SIZE: '0' });
    const { server } = watched;
    try {
      const order: string[] = [];
      const requests = Array.from({ length: 8 }, () => post(server.url, sleeper(1.5)).then((r) => (order.push(String(r.status)), r)));
      const results = await Promise.all(requests);
      const busy = results.filter((r) => r.status === 503);
      expect(busy).toHaveLength(4);
      for (const r of busy) {
        expect(r.body.error.code).toBe('busy');
        expect(r.headers.get('retry-after')).toBe('1');
      }
      // The refusals came back before any admitted run had finished.
      expect(order.slice(0, 4)).toEqual(['503', '503', '503', '503']);
      const ok = results.filter((r) => r.status === 200);
      expect(ok.map((r) => r.body.stdout)).toEqual(Array(4).fill('slept\n'));
      // Two of the four waited in the queue: each started only once an earlier run had ended.
      const records = await Promise.all(ok.map(async (r) => (await getRecord(server.url, r.body.id)).body));
      const ends = records.map((r) => Date.parse(r.ended_at));
      expect(records.filter((r) => ends.some((end) => Date.parse(r.started_at) >= end))).toHaveLength(2);
      const peak = await watched.closeAndCount();
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(2);
    } finally {
      await watched.close();
    }
  });

  it('counts warm pool members as live containers: the maximum holds with the pool on', async () => {
    const watched = await watchedServer({ RUNBOX_MAX_CONCURRENT: '2', RUNBOX_MAX_QUEUE: '8', RUNBOX_POOL_SIZE: '2' });
    const { server } = watched;
    try {
      expect(await eventually(async () => server.runner.pool.size === 2)).toBe(true);
      const all = await Promise.all(Array.from({ length: 6 }, () => post(server.url, sleeper(0.5))));
      expect(all.map((r) => r.status)).toEqual(Array(6).fill(200));
      expect(server.admission.inUse).toBeLessThanOrEqual(2);
      // Runs, their refills and the pool's members together: never more than two containers.
      expect(await watched.closeAndCount()).toBe(2);
    } finally {
      await watched.close();
    }
  });

  it("bounds queueing apart from the program's time: a queued run gets its whole timeout_ms, one queued too long gets 503 queue_timeout", async () => {
    const server = await startServer({
      RUNBOX_MAX_CONCURRENT: '1',
      RUNBOX_MAX_QUEUE: '4',
      RUNBOX_POOL_SIZE: '0',
      RUNBOX_QUEUE_TIMEOUT_MS: '500',
    });
    try {
      // The slot is held for 5 s of program time, ten times the queue's bound.
      const long = post(server.url, sleeper(5));
      expect(await eventually(async () => server.admission.inUse === 1, 5000, 20)).toBe(true);
      const late = await post(server.url, { code: 'print(1)', timeout_ms: 60_000 });
      expect(late.status).toBe(503);
      expect(late.body.error).toEqual({
        code: 'queue_timeout',
        message: 'no run slot came free within the queue timeout (RUNBOX_QUEUE_TIMEOUT_MS)',
      });
      expect(late.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(late.headers.get('server-timing')).toMatch(/^queue;dur=[\d.]+, total;dur=[\d.]+$/);
      expect((await long).status).toBe(200);
    } finally {
      await server.close(30_000);
    }

    const patient = await startServer({ RUNBOX_MAX_CONCURRENT: '1', RUNBOX_MAX_QUEUE: '4', RUNBOX_POOL_SIZE: '0' });
    try {
      const long = post(patient.url, sleeper(3));
      expect(await eventually(async () => patient.admission.inUse === 1, 5000, 20)).toBe(true);
      // It waits at least 3 s for the slot, longer than its timeout; its 0.5 s of program time is well within it.
      const queued = await post(patient.url, { code: 'import time; time.sleep(0.5); print("done")', timeout_ms: 2500 });
      expect(queued.status).toBe(200);
      expect(queued.body).toMatchObject({ status: 'ok', stdout: 'done\n' });
      expect(queued.body.duration_ms).toBeGreaterThanOrEqual(500);
      expect(queued.body.queued_ms).toBeGreaterThan(0);
      expect((await long).status).toBe(200);
    } finally {
      await patient.close(30_000);
    }
  });

  it('frees the queue place of a client that disconnects while queued', async () => {
    const server = await startServer({ RUNBOX_MAX_CONCURRENT: '1', RUNBOX_MAX_QUEUE: '4', RUNBOX_POOL_SIZE: '0' });
    try {
      const long = post(server.url, sleeper(2));
      expect(await eventually(async () => server.admission.inUse === 1, 5000, 20)).toBe(true);
      const controller = new AbortController();
      const queued = post(server.url, sleeper(0), controller.signal).catch((err: Error) => err.name);
      expect(await eventually(async () => server.admission.queued === 1, 5000, 20)).toBe(true);
      controller.abort();
      expect(await queued).toBe('AbortError');
      expect(await eventually(async () => server.admission.queued === 0, 5000, 20)).toBe(true);
      expect((await long).status).toBe(200);
      expect(await eventually(async () => server.admission.inUse === 0, 10_000)).toBe(true);
    } finally {
      await server.close(30_000);
    }
  });
});

describe('orphans', () => {
  async function orphan(instance: string, deadline: number): Promise<string> {
    const spec = containerSpec({
      image: sandboxImageTag(),
      runtime: 'runc',
      uid: SANDBOX_UID,
      memoryMb: 64,
      preload: [],
      cpus: 0.1,
      pidsLimit: 16,
      workspaceMb: 1,
      tmpMb: 1,
      labels: runLabels(`orphan-${randomBytes(4).toString('hex')}`, instance, deadline),
    });
    return docker.create(spec);
  }

  it("reaps its own instance's containers that no run owns, and anyone's past their deadline, but not others' live ones", async () => {
    const instance = uniqueInstance();
    const other = uniqueInstance();
    const mine = await orphan(instance, Date.now() + 3_600_000);
    const expired = await orphan(other, Date.now() - 1000);
    const othersLive = await orphan(other, Date.now() + 3_600_000);
    const server = await startServer({ RUNBOX_INSTANCE_ID: instance });
    try {
      const left = await runContainers();
      expect(left).not.toContain(mine);
      expect(left).not.toContain(expired);
      expect(left).toContain(othersLive);
    } finally {
      await docker.remove(othersLive);
      await server.close();
    }
  });

  it('removes what a server killed with -9 left behind, warm pool members included, when it starts again', async () => {
    const instance = uniqueInstance();
    const first = await spawnServer({ RUNBOX_INSTANCE_ID: instance, RUNBOX_POOL_SIZE: '2' });
    const inflight = post(first.url, sleeper(60, 120_000)).catch(() => 'dropped');
    // The run took a pool member and the pool refilled: one running, two idle.
    expect(await eventually(async () => (await runContainers()).length === 3)).toBe(true);
    const leftovers = await runContainers();
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await inflight).toBe('dropped');
    expect((await runContainers()).sort()).toEqual(leftovers.sort());

    const second = await spawnServer({ RUNBOX_INSTANCE_ID: instance, RUNBOX_POOL_SIZE: '0' });
    try {
      expect(await runContainers()).toEqual([]);
      expect((await post(second.url, { code: 'print("fresh")' })).body.stdout).toBe('fresh\n');
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  });
});

/** A server whose engine is reached through a proxy the test can cut, with quick call timeouts and reaping. */
async function serverBehindProxy() {
  const proxy = await startEngineProxy();
  const engine = createDockerClient({ callTimeoutMs: 2000, socketPath: proxy.path });
  const server = await startServer(
    { RUNBOX_REAP_INTERVAL_MS: '500', RUNBOX_DOCKER_CALL_TIMEOUT_MS: '2000', RUNBOX_POOL_SIZE: '0' },
    engine,
  );
  return { proxy, server };
}

describe('engine outage', () => {
  it('ends in-flight runs with a quick 503, reports not ready, recovers, and reaps what it could not remove', async () => {
    const { proxy, server } = await serverBehindProxy();
    try {
      const inflight = post(server.url, sleeper(30, 60_000));
      // The cut must land while the program runs: the job reached the launcher, which started main.py.
      expect(await eventually(async () => programRunning(server.config.instanceId))).toBe(true);
      proxy.cut();
      const failed = await inflight;
      expect(failed.status).toBe(503);
      expect(failed.body.error.code).toBe('engine_unavailable');
      // Answered without waiting for the program, which still runs (the engine itself is fine; the server cannot reach it).
      expect(await programRunning(server.config.instanceId)).toBe(true);
      // The run had started, so its audit record is ended too, under the error that ended it.
      const db = new Database(join(server.config.store.dataDir, SQLITE_FILE), { readonly: true });
      try {
        expect(db.prepare('SELECT status, ended_at IS NOT NULL AS ended FROM runs').all()).toEqual([
          { status: 'engine_unavailable', ended: 1 },
        ]);
      } finally {
        db.close();
      }

      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as Json).checks.engine).toBe(false);
      expect((await post(server.url, { code: 'print(1)' })).status).toBe(503);

      proxy.restore();
      expect(await eventually(async () => (await fetch(`${server.url}/ready`)).status === 200)).toBe(true);
      const back = await post(server.url, { code: 'print("back")' });
      expect(back.body).toMatchObject({ stdout: 'back\n' });
      // The container of the cut run could not be removed while the engine was away; the reaper does it now.
      expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);
    } finally {
      proxy.restore();
      await server.close();
      await proxy.close();
    }
  });
});

describe('engine outage during a streamed run', () => {
  it('ends the open stream with an error event naming engine_unavailable', async () => {
    const { proxy, server } = await serverBehindProxy();
    try {
      const streaming = postStream(
        server.url,
        { code: 'import time; print("up", flush=True); time.sleep(30)', timeout_ms: 60_000 },
        {
          onEvent: (event) => {
            if (event.event === 'stdout') proxy.cut();
          },
        },
      );
      const { status, events } = await streaming;
      expect(status).toBe(200);
      // print() may write "up" and its newline separately: one stdout event or two, then the error, last.
      const names = events.map((e) => e.event);
      expect(names[0]).toBe('start');
      expect(new Set(names.slice(1, -1))).toEqual(new Set(['stdout']));
      expect(names[names.length - 1]).toBe('error');
      expect(events[events.length - 1].data).toEqual({ code: 'engine_unavailable', message: expect.any(String) });
      proxy.restore();
      expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);
    } finally {
      // Whatever failed above, the engine comes back first, so the run's container is removed, not left to others.
      proxy.restore();
      await server.close();
      await proxy.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM: not ready, refuses new runs, lets in-flight runs finish, removes everything, exits 0', async () => {
    const server = await spawnServer({ RUNBOX_INSTANCE_ID: uniqueInstance(), RUNBOX_SHUTDOWN_GRACE_MS: '20000', RUNBOX_POOL_SIZE: '0' });
    const inflight = post(server.url, sleeper(2));
    expect(await eventually(async () => (await runContainers()).length === 1)).toBe(true);
    server.child.kill('SIGTERM');
    expect(await eventually(async () => (await fetch(`${server.url}/ready`)).status === 503, 5000, 20)).toBe(true);
    const refused = await post(server.url, { code: 'print(1)' });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('shutting_down');
    const finished = await inflight;
    expect(finished.status).toBe(200);
    expect(finished.body.stdout).toBe('slept\n');
    expect(await server.exited).toBe(0);
    expect(await runContainers()).toEqual([]);
  });

  it('on SIGINT: stops runs still going when the grace period ends, and removes them', async () => {
    const server = await spawnServer({ RUNBOX_INSTANCE_ID: uniqueInstance(), RUNBOX_SHUTDOWN_GRACE_MS: '500', RUNBOX_POOL_SIZE: '0' });
    const inflight = post(server.url, sleeper(60, 120_000));
    expect(await eventually(async () => (await runContainers()).length === 1)).toBe(true);
    server.child.kill('SIGINT');
    const stopped = await inflight;
    expect(stopped.status).toBe(503);
    expect(stopped.body.error.code).toBe('shutting_down');
    expect(await server.exited).toBe(0);
    expect(await runContainers()).toEqual([]);
  });
});

it('tags every container with its instance', async () => {
  const server = await startServer({ RUNBOX_POOL_SIZE: '0' });
  try {
    const run = post(server.url, sleeper(1));
    expect(await eventually(async () => (await docker.listByLabel(`${LABEL_INSTANCE}=${server.config.instanceId}`)).length === 1)).toBe(
      true,
    );
    await run;
  } finally {
    await server.close(10_000);
  }
});
