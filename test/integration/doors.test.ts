/**
 * One run service under every door, against the real engine: the same program through POST /v1/runs,
 * SSE, MCP (Streamable HTTP and stdio) and the compat routes leaves the same audit record and the same
 * metrics, under the same key.
 */
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
});
