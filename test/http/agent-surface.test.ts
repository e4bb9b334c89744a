import { compatContracts } from '../../src/compat/contracts';
import { API_ROUTES } from '../../src/http/api-routes';
import request from 'supertest';
import { version } from '../../src/version';
import { openApiDocument } from '../../src/api/openapi';
import { runPythonTool } from '../../src/api/run-python-tool';
import { appWith } from '../support/app';
import { testConfig } from '../support/config';
import { fakeDocker } from '../support/fake-docker';

const KEY = 'k'.repeat(32);
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function server(env: Record<string, string> = {}, engine: Parameters<typeof fakeDocker>[0] = {}) {
  const docker = fakeDocker(engine);
  return { docker, http: request(appWith(testConfig(env), docker).app.callback()) };
}

const rpc = (method: string, params: object = {}, id = 1) => ({ jsonrpc: '2.0', id, method, params });

describe('the agent surface, over HTTP with a fake engine', () => {
  it('GET / links to the API description, the docs, MCP and the tool definitions', async () => {
    const res = await server().http.get('/');
    expect(res.body.links).toEqual({
      runs: '/v1/runs',
      openapi: '/openapi.json',
      docs: '/docs',
      mcp: '/mcp',
      tools: '/v1/tools',
      packages: '/v1/packages',
      playground: '/playground',
    });
  });

  it('GET /openapi.json serves the document for the live configuration, without a key', async () => {
    const env = { RUNBOX_API_KEY: KEY, RUNBOX_MAX_TIMEOUT_MS: '20000' };
    const res = await server(env).http.get('/openapi.json');
    expect(res.status).toBe(200);
    const config = testConfig(env);
    expect(res.body).toEqual(
      JSON.parse(JSON.stringify(openApiDocument(config, version, runPythonTool(config), API_ROUTES, compatContracts(config.limits)))),
    );
    expect(res.body.components.schemas.RunRequest.properties.timeout_ms.maximum).toBe(20000);
  });

  it('GET /v1/tools gives run_python in each function-calling shape', async () => {
    const res = await server().http.get('/v1/tools');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.formats).sort()).toEqual(['anthropic', 'gemini', 'mcp', 'openai_chat_completions', 'openai_responses']);
    expect(res.body.formats.anthropic[0].name).toBe('run_python');
  });

  it('GET /docs is a page that loads only this server’s assets', async () => {
    const { http } = server();
    const page = await http.get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(sources.length).toBeGreaterThan(2);
    for (const source of sources) {
      expect(source.startsWith('/docs/')).toBe(true);
      expect((await http.get(source)).status).toBe(200);
    }
    expect((await http.get('/docs/assets/package.json')).status).toBe(404);
    expect((await http.get('/docs/assets/..%2Fpackage.json')).status).toBe(404);
  });

  describe('POST /mcp', () => {
    it('lists the one tool, with the same definition as /v1/tools', async () => {
      const { http } = server();
      const res = await http.post('/mcp').set(MCP_HEADERS).send(rpc('tools/list'));
      expect(res.status).toBe(200);
      const tools = await http.get('/v1/tools');
      expect(res.body.result.tools).toEqual(tools.body.formats.mcp);
    });

    it('needs the API key when one is configured', async () => {
      const { http } = server({ RUNBOX_API_KEY: KEY });
      const refused = await http.post('/mcp').set(MCP_HEADERS).send(rpc('tools/list'));
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('unauthorized');
      const bearer = await http.post('/mcp').set(MCP_HEADERS).set('authorization', `Bearer ${KEY}`).send(rpc('tools/list'));
      expect(bearer.status).toBe(200);
      const header = await http.post('/mcp').set(MCP_HEADERS).set('x-api-key', KEY).send(rpc('tools/list'));
      expect(header.status).toBe(200);
    });

    it('answers malformed messages with JSON-RPC errors, never a 5xx', async () => {
      const { http, docker } = server();
      const notJson = await http.post('/mcp').set(MCP_HEADERS).send('{"jsonrpc": "2.0", ');
      expect(notJson.status).toBe(400);
      expect(notJson.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
      const notRpc = await http.post('/mcp').set(MCP_HEADERS).send({ hello: 'world' });
      expect(notRpc.status).toBe(400);
      expect(notRpc.body.error.code).toBeLessThan(-32000);
      const unknownMethod = await http.post('/mcp').set(MCP_HEADERS).send(rpc('tools/destroy'));
      expect(unknownMethod.body.error.code).toBe(-32601);
      const unknownTool = await http
        .post('/mcp')
        .set(MCP_HEADERS)
        .send(rpc('tools/call', { name: 'run_bash', arguments: { code: 'ls' } }));
      expect(unknownTool.status).toBe(200);
      expect(unknownTool.body.error).toMatchObject({ code: -32602, message: expect.stringContaining('unknown tool "run_bash"') });
      const noArguments = await http
        .post('/mcp')
        .set(MCP_HEADERS)
        .send(rpc('tools/call', { name: 'run_python' }));
      expect(noArguments.body.error).toMatchObject({ code: -32602, message: "body must have required property 'code'" });
      // A batch would make every run in it hold its slot until the slowest is done: refused whole.
      const batch = await http
        .post('/mcp')
        .set(MCP_HEADERS)
        .send([rpc('tools/list', {}, 1), rpc('tools/call', { name: 'run_python', arguments: { code: '1' } }, 2)]);
      expect(batch.status).toBe(400);
      expect(batch.body).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: expect.stringContaining('batches are not accepted') },
      });
      expect(docker.calls).not.toContain('create');
    });

    it('refuses oversized tool input with the limits and messages of /v1/runs', async () => {
      const { http, docker } = server({ RUNBOX_MAX_CODE_BYTES: '16' });
      const code = 'print("more than sixteen bytes")';
      const viaRuns = await http.post('/v1/runs').send({ code });
      expect(viaRuns.status).toBe(413);
      const viaMcp = await http
        .post('/mcp')
        .set(MCP_HEADERS)
        .send(rpc('tools/call', { name: 'run_python', arguments: { code } }));
      expect(viaMcp.body.error).toEqual({ code: -32602, message: viaRuns.body.error.message });
      const tooLong = await http
        .post('/mcp')
        .set(MCP_HEADERS)
        .send(rpc('tools/call', { name: 'run_python', arguments: { code: 'x', timeout_ms: 10_000_000 } }));
      expect(tooLong.body.error).toMatchObject({ code: -32602, message: 'timeout_ms must be <= 300000' });
      expect(docker.calls).not.toContain('create');
    });

    it('refuses runs addressed to another name when no key is set (DNS rebinding), on both doors', async () => {
      const { http, docker } = server();
      for (const host of ['attacker.example', 'localhost.attacker.example', '127.0.0.1.nip.io:8080']) {
        const runs = await http.post('/v1/runs').set('host', host).send({ code: 'print(1)' });
        expect(runs.status).toBe(403);
        expect(runs.body.error.code).toBe('forbidden');
        const mcp = await http.post('/mcp').set(MCP_HEADERS).set('host', host).send(rpc('tools/list'));
        expect(mcp.status).toBe(403);
      }
      for (const host of ['localhost:8080', '127.0.0.1', '127.0.0.2:9', '[::1]:8080', 'LOCALHOST']) {
        expect((await http.post('/mcp').set(MCP_HEADERS).set('host', host).send(rpc('tools/list'))).status).toBe(200);
      }
      // With a key, the key decides: runbox may serve any name behind a proxy.
      const keyed = server({ RUNBOX_API_KEY: KEY });
      const named = await keyed.http
        .post('/mcp')
        .set(MCP_HEADERS)
        .set('host', 'runbox.internal')
        .set('x-api-key', KEY)
        .send(rpc('tools/list'));
      expect(named.status).toBe(200);
      expect(docker.calls).not.toContain('create');
    });

    it('refuses a body over the size limit before reading it, as a JSON-RPC error', async () => {
      const { http } = server({ RUNBOX_MAX_BODY_BYTES: '2048' });
      const res = await http
        .post('/mcp')
        .set(MCP_HEADERS)
        .send(rpc('tools/call', { name: 'run_python', arguments: { code: 'x'.repeat(4096) } }));
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({
        jsonrpc: '2.0',
        error: { code: -32600, message: expect.stringContaining('RUNBOX_MAX_BODY_BYTES') },
      });
    });

    it('makes a service failure a tool error (isError) a model can act on', async () => {
      const call = rpc('tools/call', { name: 'run_python', arguments: { code: 'print(1)' } });
      const down = await server({}, { up: false }).http.post('/mcp').set(MCP_HEADERS).send(call);
      expect(down.status).toBe(200);
      expect(down.body.result.isError).toBe(true);
      expect(down.body.result.content[0].text).toMatch(/^The sandbox engine is not available.*\nrunbox said: engine_unavailable: /s);
      // This fake engine creates containers but cannot attach to them: a fault of no known kind.
      const broken = await server().http.post('/mcp').set(MCP_HEADERS).send(call);
      expect(broken.status).toBe(200);
      expect(broken.body.result).toMatchObject({ isError: true, content: [{ text: expect.stringContaining('runbox said: internal') }] });
    });
  });
});
