/**
 * What the server writes to its log over a whole session of ordinary and failing requests, at debug level:
 * every line of a request carries its id; no key, Authorization header or code ever appears.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testDataDir } from '../support/config';
import { postRun } from '../support/http';
import { spawnServer } from '../support/server-process';
import { postStream } from '../support/sse';

const CLI = join(__dirname, '../../dist/cli/main.js');
const run = promisify(execFile);

describe("a server session's logs", () => {
  it('carry request ids, and never a key, an Authorization header or code', async () => {
    const dataDir = testDataDir();
    const { stdout } = await run(process.execPath, [CLI, 'keys', 'add', '--name', 'logged', '--rate', '50', '--daily-runs', '100'], {
      env: { PATH: process.env.PATH, RUNBOX_DATA_DIR: dataDir },
    });
    const key = stdout.trim();
    const bootstrap = `bootstrap-${randomBytes(12).toString('hex')}`;
    const wrongKey = `rbx_test_${'Z'.repeat(32)}`;
    const marker = `code_marker_${randomBytes(8).toString('hex')}`;
    const server = await spawnServer({
      RUNBOX_DATA_DIR: dataDir,
      RUNBOX_API_KEY: bootstrap,
      RUNBOX_LOG_LEVEL: 'debug',
      RUNBOX_POOL_SIZE: '1',
    });
    try {
      const as = (k: string, extra: Record<string, string> = {}) => ({
        headers: { 'content-type': 'application/json', authorization: `Bearer ${k}`, ...extra },
      });
      const ok = await postRun(server.url, { code: `print("${marker}")` }, as(key, { 'x-request-id': 'logs-test-ok' }));
      expect(ok.status).toBe(200);
      expect((await postRun(server.url, { code: `raise SystemExit("${marker}")` }, as(bootstrap))).body.exit_code).toBe(1);
      expect((await postRun(server.url, { code: `import time; time.sleep(5) # ${marker}`, timeout_ms: 500 }, as(key))).body.status).toBe(
        'timeout',
      );
      expect((await postRun(server.url, { code: `print("${marker}")`, nonsense: marker }, as(key))).status).toBe(400);
      expect((await postRun(server.url, { code: `print("${marker}")` }, as(wrongKey))).status).toBe(401);
      expect(
        (await postRun(server.url, { code: `print("${marker}")` }, { headers: { 'content-type': 'application/json', 'x-api-key': key } }))
          .status,
      ).toBe(200);
      const streamed = await postStream(
        server.url,
        { code: `print("${marker}")` },
        {
          headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${key}` },
        },
      );
      expect(streamed.events.at(-1)?.event).toBe('result');
      const mcp = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-api-key': key },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'run_python', arguments: { code: `print("${marker}")` } },
        }),
      });
      expect(mcp.status).toBe(200);
      expect((await fetch(`${server.url}/v1/runs/${ok.body.id}`, as(key))).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    const log = server.log();
    const lines = log
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { requestId?: string; msg: string; level: number });
    expect(lines.length).toBeGreaterThan(10);
    // The run's lines, from its request line to its end, all carry the client's id.
    expect(lines.filter((l) => l.requestId === 'logs-test-ok').map((l) => l.msg)).toEqual(expect.arrayContaining(['run ended', 'request']));
    expect(lines.filter((l) => l.msg === 'request').every((l) => typeof l.requestId === 'string')).toBe(true);
    for (const secret of [key, key.slice(9), bootstrap, wrongKey, marker, 'Bearer ']) expect(log).not.toContain(secret);
    expect(log.toLowerCase()).not.toContain('authorization');
  });
});
