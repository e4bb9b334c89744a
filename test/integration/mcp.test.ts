/** MCP through the SDK's own client, over Streamable HTTP (/mcp) and stdio (`runbox mcp`), against the real engine. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { eventually, instanceContainers, programRunning, startServer } from '../support/engine';

const KEY = 'mcp-test-key-'.padEnd(40, 'x');
const CLI = join(__dirname, '../../dist/cli/main.js');

const CHART = [
  'import pandas as pd, matplotlib.pyplot as plt',
  'df = pd.DataFrame({"x": range(5), "y": [v * v for v in range(5)]})',
  'df.plot(x="x", y="y")',
  'plt.savefig("output/chart.png")',
  'df.to_csv("output/table.csv", index=False)',
  'plt.figure(); plt.bar(["a", "b"], [1, 2]); plt.show()',
  'print(int(df.y.sum()))',
].join('\n');

type Server = Awaited<ReturnType<typeof startServer>>;

const transports: Record<string, (server: Server, key?: string) => StdioClientTransport | StreamableHTTPClientTransport> = {
  'Streamable HTTP': (server, key = KEY) =>
    new StreamableHTTPClientTransport(new URL('/mcp', server.url), { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
  stdio: (server, key = KEY) =>
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--url', server.url],
      env: { PATH: process.env.PATH ?? '', RUNBOX_API_KEY: key },
      stderr: 'pipe',
    }),
};

async function connect(transport: StdioClientTransport | StreamableHTTPClientTransport): Promise<Client> {
  const client = new Client({ name: 'runbox-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

const texts = (result: CallToolResult) => result.content.filter((c) => c.type === 'text').map((c) => c.text);

describe.each(Object.entries(transports))('MCP over %s', (_name, transportFor) => {
  let server: Server;
  let client: Client;

  beforeAll(async () => {
    expect(existsSync(CLI)).toBe(true); // `npm test` builds dist/ before these suites
    server = await startServer({ RUNBOX_API_KEY: KEY, RUNBOX_POOL_SIZE: '0', RUNBOX_MAX_CONCURRENT: '1', RUNBOX_MAX_QUEUE: '1' });
    client = await connect(transportFor(server));
  });

  afterAll(async () => {
    await client?.close();
    await server.close(30_000);
    expect(await instanceContainers(server.config.instanceId)).toEqual([]);
  });

  it('lists run_python with the schema /v1/tools publishes', async () => {
    const { tools } = await client.listTools();
    const published = (await (await fetch(`${server.url}/v1/tools`)).json()) as { formats: { mcp: unknown[] } };
    expect(tools).toEqual(published.formats.mcp);
    expect(client.getServerVersion()?.name).toBe('runbox');
  });

  it('returns a chart as an image, other files as resources, and the status stated plainly', async () => {
    const result = (await client.callTool({ name: 'run_python', arguments: { code: CHART, timeout_ms: 60_000 } })) as CallToolResult;
    expect(result.isError).toBe(false);
    expect(texts(result)[0]).toMatch(/^The program finished successfully \(exit code 0\) in \d+ ms\./);
    expect(texts(result)[0]).toContain('chart.png (image/png');
    expect(texts(result)[1]).toBe('stdout:\n30\n');
    const images = result.content.filter((c) => c.type === 'image');
    // chart.png, and plt.show() saves the one open figure the program had not saved itself: figure-1.png.
    expect(images).toHaveLength(2);
    for (const image of images) {
      expect(image.mimeType).toBe('image/png');
      expect(Buffer.from(image.data, 'base64').subarray(1, 4).toString()).toBe('PNG');
    }
    expect(result.content).toContainEqual({
      type: 'resource',
      resource: {
        uri: expect.stringMatching(/^runbox:\/\/runs\/.+\/output\/table\.csv$/),
        mimeType: 'text/csv',
        text: 'x,y\n0,0\n1,1\n2,4\n3,9\n4,16\n',
      },
    });
  });

  it('passes files and stdin, and reports a failing program as a normal result', async () => {
    const result = (await client.callTool({
      name: 'run_python',
      arguments: {
        code: 'import sys\nprint(open("data/in.txt").read() + sys.stdin.read())\nraise SystemExit(4)',
        files: [{ path: 'data/in.txt', content: 'aGVsbG8g', encoding: 'base64' }],
        stdin: 'world',
      },
    })) as CallToolResult;
    expect(result.isError).toBe(false);
    expect(texts(result)[0]).toMatch(/^The program failed \(exit code 4\)/);
    expect(texts(result)[1]).toBe('stdout:\nhello world\n');
  });

  it('refuses bad arguments with a JSON-RPC error naming the field', async () => {
    await expect(client.callTool({ name: 'run_python', arguments: { code: 'print(1)', memory_mb: 64 } })).rejects.toThrow(
      'memory_mb is not a known field',
    );
    await expect(client.callTool({ name: 'run_shell', arguments: { code: 'ls' } })).rejects.toThrow('unknown tool "run_shell"');
  });

  it('makes a busy service a tool error with advice, while runs hold the only slot and the queue', async () => {
    const running = client.callTool({ name: 'run_python', arguments: { code: 'import time; time.sleep(4)' } });
    // Its program is running, so it holds the only slot (the slot of an earlier test's run is free once its
    // container is removed, which may come after its answer).
    expect(await eventually(() => programRunning(server.config.instanceId), 15_000, 20)).toBe(true);
    const queued = client.callTool({ name: 'run_python', arguments: { code: 'print(1)', timeout_ms: 60_000 } });
    expect(await eventually(() => server.admission.queued === 1, 15_000, 20)).toBe(true);
    const busy = (await client.callTool({ name: 'run_python', arguments: { code: 'print(1)' } })) as CallToolResult;
    expect(busy.isError).toBe(true);
    expect(texts(busy)[0]).toMatch(/busy.*call the tool again.*runbox said: busy: /s);
    const ran = (await running) as CallToolResult;
    expect(ran.isError ? texts(ran) : []).toEqual([]);
    const queuedResult = (await queued) as CallToolResult;
    expect(queuedResult.isError ? texts(queuedResult) : []).toEqual([]);
  });

  it('stops the run when the client cancels the call (stdio: the bridge closes its request)', async () => {
    if (transportFor(server) instanceof StreamableHTTPClientTransport) {
      // Stateless HTTP: a cancel arrives as its own POST, which no server holds the call of; the SDK's HTTP
      // client keeps its request open, so the run goes on to its own limit. Nothing to test here.
      return;
    }
    await expect(
      client.callTool({ name: 'run_python', arguments: { code: 'import time; time.sleep(120)', timeout_ms: 200_000 } }, undefined, {
        timeout: 2000,
      }),
    ).rejects.toThrow(/timed out/i);
    // Gone long before the program would have ended (it sleeps 120 s).
    expect(await eventually(async () => (await instanceContainers(server.config.instanceId)).length === 0, 30_000)).toBe(true);
  });

  it('is refused without the right key', async () => {
    const wrong = transportFor(server, 'not-the-key');
    if (wrong instanceof StreamableHTTPClientTransport) {
      await expect(connect(wrong)).rejects.toThrow(/unauthorized/);
    } else {
      // stdio starts; the bridge answers what runbox refused, so the client fails with runbox's message.
      await expect(connect(wrong)).rejects.toThrow(/unauthorized: a valid API key is required/);
      await wrong.close();
    }
  });
});

describe('runbox mcp without a server', () => {
  it('fails the client with a message naming the unreachable server, not a hang', async () => {
    // A loopback port just freed: nothing listens there, so the connection is refused at once.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--url', `http://127.0.0.1:${port}`],
      env: { PATH: process.env.PATH ?? '' },
      stderr: 'pipe',
    });
    await expect(connect(transport)).rejects.toThrow(`unreachable: cannot reach runbox at http://127.0.0.1:${port}/mcp (ECONNREFUSED)`);
    await transport.close();
  });
});
