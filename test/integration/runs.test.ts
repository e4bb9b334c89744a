/** POST /v1/runs against the real Docker engine and the real sandbox image. */
import { eventually, runContainers, startServer } from '../support/engine';

type Server = Awaited<ReturnType<typeof startServer>>;
let server: Server;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function run(body: object, init: RequestInit = {}): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${server.url}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
  return { status: res.status, body: await res.json() };
}

const py = (...lines: string[]) => lines.join('\n');

beforeAll(async () => {
  process.env.RUNBOX_TEST_SECRET = 'server-side-secret-value';
  server = await startServer({ RUNBOX_MAX_OUTPUT_BYTES: '65536', RUNBOX_OUTPUT_KILL_BYTES: '4194304' });
});

afterAll(async () => {
  await server.close(60_000);
  delete process.env.RUNBOX_TEST_SECRET;
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
      stderr: '',
      stdout_truncated: false,
      stderr_truncated: false,
      timed_out: false,
      oom_killed: false,
      duration_ms: expect.any(Number),
      queued_ms: expect.any(Number),
      artifacts: [],
      artifacts_truncated: false,
    });
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
    expect(body.artifacts).toEqual([
      { path: 'reversed.bin', size: 256, encoding: 'base64', content: Buffer.from(bytes).reverse().toString('base64') },
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
    expect(chart.encoding).toBe('base64');
    expect(Buffer.from(chart.content, 'base64').subarray(0, 8)).toEqual(Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'));
    expect(body.artifacts.find((a: Json) => a.path === 'table.csv')).toMatchObject({ encoding: 'utf8', content: 'x,y\n0,0\n1,1\n2,4\n3,9\n4,16\n' });
  });

  it('returns only regular files from output/: no symlink, hardlink, FIFO or followed link', async () => {
    const { body } = await run({
      code: py(
        'import os',
        'open("output/real.txt", "w").write("real")',
        'os.symlink("/etc/passwd", "output/passwd")',
        'os.symlink("/etc", "output/etcdir")',
        'os.link("output/real.txt", "output/hard.txt")',
        'os.mkfifo("output/fifo")',
        'os.makedirs("output/sub")',
        'open("output/sub/nested.txt", "w").write("nested")',
      ),
    });
    expect(body.status).toBe('ok');
    const paths = body.artifacts.map((a: Json) => a.path).sort();
    // real.txt has two links once hard.txt exists, so neither name is returned.
    expect(paths).toEqual(['sub/nested.txt']);
    expect(JSON.stringify(body.artifacts)).not.toMatch(/root:x:0:0/);
    expect(body.artifacts_truncated).toBe(true);
  });
});

