/** Per-key request limits, metrics and request ids over HTTP, with a fake engine (nothing here needs a run to happen). */
import pino from 'pino';
import request from 'supertest';
import { makeKey } from '../../src/keys/api-keys';
import { NO_LIMITS, utcDay, type KeyLimits } from '../../src/store/store';
import { appWith } from '../support/app';
import { testConfig, testStore } from '../support/config';
import { fakeDocker } from '../support/fake-docker';

const MCP = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function serverWithKey(limits: Partial<KeyLimits>, env: Record<string, string> = {}) {
  const docker = fakeDocker();
  const { app, store } = appWith(testConfig(env), docker);
  const made = makeKey({ name: 'limited', env: 'test', limits: { ...NO_LIMITS, ...limits } });
  await store.addKey(made.record);
  return { http: request(app.callback()), store, docker, ...made };
}

/**
 * Holds Date.now() at one instant for the rest of the test (timers and I/O stay real), so a token bucket
 * refills by exactly the time the test moves it on, however long the requests take.
 */
function freezeDate() {
  jest.useFakeTimers({
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
  return { advance: (ms: number) => jest.setSystemTime(Date.now() + ms) };
}

afterEach(() => jest.useRealTimers());

describe('per-key request limits', () => {
  it('over the rate: 429 rate_limited with Retry-After, and RateLimit headers on every response', async () => {
    const { http, key } = await serverWithKey({ ratePerSecond: 2 });
    const clock = freezeDate();
    const get = () => http.get('/v1/runs/run_none').set('x-api-key', key);
    const first = await get();
    expect(first.status).toBe(404);
    expect(first.headers['ratelimit-policy']).toBe('"rate";q=2;w=1');
    expect(first.headers.ratelimit).toBe('"rate";r=1;t=1');
    expect((await get()).headers.ratelimit).toBe('"rate";r=0;t=1');
    const refused = await get();
    expect(refused.status).toBe(429);
    expect(refused.body.error).toEqual({ code: 'rate_limited', message: 'this key may make 2 requests per second' });
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['ratelimit-policy']).toBe('"rate";q=2;w=1');
    expect(refused.headers.ratelimit).toMatch(/^"rate";r=0;t=1$/);
    // 600 ms at 2 a second is another token.
    clock.advance(600);
    expect((await get()).status).toBe(404);
  });

  it('over the rate on /mcp: a JSON-RPC error with the same status and headers', async () => {
    const { http, key } = await serverWithKey({ ratePerSecond: 1 });
    const list = () => http.post('/mcp').set(MCP).set('x-api-key', key).send({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect((await list()).status).toBe(200);
    const refused = await list();
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'this key may make 1 requests per second' } });
    expect(refused.headers['retry-after']).toBe('1');
  });

  it("over the day's runs: 429 quota_exceeded until midnight UTC, before anything is created", async () => {
    const { http, key, record, store, docker } = await serverWithKey({ dailyRuns: 2 });
    freezeDate();
    await store.countRun(record.id, utcDay(Date.now()), 2);
    await store.countRun(record.id, utcDay(Date.now()), 2);
    const res = await http.post('/v1/runs').set('x-api-key', key).send({ code: 'print(1)' });
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe('quota_exceeded');
    const untilMidnight = Math.max(1, Math.ceil((86_400_000 - (Date.now() % 86_400_000)) / 1000));
    expect(Number(res.headers['retry-after'])).toBe(untilMidnight);
    expect(res.headers['ratelimit-policy']).toBe('"daily";q=2;w=86400');
    expect(res.headers.ratelimit).toMatch(/^"daily";r=0;t=\d+$/);
    expect(docker.calls).not.toContain('create');
  });

  it('a run that never starts does not count against the day', async () => {
    const { http, key, record, store } = await serverWithKey({ dailyRuns: 5 }, { RUNBOX_POOL_SIZE: '0' });
    // The fake engine cannot attach: the run fails before it starts.
    const res = await http.post('/v1/runs').set('x-api-key', key).send({ code: 'print(1)' });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(await store.runsOn(record.id, utcDay(Date.now()))).toBe(0);
  });

  it('keys without limits, the bootstrap key and keyless mode get no RateLimit headers', async () => {
    const { http, key } = await serverWithKey({});
    expect((await http.get('/v1/runs/run_none').set('x-api-key', key)).headers['ratelimit-policy']).toBeUndefined();
  });

  it('a limit that cannot be checked is not waived: 503 store_unavailable', async () => {
    const { http, key, store } = await serverWithKey({ ratePerSecond: 5 });
    await store.close();
    const res = await http.get('/v1/runs/run_none').set('x-api-key', key);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('store_unavailable');
  });
});

