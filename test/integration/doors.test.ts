/**
 * One run service under every door, against the real engine: the same program through POST /v1/runs,
 * SSE, MCP (Streamable HTTP and stdio) and the compat routes leaves the same audit record and the same
 * metrics, under the same key.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { makeKey } from '../../src/keys/api-keys';
import { NO_LIMITS } from '../../src/store/store';
import { eventually, instanceContainers, startServer } from '../support/engine';
import { getRecord, postRun, type Json } from '../support/http';
import { postStream } from '../support/sse';

const CLI = join(__dirname, '../../dist/cli/main.js');
const CODE = 'import sys\nprint("through a door")\nprint("and its stderr", file=sys.stderr)';

type Server = Awaited<ReturnType<typeof startServer>>;

async function viaMcp(transport: Transport): Promise<string> {
  const client = new Client({ name: 'runbox-doors-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    const result = (await client.callTool({ name: 'run_python', arguments: { code: CODE } })) as { structuredContent?: { id?: string } };
    return result.structuredContent!.id!;
  } finally {
    await client.close();
  }
}

async function viaCompat(server: Server, key: string, path: string, body: object): Promise<string> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(body),
  });
  expect({ path, status: res.status }).toEqual({ path, status: 200 });
  await res.arrayBuffer();
  return res.headers.get('x-runbox-run-id')!;
}

/** runbox_runs_total by status, as /metrics says. */
async function runsByStatus(server: Server): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Object.fromEntries(
    [...text.matchAll(/^runbox_runs_total\{status="(\w+)"\} (\d+)$/gm)].map(([, status, n]) => [status, Number(n)]),
  );
}

/** The parts of an audit record that describe the run rather than its moment. */
const describing = ({ status, exit_code, bytes_in, bytes_out, code_sha256, artifacts, image_id }: Json) => ({
  status,
  exit_code,
  bytes_in,
  bytes_out,
  code_sha256,
  artifacts,
  image_id,
});

/** The metric names of a Server-Timing field, in order, and the acquire phase's description. */
function timingOf(field: string | null | undefined) {
  const metrics = (field ?? '').split(', ').map((metric) => metric.split(';'));
  for (const [, dur] of metrics) expect(dur).toMatch(/^dur=\d+(\.\d)?$/);
  return {
    names: metrics.map(([name]) => name),
    source: metrics.find(([name]) => name === 'acquire')?.[2],
  };
}

const ALL_PHASES = ['queue', 'acquire', 'upload', 'program', 'collect', 'record', 'total'];

/** A streamed run over node's own client, which gives the trailers fetch() hides. */
function streamedRun(url: string, headers: Record<string, string>, body: object) {
  return new Promise<{ header: string | undefined; trailer: string | undefined; text: string }>((resolve, reject) => {
    const req = request(`${url}/v1/runs`, { method: 'POST', headers: { ...headers, accept: 'text/event-stream' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ header: res.headers['server-timing'] as string | undefined, trailer: res.trailers['server-timing'], text }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('every door onto the one run service', () => {
  let server: Server;
  let key: string;
  beforeAll(async () => {
    server = await startServer({ RUNBOX_POOL_SIZE: '0' });
    const made = makeKey({ name: 'doors', env: 'test', limits: NO_LIMITS });
    await server.store.addKey(made.record);
    key = made.key;
  });
  afterAll(async () => {
    await server.close();
    expect(await eventually(async () => (await instanceContainers(server.config.instanceId)).length === 0)).toBe(true);
  });

  it('gives the same audit record and the same metrics for the same program, whichever door it came in by', async () => {
    const headers = { 'content-type': 'application/json', 'x-api-key': key };
    const before = await runsByStatus(server);
    const doors: Record<string, () => Promise<string>> = {
      'POST /v1/runs': async () => (await postRun(server.url, { code: CODE }, { headers })).body.id,
      'POST /v1/runs as SSE': async () => {
        const { events } = await postStream(server.url, { code: CODE }, { headers: { ...headers, accept: 'text/event-stream' } });
        return events.find((e) => e.event === 'result')!.data.id;
      },
      'MCP over Streamable HTTP': () =>
        viaMcp(new StreamableHTTPClientTransport(new URL('/mcp', server.url), { requestInit: { headers: { 'x-api-key': key } } })),
      'MCP over stdio': () =>
        viaMcp(
          new StdioClientTransport({
            command: process.execPath,
            args: [CLI, 'mcp', '--url', server.url],
            env: { PATH: process.env.PATH ?? '', RUNBOX_API_KEY: key },
            stderr: 'pipe',
          }),
        ),
      'POST /run (seeds 000, 003)': () => viaCompat(server, key, '/run', { code: CODE }),
      'POST /api/v1/execute (seed 002)': () => viaCompat(server, key, '/api/v1/execute', { code: CODE }),
      'POST /api/run (seed 001)': () => viaCompat(server, key, '/api/run', { script: CODE }),
    };
    const records: Record<string, Json> = {};
    for (const [door, run] of Object.entries(doors)) {
      const id = await run();
      const { status, body } = await getRecord(server.url, id, key);
      expect({ door, status }).toEqual({ door, status: 200 });
      records[door] = describing(body);
    }
    const expected = records['POST /v1/runs'];
    expect(expected).toMatchObject({ status: 'ok', exit_code: 0, bytes_out: 'through a door\n'.length + 'and its stderr\n'.length });
    for (const [door, record] of Object.entries(records)) expect({ door, record }).toEqual({ door, record: expected });
    // Each run counted once, under its status, whichever door it came in by.
    const after = await runsByStatus(server);
    expect((after.ok ?? 0) - (before.ok ?? 0)).toBe(Object.keys(doors).length);
  }, 180_000);

  it("says where the run's time went on every HTTP door (Server-Timing), and a stream's in its trailer", async () => {
    const headers = { 'content-type': 'application/json', 'x-api-key': key };
    const fields: Record<string, string | null> = {};
    fields['POST /v1/runs'] = (await postRun(server.url, { code: CODE }, { headers })).headers.get('server-timing');
    const mcp = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { ...headers, accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run_python', arguments: { code: CODE } } }),
    });
    expect(((await mcp.json()) as Json).result.isError).toBe(false);
    fields['MCP over Streamable HTTP'] = mcp.headers.get('server-timing');
    for (const [path, body] of [
      ['/run', { code: CODE }],
      ['/api/v1/execute', { code: CODE }],
      ['/api/run', { script: CODE }],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      await res.arrayBuffer();
      fields[`POST ${path}`] = res.headers.get('server-timing');
    }
    for (const [door, field] of Object.entries(fields)) {
      expect({ door, timing: timingOf(field) }).toEqual({ door, timing: { names: ALL_PHASES, source: 'desc="new container"' } });
    }
    // A stream's header goes out as the run starts, with the phases so far; its trailer has them all.
    const streamed = await streamedRun(server.url, headers, { code: CODE });
    expect(streamed.text).toMatch(/event: result\n/);
    expect(timingOf(streamed.header).names).toEqual(['queue', 'acquire', 'record', 'total']);
    expect(timingOf(streamed.trailer)).toEqual({ names: ALL_PHASES, source: 'desc="new container"' });
    // A refusal says how long it took to refuse.
    const refused = await postRun(server.url, { code: 1 }, { headers });
    expect(refused.status).toBe(400);
    expect(timingOf(refused.headers.get('server-timing')).names).toEqual(['total']);
  }, 120_000);
});
