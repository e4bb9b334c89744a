/** POST /v1/runs against the real Docker engine and the real sandbox image. */
import { createHash } from 'node:crypto';
import { eventually, instanceContainers, runContainers, startServer } from '../support/engine';
import { postRun, type Json } from '../support/http';

type Server = Awaited<ReturnType<typeof startServer>>;
let server: Server;

const run = (body: object, init?: RequestInit) => postRun(server.url, body, init);

const py = (...lines: string[]) => lines.join('\n');

describe.each([
  ['cold path (no pool)', '0'],
  ['warm pool', '2'],
])('%s', (_path, poolSize) => {
  beforeAll(async () => {
    server = await startServer({ RUNBOX_MAX_OUTPUT_BYTES: '65536', RUNBOX_OUTPUT_KILL_BYTES: '4194304', RUNBOX_POOL_SIZE: poolSize });
  });

  // Stopping the server removes every container it made, warm pool members included.
  afterAll(async () => {
    await server.close(30_000);
    expect(await instanceContainers(server.config.instanceId)).toEqual([]);
  });

  describe('runs', () => {
    it('runs hello world and returns the full result shape', async () => {
      const { status, body } = await run({ code: 'print(2 + 2)' });
      expect(status).toBe(200);
      expect(body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        status: 'ok',
        exit_code: 0,
        stdout: '4\n',
        stdout_encoding: 'utf8',
        stderr: '',
        stderr_encoding: 'utf8',
        stdout_truncated: false,
        stderr_truncated: false,
        timed_out: false,
        oom_killed: false,
        message: null,
        duration_ms: expect.any(Number),
        queued_ms: expect.any(Number),
        artifacts: [],
        artifacts_truncated: false,
        usage: { cpu_ms: expect.any(Number), max_rss_kb: expect.any(Number) },
        dependencies: [],
        install_ms: 0,
      });
      expect(body.usage.max_rss_kb).toBeGreaterThan(1000);
    });

    it('reports stderr and the exact non-zero exit code', async () => {
      const { body } = await run({ code: py('import sys', 'print("to err", file=sys.stderr)', 'sys.exit(3)') });
      expect(body).toMatchObject({ status: 'error', exit_code: 3, stderr: 'to err\n' });
    });

    it('reports an uncaught exception as a result, not a service error', async () => {
      const { status, body } = await run({ code: '1 / 0' });
      expect(status).toBe(200);
      expect(body.status).toBe('error');
      expect(body.exit_code).toBe(1);
      expect(body.stderr).toMatch(/ZeroDivisionError: division by zero/);
    });

    it('passes stdin and args', async () => {
      const { body } = await run({
        code: py('import sys', 'print(sys.argv[1:], sys.stdin.read().upper())'),
        stdin: 'hello',
        args: ['--flag', 'two words'],
      });
      expect(body.stdout).toBe("['--flag', 'two words'] HELLO\n");
    });

    it('lays out input files at their paths, with an empty writable output/ beside them', async () => {
      const { body } = await run({
        files: [
          { path: 'app/run.py', content: py('import os, helpers', 'print(helpers.total(), sorted(os.listdir("output")))') },
          { path: 'app/helpers.py', content: py('def total():', '    return sum(int(x) for x in open("data/n.csv").read().split(","))') },
          { path: 'data/n.csv', content: '1,2,3' },
        ],
        entrypoint: 'app/run.py',
      });
      expect(body).toMatchObject({ status: 'ok', stdout: '6 []\n' });
    });

    it('round-trips binary data through base64 input and artifact', async () => {
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const { body } = await run({
        code: py('data = open("blob.bin", "rb").read()', 'open("output/reversed.bin", "wb").write(data[::-1])'),
        files: [{ path: 'blob.bin', content: bytes.toString('base64'), encoding: 'base64' }],
      });
      expect(body.status).toBe('ok');
      const reversed = Buffer.from(bytes).reverse();
      expect(body.artifacts).toEqual([
        {
          path: 'reversed.bin',
          size: 256,
          mime_type: 'application/octet-stream',
          sha256: createHash('sha256').update(reversed).digest('hex'),
          encoding: 'base64',
          content: reversed.toString('base64'),
        },
      ]);
    });

    it('has numpy, pandas and matplotlib, and returns a PNG chart as an artifact', async () => {
      const { body } = await run({
        code: py(
          'import numpy as np, pandas as pd, matplotlib.pyplot as plt',
          'df = pd.DataFrame({"x": np.arange(5), "y": np.arange(5) ** 2})',
          'df.plot(x="x", y="y")',
          'plt.savefig("output/chart.png")',
          'df.to_csv("output/table.csv", index=False)',
          'print(int(df.y.sum()))',
        ),
        timeout_ms: 60_000,
      });
      expect(body).toMatchObject({ status: 'ok', stdout: '30\n', stderr: '' });
      const chart = body.artifacts.find((a: Json) => a.path === 'chart.png');
      expect(chart).toMatchObject({ encoding: 'base64', mime_type: 'image/png' });
      const png = Buffer.from(chart.content, 'base64');
      expect(png.subarray(0, 8)).toEqual(Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'));
      expect(chart.sha256).toBe(createHash('sha256').update(png).digest('hex'));
      expect(body.artifacts.find((a: Json) => a.path === 'table.csv')).toMatchObject({
        mime_type: 'text/csv',
        encoding: 'utf8',
        content: 'x,y\n0,0\n1,1\n2,4\n3,9\n4,16\n',
      });
    });

    it('saves the figures plt.show() shows as output/figure-<n>.png, next to files the program saved itself', async () => {
      const { body } = await run({
        code: py(
          'import matplotlib.pyplot as plt',
          'open("output/figure-1.png", "w").write("taken")',
          'plt.plot([1, 2, 3])',
          'plt.show()',
          'fig, axes = plt.subplots(1, 2)',
          'plt.figure()',
          'plt.bar(["a", "b"], [3, 4])',
          'plt.show()',
          'plt.show()',
          'print(len(plt.get_fignums()))',
        ),
        timeout_ms: 60_000,
      });
      expect(body).toMatchObject({ status: 'ok', stdout: '0\n', stderr: '' });
      const figures = body.artifacts.filter((a: Json) => a.mime_type === 'image/png').map((a: Json) => a.path);
      expect(figures.sort()).toEqual(['figure-2.png', 'figure-3.png', 'figure-4.png']);
      expect(body.artifacts.find((a: Json) => a.path === 'figure-1.png')).toMatchObject({ mime_type: 'text/plain', content: 'taken' });
    });

    it('kills a run at its timeout, and what the program wrote until the kill is in the answer', async () => {
      // The program's time starts as its job is handed in: queueing and making its container are not in it. Its
      // interpreter's start may be (a container made for the run starts one as the job arrives), which under
      // gVisor on a loaded machine took up to about 2 s: 5 s leaves the program time to print its first line.
      const timeoutMs = 5000;
      const { body } = await run({
        code: py(
          'import os, sys, time',
          'started = time.monotonic()',
          'print("before", flush=True)',
          // From shortly before its deadline it writes as fast as it can (at most 8000 lines, within the cap),
          // each number to stdout and then to stderr, one write(2) a line, and it never ends by itself.
          'time.sleep(max(0, float(sys.argv[1]) - 0.3 - (time.monotonic() - started)))',
          'for k in range(8000):',
          '    os.write(1, b"%d\\n" % k)',
          '    os.write(2, b"%d\\n" % k)',
          'time.sleep(120)',
        ),
        args: [String(timeoutMs / 1000)],
        timeout_ms: timeoutMs,
      });
      expect(body).toMatchObject({
        status: 'timeout',
        exit_code: null,
        timed_out: true,
        message: 'time limit of 5 s exceeded',
        stdout_truncated: false,
        stderr_truncated: false,
      });
      // The server's own measure of the program's time: all of its timeout, and a fraction of its 120 s.
      expect(body.duration_ms).toBeGreaterThanOrEqual(timeoutMs);
      expect(body.duration_ms).toBeLessThan(60_000);
      const stdout = body.stdout.split('\n');
      const stderr = body.stderr.split('\n');
      // Complete lines only: the program was killed between two writes.
      expect([stdout.pop(), stderr.pop()]).toEqual(['', '']);
      expect(stdout.shift()).toBe('before');
      // So stdout holds 0..k without a gap, and stderr 0..k or 0..k-1: whatever had not reached the engine when
      // the kill came (under gVisor, what the launcher had not yet copied out of its pipes) would be missing
      // at the end of one of them.
      expect(stdout).toEqual(stdout.map((_: string, i: number) => String(i)));
      expect(stderr).toEqual(stderr.map((_: string, i: number) => String(i)));
      expect(stdout.length - stderr.length).toBeGreaterThanOrEqual(0);
      expect(stdout.length - stderr.length).toBeLessThanOrEqual(1);
    });

    it('truncates output that stays under the kill limit, and keeps the exit status', async () => {
      const { body } = await run({ code: py('import sys', 'sys.stdout.write("y" * 100000)', 'sys.stderr.write("e" * 70000)') });
      expect(body).toMatchObject({ status: 'ok', exit_code: 0, stdout_truncated: true, stderr_truncated: true });
      expect(body.stdout).toBe('y'.repeat(65536));
    });

    it('kills and removes the container when the client disconnects', async () => {
      // Idle pool members are expected to stay; every other labelled container must go.
      const busy = async () => {
        const idle = new Set(server.runner.pool.idleContainerIds());
        return (await runContainers()).filter((id) => !idle.has(id));
      };
      expect(await eventually(async () => (await busy()).length === 0)).toBe(true);
      const controller = new AbortController();
      const pending = run({ code: 'import time; time.sleep(120)', timeout_ms: 100_000 }, { signal: controller.signal }).then(
        () => 'answered',
        (err: Error) => err.name,
      );
      expect(await eventually(async () => server.runner.liveCount > server.runner.pool.size)).toBe(true);
      controller.abort();
      expect(await pending).toBe('AbortError');
      expect(await eventually(async () => (await busy()).length === 0)).toBe(true);
    });
  });
});