describe('GET /metrics', () => {
  it('is open without RUNBOX_METRICS_KEY, and counts refusals by reason', async () => {
    const { app } = appWith(testConfig(), fakeDocker());
    const http = request(app.callback());
    await http.post('/v1/runs').send({ code: 42 });
    await http.post('/v1/runs').set('host', 'example.com').send({ code: 'print(1)' });
    const res = await http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toContain('runbox_rejections_total{reason="invalid"} 1');
    expect(res.text).toContain('runbox_rejections_total{reason="forbidden"} 1');
    for (const name of ['runbox_queue_depth 0', 'runbox_live_containers 0', 'runbox_slots_in_use 0', 'process_cpu_seconds_total']) {
      expect(res.text).toContain(name);
    }
  });

  it("counts requests waiting for their own key's share apart from the queue depth the autoscaler reads", async () => {
    const { http, key, record, store } = await serverWithKey({ maxConcurrent: 1 });
    // The key's one share is taken (as by a run on another replica), so its requests wait for it.
    const lease = { id: 'held-elsewhere', keyId: record.id, expiresAt: Date.now() + 60_000 };
    expect(await store.acquireLease(lease, 1, Date.now())).toBe(true);
    const waiting = [1, 2, 3].map(() => http.post('/v1/runs').set('x-api-key', key).send({ code: 'print(1)', timeout_ms: 30_000 }).then());
    const gauges = async () => {
      const text = (await http.get('/metrics')).text;
      const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      return { depth: read('runbox_queue_depth'), keyWaiting: read('runbox_key_share_waiting') };
    };
    let seen = await gauges();
    for (let polls = 0; polls < 400 && seen.keyWaiting < 3; polls++) {
      await new Promise((r) => setTimeout(r, 25));
      seen = await gauges();
    }
    // More replicas would not serve these sooner: the autoscaler must not see them.
    expect(seen).toEqual({ depth: 0, keyWaiting: 3 });
    await store.releaseLease(lease.id);
    await Promise.all(waiting);
    expect(await gauges()).toEqual({ depth: 0, keyWaiting: 0 });
  });

  it('needs RUNBOX_METRICS_KEY as a bearer token when it is set', async () => {
    const metricsKey = 'm'.repeat(24);
    const { app } = appWith(testConfig({ RUNBOX_METRICS_KEY: metricsKey }), fakeDocker());
    const http = request(app.callback());
    expect((await http.get('/metrics')).status).toBe(401);
    expect((await http.get('/metrics').set('authorization', 'Bearer wrong-key-wrong-key')).status).toBe(401);
    expect((await http.get('/metrics').set('authorization', `Bearer ${metricsKey}`)).status).toBe(200);
  });

  describe('without RUNBOX_METRICS_KEY', () => {
    const apiKey = 'a'.repeat(24);
    // A server with a stored (tenant) key, as any server beyond loopback has one key or another.
    const served = async (env: Record<string, string>) => {
      const { app, store } = appWith(testConfig(env), fakeDocker());
      const tenant = makeKey({ name: 'tenant', env: 'test', limits: NO_LIMITS });
      await store.addKey(tenant.record);
      return { http: request(app.callback()), tenantKey: tenant.key };
    };
    const described = async (http: ReturnType<typeof request>) =>
      ((await http.get('/openapi.json')).body as { paths: Record<string, { get: { description: string; security?: unknown } }> }).paths[
        '/metrics'
      ].get;

    it('beyond loopback, needs the bootstrap RUNBOX_API_KEY; a stored key does not open it', async () => {
      const { http, tenantKey } = await served({ HOST: '0.0.0.0', RUNBOX_API_KEY: apiKey });
      const refused = await http.get('/metrics');
      expect(refused.status).toBe(401);
      expect(refused.body.error.message).toMatch(/RUNBOX_API_KEY/);
      // The metrics count every tenant's runs: a tenant's own key is not the operator's.
      expect((await http.get('/metrics').set('authorization', `Bearer ${tenantKey}`)).status).toBe(401);
      expect((await http.get('/metrics').set('authorization', `Bearer ${apiKey}`)).status).toBe(200);
      expect((await http.get('/metrics').set('x-api-key', apiKey)).status).toBe(200);
      const doc = await described(http);
      expect(doc.description).toMatch(/Needs RUNBOX_API_KEY/);
      expect(doc.security).toBeDefined();
    });

    it('beyond loopback with only stored keys, no key opens it until RUNBOX_METRICS_KEY is set', async () => {
      const { http, tenantKey } = await served({ HOST: '0.0.0.0' });
      const refused = await http.get('/metrics').set('authorization', `Bearer ${tenantKey}`);
      expect(refused.status).toBe(401);
      expect(refused.body.error.message).toMatch(/set RUNBOX_METRICS_KEY/);
      expect((await described(http)).description).toMatch(/Refused to every request/);
    });

    it('on loopback, stays open to requests addressed to loopback, with RUNBOX_API_KEY set or not', async () => {
      const loopbacks: Record<string, string>[] = [{ HOST: '127.0.0.1' }, { HOST: 'localhost', RUNBOX_API_KEY: apiKey }, { HOST: '::1' }];
      for (const env of loopbacks) {
        const { http } = await served(env);
        expect({ env, status: (await http.get('/metrics')).status }).toEqual({ env, status: 200 });
        // Open to local clients, not to a web page reaching 127.0.0.1 through a name of its own (DNS rebinding).
        const rebound = await http.get('/metrics').set('host', 'rebind.example:8080');
        expect({ env, status: rebound.status, code: rebound.body.error?.code }).toEqual({ env, status: 403, code: 'forbidden' });
        const doc = await described(http);
        expect(doc.description).toMatch(/Open: the server listens on loopback/);
        expect(doc.security).toBeUndefined();
      }
    });
  });
});

describe('request ids', () => {
  it('returns a sane X-Request-Id as given, replaces any other, and logs every line of the request with it', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const { app } = appWith(testConfig(), fakeDocker({ up: false }), testStore(), log);
    const http = request(app.callback());
    const given = await http.post('/v1/runs').set('x-request-id', 'ci-build-1234:step.5').send({ code: 'print(1)' });
    expect(given.headers['x-request-id']).toBe('ci-build-1234:step.5');
    const request1 = lines.map((l) => JSON.parse(l) as { requestId?: string; msg: string });
    expect(request1.length).toBeGreaterThanOrEqual(2);
    expect(request1.every((l) => l.requestId === 'ci-build-1234:step.5')).toBe(true);
    expect(request1.map((l) => l.msg)).toEqual(expect.arrayContaining(['request failed', 'request']));
    for (const insane of ['has space', 'x'.repeat(129), 'new\u00e9line']) {
      const res = await http.get('/health').set('x-request-id', insane);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect((await http.get('/health')).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