describe('isolation', () => {
  it('kills a run at its timeout and answers long before the program would have finished', async () => {
    const started = Date.now();
    const { body } = await run({ code: py('import time', 'print("before", flush=True)', 'time.sleep(120)'), timeout_ms: 1000 });
    expect(body).toMatchObject({ status: 'timeout', exit_code: null, timed_out: true, stdout: 'before\n' });
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('kills a run that ignores SIGTERM', async () => {
    const { body } = await run({
      code: py('import signal, time', 'signal.signal(signal.SIGTERM, signal.SIG_IGN)', 'while True: time.sleep(1)'),
      timeout_ms: 1000,
    });
    expect(body).toMatchObject({ status: 'timeout', timed_out: true });
  });

  it('has no network: only lo, no routes', async () => {
    const { body } = await run({
      code: py(
        'import os',
        'print(sorted(os.listdir("/sys/class/net")))',
        'print(len(open("/proc/net/route").read().splitlines()) - 1)',
      ),
    });
    expect(body.stdout).toBe("['lo']\n0\n");
  });

  it('refuses writes to /, /usr and $HOME (read-only root)', async () => {
    const { body } = await run({
      code: py(
        'import os',
        'for p in ["/evil", "/usr/evil", os.path.join(os.environ["HOME"], "evil")]:',
        '    try:',
        '        open(p, "w")',
        '        print(p, "WRITABLE")',
        '    except OSError as e:',
        '        print(p, e.errno)',
      ),
    });
    expect(body.stdout).toBe('/evil 30\n/usr/evil 30\n/home/runbox/evil 30\n');
  });

  it('runs as a non-root user with no capabilities, no-new-privileges and seccomp', async () => {
    const { body } = await run({
      code: py(
        'import os',
        'status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)',
        'print(os.getuid(), os.getgid(), status["CapEff"].strip(), status["NoNewPrivs"].strip(), status["Seccomp"].strip())',
      ),
    });
    expect(body.stdout).toBe('10001 10001 0000000000000000 1 2\n');
  });

  it('gets none of the server environment', async () => {
    const { body } = await run({ code: 'import os; print(sorted(os.environ))' });
    expect(body.stdout).not.toMatch(/RUNBOX|SECRET/);
    expect(JSON.stringify(body)).not.toContain(process.env.RUNBOX_TEST_SECRET);
  });

  it('reports a memory bomb as oom', async () => {
    const { body } = await run({ code: py('chunks = []', 'while True: chunks.append(bytearray(16 * 1024 * 1024))'), memory_mb: 64 });
    expect(body).toMatchObject({ status: 'oom', oom_killed: true, exit_code: 137 });
  });

  it('contains a fork bomb at the pids limit, and the server keeps serving', async () => {
    const bomb = run({
      code: py(
        'import os, time',
        'children = 0',
        'try:',
        '    while True:',
        '        if os.fork() == 0:',
        '            time.sleep(30)',
        '            os._exit(0)',
        '        children += 1',
        'except OSError as e:',
        '    print(children, e.errno)',
      ),
      timeout_ms: 20_000,
    });
    const meanwhile = await run({ code: 'print("still here")' });
    expect(meanwhile.body.stdout).toBe('still here\n');
    const { body } = await bomb;
    const [children, errno] = body.stdout.trim().split(' ').map(Number);
    expect(errno).toBe(11); // EAGAIN
    expect(children).toBeLessThan(server.config.limits.pidsLimit);
    expect(body.status).toBe('ok');
  });

  it('truncates endless output at the cap, ends the flood, and stays well', async () => {
    const { body } = await run({ code: py('import sys', 'while True: sys.stdout.write("x" * 65536)'), timeout_ms: 60_000 });
    expect(body).toMatchObject({ status: 'output_limit', exit_code: null, stdout_truncated: true });
    expect(body.stdout.length).toBe(65536);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await run({ code: 'print(1)' })).body.stdout).toBe('1\n');
  });

  it('truncates output that stays under the kill limit, and keeps the exit status', async () => {
    const { body } = await run({ code: py('import sys', 'sys.stdout.write("y" * 100000)', 'sys.stderr.write("e" * 70000)') });
    expect(body).toMatchObject({ status: 'ok', exit_code: 0, stdout_truncated: true, stderr_truncated: true });
    expect(body.stdout).toBe('y'.repeat(65536));
  });

  it('keeps nothing between runs', async () => {
    const write = await run({ code: py('open("/tmp/left", "w").write("x")', 'open("kept.txt", "w").write("x")', 'print("written")') });
    expect(write.body.stdout).toBe('written\n');
    const { body } = await run({ code: py('import os', 'print(os.path.exists("/tmp/left"), os.path.exists("kept.txt"))') });
    expect(body.stdout).toBe('False False\n');
  });

  it('kills and removes the container when the client disconnects', async () => {
    const before = new Set(await runContainers());
    const controller = new AbortController();
    const pending = run({ code: 'import time; time.sleep(120)', timeout_ms: 100_000 }, { signal: controller.signal }).then(
      () => 'answered',
      (err: Error) => err.name,
    );
    expect(await eventually(async () => (await runContainers()).some((id) => !before.has(id)))).toBe(true);
    controller.abort();
    expect(await pending).toBe('AbortError');
    expect(await eventually(async () => (await runContainers()).every((id) => before.has(id)))).toBe(true);
  });

  it('leaves no labelled container behind', async () => {
    await server.runner.settle();
    expect(await runContainers()).toEqual([]);
  });
});
