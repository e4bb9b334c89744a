/**
 * `npm run bench:agents`: the same chart-making run through each door an agent uses — POST /v1/runs,
 * POST /mcp (tools/call), `runbox mcp` over stdio, and the other runners' contracts (POST /run, /api/run,
 * /api/v1/execute, /execute) — against a `docker run --rm` one-shot of the same
 * program in the same run, and what each door returns for it. Loopback only; every phase is bounded.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { join } from 'node:path';
import { spawnServer } from '../test/support/server-process';
import { postRun, type Json } from '../test/support/http';
import { CHART_SCRIPT, DATA_SCIENCE_ONE_SHOT, dockerRun, measure, type Attempt } from './harness';
import { writeResults } from './stats';

const RUNS = Number(process.env.BENCH_AGENT_RUNS ?? 15);
const ROOT = join(__dirname, '..', '..');

async function mcpCall(url: string, code: string): Promise<{ body: Json; bytes: number }> {
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run_python', arguments: { code } } }),
  });
  const text = await res.text();
  return { body: JSON.parse(text), bytes: Buffer.byteLength(text) };
}

async function compat(url: string, path: string, body: object): Promise<Json> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

/** A tool result's content, one line per block, base64 shortened: what a model's client receives. */
const describeContent = (content: CallToolResult['content']) =>
  content.map((c) =>
    c.type === 'text'
      ? `text: ${JSON.stringify(c.text.slice(0, 120))}`
      : c.type === 'image'
        ? `image: ${c.mimeType}, ${Buffer.from(c.data, 'base64').length} bytes`
        : c.type === 'resource'
          ? `resource: ${c.resource.uri} (${c.resource.mimeType})`
          : c.type,
  );

async function main() {
  const server = await spawnServer({ RUNBOX_INSTANCE_ID: `bench-agents-${process.pid}`, RUNBOX_POOL_SIZE: '2' });
  const image = /"image":"([^"]+)"/.exec(server.log())![1];
  const stdio = new Client({ name: 'bench', version: '1' });
  await stdio.connect(
    new StdioClientTransport({ command: process.execPath, args: [join(ROOT, 'dist/cli/main.js'), 'mcp', '--url', server.url] }),
  );
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`${what} failed`);
  };
  const doors: Record<string, Attempt> = {
    'POST /v1/runs': async () => {
      const res = await postRun(server.url, { code: CHART_SCRIPT });
      check(res.body.status === 'ok', '/v1/runs');
    },
    'POST /mcp': async () => check((await mcpCall(server.url, CHART_SCRIPT)).body.result?.isError === false, '/mcp'),
    'runbox mcp (stdio)': async () => {
      const result = (await stdio.callTool({ name: 'run_python', arguments: { code: CHART_SCRIPT } })) as CallToolResult;
      check(result.isError === false, 'stdio');
    },
    'POST /run (seeds 000, 003)': async () => check((await compat(server.url, '/run', { code: CHART_SCRIPT })).exit_code === 0, '/run'),
    'POST /api/run (seed 001)': async () => {
      const answer = await compat(server.url, '/api/run', { script: CHART_SCRIPT });
      check(answer.exit_code === 0 && answer.artifacts['chart.png'] !== undefined, '/api/run');
    },
    'POST /api/v1/execute (seed 002)': async () =>
      check((await compat(server.url, '/api/v1/execute', { code: CHART_SCRIPT, timeout: 30 })).status === 'success', '/api/v1/execute'),
    'POST /execute (seed 004)': async () =>
      check((await compat(server.url, '/execute', { code: `${CHART_SCRIPT}\nresult = 285` })).success === true, '/execute'),
    'docker run --rm': () => dockerRun(image, DATA_SCIENCE_ONE_SHOT, '285\n'),
  };
  try {
    // Warm-up: the pool turns to preloaded members as chart requests arrive.
    for (const attempt of Object.values(doors)) await measure(attempt, 3, 1);
    const rows = [];
    for (const [door, attempt] of Object.entries(doors)) {
      await new Promise((r) => setTimeout(r, 1500)); // let the pool refill
      rows.push({ door, ...(await measure(attempt, RUNS, 1)) });
    }
    const base = rows[0].p50;
    console.table(
      rows.map((r) => ({
        door: r.door,
        n: r.n,
        p50_ms: Math.round(r.p50),
        p95_ms: Math.round(r.p95),
        vs_v1_runs: Number((r.p50 / base).toFixed(2)),
      })),
    );

    // What each door returns for one chart-making run.
    const run = await postRun(server.url, { code: CHART_SCRIPT });
    const mcp = await mcpCall(server.url, CHART_SCRIPT);
    const viaStdio = (await stdio.callTool({ name: 'run_python', arguments: { code: CHART_SCRIPT } })) as CallToolResult;
    const tools = (await (await fetch(`${server.url}/v1/tools`)).json()) as Json;
    const shapes = {
      'POST /v1/runs': {
        bytes: Buffer.byteLength(JSON.stringify(run.body)),
        fields: Object.keys(run.body),
        status: run.body.status,
        exit_code: run.body.exit_code,
        stdout: run.body.stdout,
        artifacts: run.body.artifacts.map((a: Json) => ({
          path: a.path,
          size: a.size,
          mime_type: a.mime_type,
          sha256: a.sha256,
          encoding: a.encoding,
        })),
      },
      'POST /mcp': { bytes: mcp.bytes, content: describeContent(mcp.body.result.content), isError: mcp.body.result.isError },
      'runbox mcp (stdio)': { content: describeContent(viaStdio.content), isError: viaStdio.isError },
      'GET /v1/tools': {
        tool: tools.tools[0].name,
        formats: Object.keys(tools.formats),
        input: Object.keys(tools.tools[0].inputSchema.properties),
      },
    };
    console.log(JSON.stringify(shapes, null, 2));
    writeResults('agents', { image, rows, shapes });
  } finally {
    await stdio.close();
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

void main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
