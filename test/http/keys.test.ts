import request from 'supertest';
import { KEYS_NOW_REQUIRED, makeKey } from '../../src/keys/api-keys';
import { NO_LIMITS } from '../../src/store/store';
import { appWith } from '../support/app';
import { testConfig } from '../support/config';
import { fakeDocker } from '../support/fake-docker';
import { until } from '../support/wait';

const MCP = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const LIST = { jsonrpc: '2.0', id: 1, method: 'tools/list' };

async function serverWithKey(env: Record<string, string> = {}) {
  const docker = fakeDocker();
  const { app, store } = appWith(testConfig(env), docker);
  const made = makeKey({ name: 'ci', env: 'test', limits: { ...NO_LIMITS, maxTimeoutMs: 20_000, maxMemoryMb: 256 } });
  await store.addKey(made.record);
  return { http: request(app.callback()), store, docker, ...made };
}

describe('stored API keys over HTTP', () => {
  it('once a key is stored, every run needs a valid one, loopback or not', async () => {
    const { http, key } = await serverWithKey();
    const keyless = await http.post('/mcp').set(MCP).send(LIST);
    expect(keyless.status).toBe(401);
    // It started with keys: no change to speak of.
    expect(keyless.body.error.message).toMatch(/^a valid API key is required/);
    expect(keyless.headers['www-authenticate']).toBe('Bearer');
    expect((await http.post('/mcp').set(MCP).set('authorization', `Bearer ${key}`).send(LIST)).status).toBe(200);
    expect((await http.post('/mcp').set(MCP).set('x-api-key', key).send(LIST)).status).toBe(200);
  });

  it('a loopback server that served keyless, then got a key, says why it refuses now, and what to do', async () => {
    const { app, store } = appWith(testConfig(), fakeDocker());
    const http = request(app.callback());
    expect((await http.post('/mcp').set(MCP).send(LIST)).status).toBe(200);
    await store.addKey(makeKey({ name: 'first', env: 'test', limits: NO_LIMITS }).record);
    for (let i = 0; i < 2; i++) {
      const refused = await http.post('/mcp').set(MCP).send(LIST);
      expect(refused.status).toBe(401);
      expect(refused.body.error.message).toBe(KEYS_NOW_REQUIRED);
      expect(refused.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it.each([
    ['a malformed key', 'not-a-key'],
    ['an unknown key of the right form', 'rbx_test_' + 'A'.repeat(32)],
    ['a key with one character changed', null],
  ])('refuses %s with 401', async (_what, presented) => {
    const { http, key } = await serverWithKey();
    const wrong = presented ?? `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    const res = await http.post('/v1/runs').set('authorization', `Bearer ${wrong}`).send({ code: 'print(1)' });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });

  it('refuses a revoked key from the next request on', async () => {
    const { http, store, key, record } = await serverWithKey();
    expect((await http.post('/mcp').set(MCP).set('x-api-key', key).send(LIST)).status).toBe(200);
    await store.revokeKey(record.id, Date.now());
    expect((await http.post('/mcp').set(MCP).set('x-api-key', key).send(LIST)).status).toBe(401);
  });

  it('keeps RUNBOX_API_KEY working beside stored keys, and records when a stored key was used', async () => {
    const bootstrap = 'b'.repeat(32);
    const { http, store, key, record } = await serverWithKey({ RUNBOX_API_KEY: bootstrap });
    expect((await http.post('/mcp').set(MCP).set('x-api-key', bootstrap).send(LIST)).status).toBe(200);
    expect((await http.post('/mcp').set(MCP).set('x-api-key', key).send(LIST)).status).toBe(200);
    // Recorded after the answer, off the request's path.
    await until(
      async () => typeof (await store.listKeys()).find((k) => k.id === record.id)?.lastUsedAt === 'number',
      'lastUsedAt recorded',
    );
  });

  it("holds a key's runs to its ceilings on timeout_ms and memory_mb, naming them", async () => {
    const { http, key, docker } = await serverWithKey();
    const over = await http.post('/v1/runs').set('x-api-key', key).send({ code: 'print(1)', timeout_ms: 60_000 });
    expect(over.status).toBe(400);
    expect(over.body.error.message).toBe("timeout_ms 60000 is over this key's limit of 20000");
    const big = await http.post('/v1/runs').set('x-api-key', key).send({ code: 'print(1)', memory_mb: 1024 });
    expect(big.body.error.message).toBe("memory_mb 1024 is over this key's limit of 256");
    expect(docker.calls).not.toContain('create');
  });

  it("refuses a timeout over the key's limit on every door, each in its own shape, and runs nothing", async () => {
    const { http, key, docker } = await serverWithKey();
    const doors: [string, object, number, RegExp][] = [
      ['/run', { code: 'print(1)', timeout: 25 }, 400, /`timeout` 25 is over the limit of 20 s/],
      ['/api/run', { script: 'print(1)', timeout_s: 25 }, 400, /`timeout_s` 25 is over the limit of 20 s/],
      ['/api/v1/execute', { code: 'print(1)', timeout: 25 }, 400, /`timeout` 25 is over the limit of 20 s/],
    ];
    for (const [path, body, status, message] of doors) {
      const res = await http.post(path).set('x-api-key', key).send(body);
      expect([path, res.status]).toEqual([path, status]);
      expect(JSON.stringify(res.body)).toMatch(message);
    }
    const call = {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'run_python', arguments: { code: 'print(1)', timeout_ms: 25_000 } },
    };
    const mcp = await http.post('/mcp').set(MCP).set('x-api-key', key).send(call);
    expect(JSON.stringify(mcp.body)).toMatch(/timeout_ms 25000 is over this key's limit of 20000/);
    // Within the limit, the contracts' own defaults (60 s on /api/run) are fitted under it rather than refused.
    expect((await http.post('/api/run').set('x-api-key', key).send({ script: 'print(1)' })).status).not.toBe(400);
    expect(docker.calls.filter((c) => c === 'create')).toHaveLength(1);
  });

  it('answers 503 store_unavailable, running nothing, when the store fails', async () => {
    const { http, store, key, docker } = await serverWithKey();
    await store.close();
    const res = await http.post('/v1/runs').set('x-api-key', key).send({ code: 'print(1)' });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('store_unavailable');
    expect(res.headers['retry-after']).toBeDefined();
    expect(docker.calls).not.toContain('create');
  });

  it('on a public address, revoking every key does not open the server: runs need a key still', async () => {
    const { http, store, record } = await serverWithKey({ HOST: '0.0.0.0' });
    await store.revokeKey(record.id, Date.now());
    const res = await http.post('/v1/runs').set('host', 'localhost').send({ code: 'print(1)' });
    expect(res.status).toBe(401);
    expect((await http.get('/')).body.auth).toBe('api_key');
  });

  it('tells a client only that the store failed, and the operator what failed', async () => {
    const { http, store, key } = await serverWithKey();
    await store.close();
    const res = await http.post('/mcp').set(MCP).set('x-api-key', key).send(LIST);
    expect(res.status).toBe(503);
    expect(res.body.error.message).toBe('the key store did not answer, so the key could not be checked; nothing was run');
    expect(res.text).not.toMatch(/runbox\.db|\/tmp/);
  });

  it('without any key, stays in loopback-only mode', async () => {
    const { app } = appWith(testConfig(), fakeDocker());
    const http = request(app.callback());
    expect((await http.post('/mcp').set(MCP).send(LIST)).status).toBe(200);
    expect((await http.post('/mcp').set(MCP).set('host', 'example.com').send(LIST)).status).toBe(403);
    // A revoked key is no key: loopback-only mode comes back.
    const { store } = appWith(testConfig(), fakeDocker());
    const made = makeKey({ name: 'gone', env: 'prod', limits: NO_LIMITS });
    await store.addKey(made.record);
    await store.revokeKey(made.record.id, 1);
    expect(await store.hasActiveKeys()).toBe(false);
  });
});
