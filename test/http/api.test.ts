import pino from 'pino';
import { version } from '../../src/version';
import request from 'supertest';
import { appWith } from '../support/app';
import { testConfig, testStore } from '../support/config';
import { fakeDocker } from '../support/fake-docker';

const KEY = 'k'.repeat(32);

describe('HTTP API with a fake engine', () => {
  it('GET /health answers without calling the engine', async () => {
    const docker = fakeDocker({ up: false });
    const res = await request(appWith(testConfig(), docker).app.callback()).get('/health');
    expect(res.status).toBe(200);
    // The `status` word seed 003's probes and validation script look for.
    expect(res.body).toEqual({ status: 'healthy', service: 'runbox', version: expect.any(String) });
    expect(docker.calls).toEqual([]);
  });

  it('GET /ready is 503 while the engine is down, 503 without the image, 200 with both', async () => {
    const down = await request(appWith(testConfig(), fakeDocker({ up: false })).app.callback()).get('/ready');
    expect(down.status).toBe(503);
    expect(down.body.checks).toEqual({ accepting: true, engine: false, image: false });
    const noImage = await request(appWith(testConfig(), fakeDocker({ image: false })).app.callback()).get('/ready');
    expect(noImage.status).toBe(503);
    expect(noImage.body.checks).toEqual({ accepting: true, engine: true, image: false });
    const ready = await request(appWith(testConfig(), fakeDocker()).app.callback()).get('/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({
      ready: true,
      status: 'ready',
      checks: { accepting: true, engine: true, image: true },
      image: expect.any(String),
    });
    expect(down.body).toMatchObject({ status: 'not_ready', ready: false });
  });

  it('GET /ready is 503 and new runs are refused once shutdown begins', async () => {
    const docker = fakeDocker();
    const { app, state } = appWith(testConfig(), docker);
    state.draining = true;
    const ready = await request(app.callback()).get('/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.accepting).toBe(false);
    const run = await request(app.callback()).post('/v1/runs').send({ code: 'print(1)' });
    expect(run.status).toBe(503);
    expect(run.body.error.code).toBe('shutting_down');
    expect(run.headers['retry-after']).toBeDefined();
    expect(docker.calls).toEqual(['ping', 'imageExists']);
  });

  it('GET / names the service, its version, its endpoints and limits, under the API’s own names', async () => {
    const res = await request(appWith(testConfig(), fakeDocker()).app.callback()).get('/');
    expect(res.body).toMatchObject({ name: 'runbox', service: 'runbox', version, languages: ['python'], auth: 'none' });
    expect(res.body.endpoints).toMatchObject({ health: '/health', ready: '/ready', '/run': expect.stringMatching(/^\/run \(POST\)/) });
    expect(res.body.limits).toMatchObject({ max_code_bytes: 262144, default_timeout_ms: 10000, max_timeout_ms: 300000 });
    expect(Object.keys(res.body.limits).sort()).toEqual(
      [
        'max_body_bytes',
        'max_code_bytes',
        'max_file_bytes',
        'max_files_bytes',
        'max_files',
        'max_stdin_bytes',
        'max_args',
        'max_artifacts',
        'max_artifact_bytes',
        'max_artifacts_bytes',
        'max_output_bytes',
        'output_kill_bytes',
        'default_timeout_ms',
        'max_timeout_ms',
        'default_memory_mb',
        'max_memory_mb',
        'pids_limit',
        'cpus',
        'workspace_mb',
        'tmp_mb',
        'max_concurrent',
        'max_queue',
        'queue_timeout_ms',
      ].sort(),
    );
  });

  describe('POST /v1/runs refuses bad requests before any container exists', () => {
    const docker = fakeDocker();
    const app = appWith(testConfig({ RUNBOX_MAX_BODY_BYTES: '2048' }), docker).app.callback();
    afterEach(() => expect(docker.calls).toEqual([]));

    it('400 for malformed JSON', async () => {
      const res = await request(app).post('/v1/runs').set('content-type', 'application/json').send('{"code": ');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.message).toMatch(/not valid JSON/);
    });

    it('400 naming the field for a schema violation', async () => {
      const res = await request(app).post('/v1/runs').send({ code: 'x', timeout_ms: 'soon' });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: { code: 'invalid_request', message: 'timeout_ms must be integer' } });
    });

    it('400 listing the supported languages', async () => {
      const res = await request(app).post('/v1/runs').send({ code: 'x', language: 'bash' });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/supported: python/);
    });

    it('400 for a hostile input path', async () => {
      const res = await request(app)
        .post('/v1/runs')
        .send({ files: [{ path: '../../etc/passwd', content: 'x' }], entrypoint: '../../etc/passwd' });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/files\[0\]\.path contains a '\.\.' segment/);
    });

    it('413 naming the limit for a body over RUNBOX_MAX_BODY_BYTES', async () => {
      const res = await request(app)
        .post('/v1/runs')
        .send({ code: 'x'.repeat(4096) });
      expect(res.status).toBe(413);
      expect(res.body.error).toEqual({ code: 'payload_too_large', message: 'the request body exceeds RUNBOX_MAX_BODY_BYTES' });
    });

    it('415 for a body that is not JSON', async () => {
      const res = await request(app).post('/v1/runs').set('content-type', 'text/plain').send('print(1)');
      expect(res.status).toBe(415);
    });

    it('405 in the same error shape for a wrong method', async () => {
      const res = await request(app).get('/v1/runs');
      expect(res.status).toBe(405);
      expect(res.body.error.code).toBe('method_not_allowed');
    });

    it('404 in the same error shape for an unknown route', async () => {
      const res = await request(app).get('/v2/nothing');
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    });
  });

  it('dependencies the image lacks, on a server without a wheelhouse: a 400 saying so and what to do, on each door that takes them', async () => {
    const docker = fakeDocker();
    const app = appWith(testConfig(), docker).app.callback();
    const said =
      'dependencies: tabulate==0.9.0 cannot be satisfied: the image does not have it, and this server has no wheelhouse ' +
      '(RUNBOX_WHEELHOUSE is unset), so it cannot install dependencies; ask its operator to set one up with `runbox packages add`';
    const native = await request(app)
      .post('/v1/runs')
      .send({ code: 'import tabulate', dependencies: ['tabulate==0.9.0'] });
    expect(native.status).toBe(400);
    expect(native.body).toEqual({ error: { code: 'invalid_request', message: said } });
    const streamed = await request(app)
      .post('/v1/runs')
      .set('accept', 'text/event-stream')
      .send({ code: 'import tabulate', dependencies: ['tabulate==0.9.0'] });
    expect(streamed.status).toBe(400);
    expect(streamed.body).toEqual({ error: { code: 'invalid_request', message: said } });
    // Seed 001's /api/run, in its own {error} shape. (The MCP tool offers no `dependencies` without a wheelhouse.)
    const seed = await request(app)
      .post('/api/run')
      .send({ script: 'import tabulate', dependencies: ['tabulate==0.9.0'] });
    expect(seed.status).toBe(400);
    expect(seed.body).toEqual({ error: said });
    // Refused from the image's package list alone: nothing was created.
    expect(new Set(docker.calls)).toEqual(new Set(['imageLabels']));
  });

  describe('with RUNBOX_API_KEY set', () => {
    const docker = fakeDocker();
    const app = appWith(testConfig({ RUNBOX_API_KEY: KEY }), docker).app.callback();

    it.each([
      ['no key', {}],
      ['a wrong bearer key', { authorization: `Bearer ${'x'.repeat(32)}` }],
      ['a wrong X-API-Key', { 'x-api-key': 'nope' }],
      ['a key prefix', { authorization: `Bearer ${KEY.slice(0, 16)}` }],
    ])('401 with %s, creating nothing', async (_name, headers) => {
      const res = await request(app).post('/v1/runs').set(headers).send({ code: 'print(1)' });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(docker.calls).toEqual([]);
    });

    it.each([
      ['Authorization: Bearer', { authorization: `Bearer ${KEY}` }],
      ['X-API-Key', { 'x-api-key': KEY }],
    ])('accepts the key as %s', async (_name, headers) => {
      const res = await request(app).post('/v1/runs').set(headers).send({ code: 1 });
      expect(res.status).toBe(400);
    });

    it('keeps /health open for probes', async () => {
      expect((await request(app).get('/health')).status).toBe(200);
    });
  });

  it("sends Koa's own error events through the logger, at its level, never to stderr", () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const config = testConfig();
    const docker = fakeDocker();
    const { app } = appWith(config, docker, testStore(), log);
    app.callback();
    const stderr = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      app.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      expect(stderr).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
    }
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 40,
      err: { type: 'Error', message: 'write EPIPE', code: 'EPIPE', stack: expect.stringContaining('write EPIPE') },
      msg: 'response failed',
    });
  });

  it('logs a 5xx refusal with its code and reason, and exactly one msg field', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const docker = fakeDocker({ up: false });
    const { app } = appWith(testConfig({ RUNBOX_MAX_CONCURRENT: '1', RUNBOX_MAX_QUEUE: '0' }), docker, testStore(), log);
    expect((await request(app.callback()).post('/v1/runs').send({ code: 'print(1)' })).status).toBe(503);
    const line = lines.find((l) => l.includes('request failed'))!;
    expect(line.match(/"msg":/g)).toHaveLength(1);
    expect(JSON.parse(line)).toMatchObject({
      code: 'engine_unavailable',
      reason: expect.stringMatching(/Docker engine/),
      msg: 'request failed',
    });
  });

  it('503 engine_unavailable when the engine does not answer', async () => {
    const res = await request(appWith(testConfig(), fakeDocker({ up: false })).app.callback())
      .post('/v1/runs')
      .send({ code: 'print(1)' });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('engine_unavailable');
  });

  it('removes the container when our own code fails mid-run', async () => {
    const docker = fakeDocker();
    const { app, runner } = appWith(testConfig(), docker);
    const res = await request(app.callback()).post('/v1/runs').send({ code: 'print(1)' });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'internal', message: 'internal error' } });
    await runner.settle();
    expect(docker.calls).toEqual(['create', 'attach', 'remove']);
  });
});
