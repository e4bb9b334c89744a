/**
 * The five seed runners' contracts, against the real engine: each seed's own example requests through its
 * route, with the documented response shape and values; malformed bodies get the route's own error shape.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServer } from '../support/engine';
import { getRecord } from '../support/http';

const CLI = join(__dirname, '../../dist/cli/main.js');
const run = promisify(execFile);

type Server = Awaited<ReturnType<typeof startServer>>;

/** POSTs a body (an object, or raw text) and returns status, parsed body and raw text. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text, headers: res.headers };
}

describe('seed runner contracts', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer({ RUNBOX_POOL_SIZE: '2', RUNBOX_MAX_CONCURRENT: '4' });
  });
  afterAll(async () => {
    await server.close();
  });

  describe('POST /run (seeds 000 and 003)', () => {
    const runUrl = () => `${server.url}/run`;

    it("seed 000's example: language and code, answered with returncode (and seed 003's fields)", async () => {
      const res = await post(runUrl(), { language: 'python', code: 'print("Hello from the runner!")' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ stdout: 'Hello from the runner!\n', stderr: '', returncode: 0, exit_code: 0, timed_out: false });
      expect(res.headers.get('x-runbox-run-id')).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("seed 003's examples: print, calculation, loop, an error, and a timeout that keeps the output so far", async () => {
      expect((await post(runUrl(), { code: 'print("Hello, World!")', timeout: 5 })).body.stdout).toBe('Hello, World!\n');
      expect((await post(runUrl(), { code: 'result = 2 + 2\nprint(f"Result: {result}")', timeout: 5 })).body.stdout).toBe('Result: 4\n');
      expect((await post(runUrl(), { code: 'for i in range(5):\n    print(i)', timeout: 5 })).body.stdout).toBe('0\n1\n2\n3\n4\n');
      const error = await post(runUrl(), { code: 'x = 1 / 0', timeout: 5 });
      expect(error.body).toMatchObject({ exit_code: 1, returncode: 1, timed_out: false });
      expect(error.body.stderr).toMatch(/ZeroDivisionError: division by zero\n$/);
      const slow = await post(runUrl(), { code: 'import time\nprint("started", flush=True)\ntime.sleep(10)\nprint("Done")', timeout: 2 });
      expect(slow.body).toMatchObject({ stdout: 'started\n', exit_code: -1, returncode: -1, timed_out: true });
      expect(slow.body.stderr).toMatch(/Execution timed out after 2 seconds$/);
    });

    it('dedents the code (seed 000), and cuts each stream at 10,000 characters, marking the cut (seed 003)', async () => {
      const indented = await post(runUrl(), { code: '    x = 2\n    \n    print(x * 21)\n' });
      expect(indented.body.stdout).toBe('42\n');
      const long = await post(runUrl(), { code: 'import sys\nprint("é" * 12000)\nsys.stderr.write("x" * 10000)' });
      expect(long.body.stdout).toBe(`${'é'.repeat(10_000)}\n... (output truncated)`);
      // Exactly 10,000 characters is not cut.
      expect(long.body.stderr).toBe('x'.repeat(10_000));
    });

    it('refuses another language, empty code and bodies that break the model, in FastAPI’s shapes', async () => {
      expect(await post(runUrl(), { language: 'javascript', code: 'console.log(1)' })).toMatchObject({
        status: 400,
        body: { detail: 'language "javascript" is not supported: only python' },
      });
      expect(await post(runUrl(), { code: '  \n ' })).toMatchObject({ status: 400, body: { detail: 'Code cannot be empty' } });
      const missing = await post(runUrl(), { timeout: 5 });
      expect(missing.status).toBe(422);
      expect(missing.body.detail).toEqual([{ type: 'missing', loc: ['body', 'code'], msg: 'Field required', input: { timeout: 5 } }]);
      const badTimeout = await post(runUrl(), { code: 'print(1)', timeout: 'soon' });
      expect(badTimeout.status).toBe(422);
      expect(badTimeout.body.detail[0]).toMatchObject({ type: 'int_parsing', loc: ['body', 'timeout'] });
      for (const malformed of ['{"code": ', '[1, 2]', 'null']) {
        const res = await post(runUrl(), malformed);
        expect(res.status).toBe(422);
        expect(res.body.detail[0].type).toMatch(/^(json_invalid|model_attributes_type)$/);
      }
    });
  });

  it("seed 003's validation script, steps 5 onward, passes unchanged against the server", async () => {
    // Addressed as localhost, as the script does: the server runs keyless, for loopback names only.
    const url = server.url.replace('127.0.0.1', 'localhost');
    const script = readFileSync(join(__dirname, '../seeds/seed-003-validation.sh'), 'utf8').replaceAll('http://localhost:8000', url);
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      const child = execFile('bash', ['-s'], { timeout: 60_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${out}\n${errOut}`)) : resolve({ stdout: out }),
      );
      child.stdin!.end(script);
    });
    for (const step of [
      'Health check',
      'Readiness check',
      'Simple execution',
      'Calculation execution',
      'Error handling',
      'Timeout handling',
    ]) {
      expect(stdout).toContain(`✓ ${step} passed`);
    }
    expect(stdout).toContain('✓ All validations passed!');
  });

  describe('POST /api/run (seed 001)', () => {
    const url = () => `${server.url}/api/run`;
    /** A 1×1 PNG, as the seed's "binary files" example sends one. */
    const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

    it("the contract's own example, and the quick starts", async () => {
      const res = await post(url(), { script: 'print(2 + 2)' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ exit_code: 0, stdout: '4\n', stderr: '', artifacts: {} });
      expect((await post(url(), { script: 'print(1 + 1)' })).body.stdout).toBe('2\n');
      expect((await post(url(), { script: 'import pandas as pd; print(pd.__version__)' })).body.stdout).toMatch(/^\d+\.\d+/);
    });

    it('the chart example: ./output/chart.png comes back as base64', async () => {
      const res = await post(url(), {
        script: "\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.savefig('./output/chart.png')\nprint('done')\n",
        timeout_s: 30,
      });
      expect(res.body).toMatchObject({ exit_code: 0, stdout: 'done\n' });
      expect(Object.keys(res.body.artifacts)).toEqual(['chart.png']);
      expect(res.body.artifacts['chart.png'].encoding).toBe('base64');
      expect(Buffer.from(res.body.artifacts['chart.png'].content, 'base64').subarray(1, 4).toString()).toBe('PNG');
    });

    it('script mode: context files in ./input/ (text and base64), text artifacts as strings, paths under output/', async () => {
      const json = await post(url(), {
        script: "import json\nwith open('./input/data.json') as f:\n    print(json.load(f))",
        timeout_s: 30,
        dependencies: ['requests'],
        context: { 'data.json': '{"key": "value"}' },
      });
      expect(json.body).toEqual({ exit_code: 0, stdout: "{'key': 'value'}\n", stderr: '', artifacts: {} });
      const image = await post(url(), {
        script: "from PIL import Image\nimg = Image.open('./input/photo.png')\nprint(img.size)",
        context: { 'photo.png': { content: PNG, encoding: 'base64' } },
      });
      expect(image.body.stdout).toBe('(1, 1)\n');
      const written = await post(url(), {
        script: [
          'import os',
          'os.makedirs("output/sub", exist_ok=True)',
          'open("output/report.txt", "w").write("total: 3\\n")',
          'open("output/sub/data.bin", "wb").write(bytes([0, 1, 2, 255]))',
        ].join('\n'),
      });
      expect(written.body.artifacts).toEqual({
        'report.txt': 'total: 3\n',
        'sub/data.bin': { content: Buffer.from([0, 1, 2, 255]).toString('base64'), encoding: 'base64' },
      });
    });

    it('files mode: every file at the execution root, imports between them', async () => {
      const res = await post(url(), {
        files: {
          'main.py': 'from utils import process\nprocess()',
          'utils.py': "def process():\n    print('hello')",
          'data.csv': 'a,b\n1,2',
        },
        entry_point: 'main.py',
        timeout_s: 60,
      });
      expect(res.body).toEqual({ exit_code: 0, stdout: 'hello\n', stderr: '', artifacts: {} });
      const nested = await post(url(), {
        files: { 'app/main.py': 'import csv\nprint(open("data.csv").read().count("\\n"))', 'data.csv': 'a,b\n1,2\n' },
        entry_point: 'app/main.py',
      });
      expect(nested.body.stdout).toBe('2\n');
    });

    it('a timeout is exit code 124, with what was printed before it', async () => {
      const res = await post(url(), { script: 'import time\nprint("begun", flush=True)\ntime.sleep(10)', timeout_s: 1 });
      expect(res.body).toMatchObject({ exit_code: 124, stdout: 'begun\n' });
      expect(res.body.stderr).toMatch(/\n\[Error: Script timed out\]$/);
    });

    it('refuses malformed requests with {"error"} and a 4xx naming the problem, never a 5xx', async () => {
      const cases: [unknown, number, RegExp][] = [
        ['{"script": ', 400, /^Request body must be valid JSON/],
        [[1, 2], 400, /must be a JSON object/],
        [{}, 400, /^`script` is required and must be a string\.$/],
        [{ script: 42 }, 400, /`script` is required/],
        [{ script: 'print(1)', timeout_s: 0 }, 400, /^`timeout_s` must be > 0\.$/],
        [{ script: 'print(1)', timeout_s: 'soon' }, 400, /must be an integer/],
        [{ script: 'print(1)', context: { '../etc/passwd': 'x' } }, 400, /path separators/],
        [{ script: 'print(1)', context: { '.env': 'x' } }, 400, /Hidden files/],
        [{ script: 'print(1)', context: { 'a.bin': { content: '***', encoding: 'base64' } } }, 400, /not valid base64/],
        [{ script: 'print(1)', context: { 'a.txt': { content: 'x', encoding: 'latin-1' } } }, 400, /Invalid encoding/],
        [{ files: { '../x.py': 'print(1)' }, entry_point: '../x.py' }, 400, /Path traversal not allowed/],
        [{ files: { '/abs.py': 'print(1)' }, entry_point: '/abs.py' }, 400, /Absolute paths/],
        [{ files: { 'a.py': 'print(1)' } }, 400, /`entry_point` is required/],
        [{ files: { 'a.py': 'print(1)' }, entry_point: 'b.py' }, 400, /Entry point 'b.py' not found/],
        [{ files: { 'a.txt': 'x' }, entry_point: 'a.txt' }, 400, /must be a \.py file/],
        [{ files: {}, entry_point: 'a.py' }, 400, /cannot be empty/],
        [{ script: 'x', files: { 'a.py': '' }, entry_point: 'a.py' }, 400, /not both/],
        [{ script: 'print(1)', dependencies: Array.from({ length: 16 }, (_, i) => `p${i}`) }, 400, /Too many dependencies: 16/],
        [{ script: 'print(1)', dependencies: ['no-such-package'] }, 400, /no-such-package cannot be satisfied/],
        [{ script: 'print(1)', dependencies: ['--index-url=http://127.0.0.1:9/'] }, 400, /index-url/],
        [{ script: 'x'.repeat(256 * 1024 + 1) }, 413, /^Script too large: 262145 bytes exceeds 262144 bytes\.$/],
      ];
      for (const [body, status, message] of cases) {
        const res = await post(url(), body);
        expect({ body, status: res.status }).toEqual({ body, status });
        expect(Object.keys(res.body)).toEqual(['error']);
        expect(res.body.error).toMatch(message);
      }
    });
  });

  describe('POST /api/v1/execute (seed 002)', () => {
    const url = () => `${server.url}/api/v1/execute`;

    it("the seed's examples: success, an error, and a timeout", async () => {
      const ok = await post(url(), { code: "print('Hello, World!')\nresult = 2 + 2\nprint(f'Result: {result}')", timeout: 5 });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({
        status: 'success',
        stdout: 'Hello, World!\nResult: 4\n',
        stderr: '',
        execution_time: expect.any(Number),
        return_code: 0,
      });
      expect(ok.body.execution_time).toBeGreaterThan(0);
      expect((await post(url(), { code: 'x = 10\ny = 20\nprint(f"Sum: {x + y}")', timeout: 5 })).body.stdout).toBe('Sum: 30\n');
      const error = await post(url(), { code: 'print(undefined_variable)', timeout: 5 });
      expect(error.body).toMatchObject({ status: 'error', return_code: 1 });
      expect(error.body.stderr).toContain("NameError: name 'undefined_variable' is not defined");
      const slow = await post(url(), { code: 'import time\ntime.sleep(10)', timeout: 2 });
      expect(slow.body).toMatchObject({ status: 'timeout', return_code: -1 });
      // Seconds, not milliseconds: the run's duration as the server measured it and recorded it.
      const { body: record } = await getRecord(server.url, slow.headers.get('x-runbox-run-id')!);
      expect(record.status).toBe('timeout');
      expect(slow.body.execution_time).toBe(record.duration_ms / 1000);
    });

    it('a timeout outside 1–30 is a 422 with a FastAPI detail list', async () => {
      for (const [timeout, type, msg] of [
        [0, 'greater_than_equal', 'Input should be greater than or equal to 1'],
        [31, 'less_than_equal', 'Input should be less than or equal to 30'],
      ] as const) {
        const res = await post(url(), { code: 'print(1)', timeout });
        expect(res.status).toBe(422);
        expect(res.body.detail).toEqual([
          { type, loc: ['body', 'timeout'], msg, input: timeout, ctx: type === 'less_than_equal' ? { le: 30 } : { ge: 1 } },
        ]);
      }
      expect((await post(url(), { code: '', timeout: 5 })).body.detail[0]).toMatchObject({
        type: 'string_too_short',
        loc: ['body', 'code'],
      });
      expect((await post(url(), 'not json')).status).toBe(422);
    });
  });

  describe('POST /execute (seed 004)', () => {
    const url = () => `${server.url}/execute`;

    it("the seed's examples: data in, result out, as JSON numbers Python wrote them", async () => {
      const mean = await post(url(), { code: "result = sum(data['numbers']) / len(data['numbers'])", data: { numbers: [1, 2, 3, 4, 5] } });
      expect(mean.status).toBe(200);
      expect(mean.text).toBe('{"success":true,"result":3.0,"stdout":""}');
      const sum = await post(url(), { code: 'result = data["x"] + data["y"]', data: { x: 1, y: 2 } });
      expect(sum.body).toEqual({ success: true, result: 3, stdout: '' });
    });

    it('full Python: imports and prints; exceptions and results that are not JSON are success: false, without a traceback', async () => {
      const full = await post(url(), {
        code: 'import statistics\nprint("working")\nresult = {"median": statistics.median(data["v"])}',
        data: { v: [3, 1, 2] },
      });
      expect(full.body).toEqual({ success: true, result: { median: 2 }, stdout: 'working\n' });
      const raised = await post(url(), { code: 'result = 1 / 0' });
      expect(raised.body).toEqual({ success: false, error: 'ZeroDivisionError: division by zero', stdout: '' });
      const notJson = await post(url(), { code: 'result = {1, 2}' });
      expect(notJson.body.success).toBe(false);
      expect(notJson.body.error).toBe('result is not JSON-serialisable: TypeError: Object of type set is not JSON serializable');
      const nan = await post(url(), { code: 'result = float("nan")' });
      expect(nan.body.error).toMatch(/^result is not JSON-serialisable: ValueError/);
      const noResult = await post(url(), { code: 'x = 1' });
      expect(noResult.body).toEqual({ success: true, result: null, stdout: '' });
      const syntax = await post(url(), { code: 'def (' });
      expect(syntax.body.error).toMatch(/^SyntaxError: /);
      expect(JSON.stringify([raised.body, syntax.body])).not.toMatch(/Traceback|\.runbox|main\.py/);
    });

    it('bodies that break the model are 422s; data must be an object', async () => {
      expect((await post(url(), { data: {} })).body.detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'code'] });
      expect((await post(url(), { code: 'result = 1', data: [1] })).body.detail[0]).toMatchObject({
        type: 'dict_type',
        loc: ['body', 'data'],
      });
    });
  });
});

