/**
 * Inputs far over a limit, on every door, against a fake engine: each is measured in bytes and refused in
 * its contract's own shape before any per-character work (issue 22: a compat route spread and dedented a
 * 20 MiB code before its limit, and a valid 4.5 M-character base64 file was a 500).
 */
import request from 'supertest';
import { appWith } from '../support/app';
import { testConfig } from '../support/config';
import { fakeDocker } from '../support/fake-docker';

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
// Large bodies take a while to send and parse under a loaded test run; this is not a latency bound.
const LARGE_BODY_TIMEOUT_MS = 60_000;

function server(env: Record<string, string> = {}) {
  const docker = fakeDocker();
  return { docker, http: request(appWith(testConfig(env), docker).app.callback()) };
}

describe('inputs far over a limit, with a fake engine', () => {
  // 10 M newlines: a 20 MB body (each is two bytes of JSON), under RUNBOX_MAX_BODY_BYTES's 20 MiB.
  const newlines = '\n'.repeat(10_000_000);

  it.each([
    ['/run', { timeout: 'soon' }],
    ['/api/v1/execute', { timeout: 0 }],
    ['/execute', { data: [] }],
  ])(
    '%s: a 20 MB code of newlines is a 413 {detail} naming RUNBOX_MAX_CODE_BYTES, before the model reads %j',
    async (path, otherwiseInvalid) => {
      const { http, docker } = server();
      const res = await http.post(path).send({ code: newlines, ...otherwiseInvalid });
      expect(res.status).toBe(413);
      expect(res.body).toEqual({ detail: 'code is 10000000 bytes; the limit is 262144 (RUNBOX_MAX_CODE_BYTES)' });
      expect(docker.calls).not.toContain('create');
    },
    LARGE_BODY_TIMEOUT_MS,
  );

  describe('a valid base64 file of 4.5 M characters over RUNBOX_MAX_FILE_BYTES is a 413, never a 500', () => {
    const env = { RUNBOX_MAX_FILE_BYTES: String(1024 * 1024) };
    const content = Buffer.alloc(3_375_000, 0x42).toString('base64');
    const file = { content, encoding: 'base64' };
    const limitMessage = 'is 3375000 bytes; the limit is 1048576 (RUNBOX_MAX_FILE_BYTES)';

    it(
      'POST /v1/runs',
      async () => {
        const { http, docker } = server(env);
        const res = await http.post('/v1/runs').send({ code: 'x', files: [{ path: 'data.bin', ...file }] });
        expect(res.status).toBe(413);
        expect(res.body.error).toEqual({ code: 'payload_too_large', message: `files[0] (data.bin) ${limitMessage}` });
        expect(docker.calls).not.toContain('create');
      },
      LARGE_BODY_TIMEOUT_MS,
    );

    it(
      'POST /api/run, in its {error} shape',
      async () => {
        const { http, docker } = server(env);
        const res = await http.post('/api/run').send({ script: 'x', context: { 'data.bin': file } });
        expect(res.status).toBe(413);
        expect(res.body).toEqual({ error: `files[0] (input/data.bin) ${limitMessage}` });
        expect(docker.calls).not.toContain('create');
      },
      LARGE_BODY_TIMEOUT_MS,
    );

    it(
      'POST /mcp tools/call run_python, as invalid params',
      async () => {
        const { http, docker } = server(env);
        const res = await http
          .post('/mcp')
          .set(MCP_HEADERS)
          .send({
            jsonrpc: '2.0',
            id: 1,
            method: 'tools/call',
            params: { name: 'run_python', arguments: { code: 'x', files: [{ path: 'data.bin', ...file }] } },
          });
        expect(res.status).toBeLessThan(500);
        expect(res.body.error).toEqual({ code: -32602, message: `files[0] (data.bin) ${limitMessage}` });
        expect(docker.calls).not.toContain('create');
      },
      LARGE_BODY_TIMEOUT_MS,
    );
  });
});