describe('every compat route', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_MAX_BODY_BYTES: String(64 * 1024) });
  });
  afterAll(async () => {
    await server.close();
  });

  const routes = [
    { path: '/run', shape: 'detail' },
    { path: '/api/run', shape: 'error' },
    { path: '/api/v1/execute', shape: 'detail' },
    { path: '/execute', shape: 'detail' },
  ] as const;

  it('answers malformed bodies in its own error shape, never with a 5xx, and runs nothing', async () => {
    const malformed: (string | unknown)[] = [
      '',
      '{',
      'not json',
      '[]',
      'null',
      '42',
      '"code"',
      '{"code": {"nested": true}}',
      '{"code": ["print(1)"], "script": ["print(1)"]}',
      '{"code": null, "script": null, "files": null}',
      '{"code": 1e999, "timeout": 1e999, "timeout_s": -1e999}',
      '{"code": "print(1)", "timeout": [], "timeout_s": {}, "data": "x", "files": "x", "context": []}',
      JSON.stringify({ code: 'x'.repeat(70 * 1024), script: 'x' }),
      '{"a":'.repeat(40) + '1' + '}'.repeat(40),
    ];
    for (const { path, shape } of routes) {
      for (const body of malformed) {
        const res = await post(`${server.url}${path}`, body);
        expect({ path, body: String(body).slice(0, 60), status: res.status < 500 && res.status >= 400 }).toEqual({
          path,
          body: String(body).slice(0, 60),
          status: true,
        });
        expect(Object.keys(res.body ?? {})).toEqual([shape]);
      }
    }
    expect(server.runner.liveCount).toBe(0);
  });

  it('goes through the one run path: the audit trail has the run, and the metrics count it', async () => {
    const res = await post(`${server.url}/run`, { code: 'print("audited")' });
    const id = res.headers.get('x-runbox-run-id')!;
    const record = await fetch(`${server.url}/v1/runs/${id}`);
    expect(record.status).toBe(200);
    expect(await record.json()).toMatchObject({ id, status: 'ok', exit_code: 0 });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/runbox_runs_total\{status="ok"\} [1-9]/);
    expect(metrics).toMatch(/runbox_rejections_total\{reason="invalid"\} [1-9]/);
  });
});

describe('seed 004 with keys from `runbox keys`', () => {
  it('a named test client’s key is taken in X-API-Key; a request without one is a 401 in FastAPI’s shape', async () => {
    const server = await startServer({ RUNBOX_POOL_SIZE: '0' });
    try {
      const added = await run(
        process.execPath,
        [CLI, 'keys', 'add', '--name', 'Test Client', '--description', 'For testing', '--env', 'test'],
        {
          env: { PATH: process.env.PATH, RUNBOX_DATA_DIR: server.config.store.dataDir },
        },
      );
      const key = added.stdout.trim();
      expect(key).toMatch(/^rbx_test_/);
      const body = { code: 'result = data["x"] + data["y"]', data: { x: 1, y: 2 } };
      const refused = await post(`${server.url}/execute`, body);
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual({ detail: expect.stringContaining('a valid API key is required') });
      expect((await post(`${server.url}/execute`, body, { 'X-API-Key': key })).body).toEqual({ success: true, result: 3, stdout: '' });
      expect((await post(`${server.url}/run`, { code: 'print(1)' }, { Authorization: `Bearer ${key}` })).body.stdout).toBe('1\n');
      // A key's time limit bounds a contract's timeout as it bounds timeout_ms on /v1/runs: asked beyond it,
      // a 400 naming it; the contract's own default is fitted under it.
      const capped = await run(
        process.execPath,
        [CLI, 'keys', 'add', '--name', 'Short Client', '--env', 'test', '--max-timeout-ms', '2000'],
        { env: { PATH: process.env.PATH, RUNBOX_DATA_DIR: server.config.store.dataDir } },
      );
      const over = await post(`${server.url}/run`, { code: 'print(1)', timeout: 5 }, { 'X-API-Key': capped.stdout.trim() });
      expect(over.status).toBe(400);
      expect(over.body.detail).toMatch(/`timeout` 5 is over the limit of 2 s/);
      const slow = await post(`${server.url}/run`, { code: 'import time\ntime.sleep(10)' }, { 'X-API-Key': capped.stdout.trim() });
      expect(slow.body).toMatchObject({ timed_out: true, exit_code: -1 });
      expect(slow.body.stderr).toMatch(/Execution timed out after 2 seconds$/);
      const quick = await post(`${server.url}/api/run`, { script: 'print("fits")' }, { 'X-API-Key': capped.stdout.trim() });
      expect(quick.body).toMatchObject({ exit_code: 0, stdout: 'fits\n' });
    } finally {
      await server.close();
    }
  });
});
