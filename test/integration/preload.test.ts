/**
 * The preloaded runtime against the real engine: a program cannot tell it from `python3 main.py` (except
 * that the preloaded modules are already imported), and runs that cannot use it still work.
 */
import { eventually, runContainers, startServer } from '../support/engine';
import { postRun, type Json } from '../support/http';

type Server = Awaited<ReturnType<typeof startServer>>;
let plain: Server;
let preloaded: Server;

beforeAll(async () => {
  [plain, preloaded] = await Promise.all([
    startServer({ RUNBOX_PRELOAD: '', RUNBOX_POOL_SIZE: '1' }),
    startServer({ RUNBOX_PRELOAD_POLICY: 'always', RUNBOX_POOL_SIZE: '1' }),
  ]);
});

afterAll(async () => {
  await Promise.all([plain.close(30_000), preloaded.close(30_000)]);
  expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);
});

/** Runs on a warm member of the pool's kind, once one is idle, so the path taken is known. */
async function runWarm(server: Server, kind: 'plain' | 'preloaded', body: object): Promise<Json> {
  expect(await eventually(async () => server.runner.pool.count(kind) === 1, 30_000, 20)).toBe(true);
  const { status, body: result } = await postRun(server.url, body);
  expect(status).toBe(200);
  return result;
}

const py = (...lines: string[]) => lines.join('\n');

/** What a program can observe, as `python3 main.py` shows it; each must come out the same on both paths. */
const programs: [string, object][] = [
  [
    'argv, sys.path[0], __name__, __file__, orig_argv, cwd',
    {
      code: py('import os, sys', 'print(sys.argv, sys.path[0], __name__, __file__, sys.orig_argv, os.getcwd())'),
      args: ['a', 'b c'],
    },
  ],
  [
    'an entrypoint in a folder, importing its neighbour',
    {
      files: [
        { path: 'pkg/main.py', content: py('import sys', 'from helper import value', 'print(value, sys.path[0], __file__)') },
        { path: 'pkg/helper.py', content: 'value = 42\n' },
      ],
      entrypoint: 'pkg/main.py',
    },
  ],
  ['sys.exit(7)', { code: py('print("leaving")', 'import sys', 'sys.exit(7)') }],
  ['sys.exit with a message', { code: 'import sys\nsys.exit("bad input")' }],
  [
    'an uncaught exception: traceback on stderr, exit 1',
    { code: py('print("before")', 'def f():', '    raise ValueError("boom")', 'f()') },
  ],
  ['a syntax error', { code: 'x = (\n' }],
  ['killed by a signal', { code: py('import os, signal', 'print("bye", flush=True)', 'os.kill(os.getpid(), signal.SIGTERM)') }],
  ['KeyboardInterrupt', { code: 'raise KeyboardInterrupt' }],
  ['stdin', { code: 'import sys\nprint(sys.stdin.read().upper())', stdin: 'hello\nworld' }],
  [
    'a __main__ guard, atexit, and a thread that outlives the main code',
    {
      code: py(
        'import atexit, threading, time',
        'atexit.register(lambda: print("atexit"))',
        'threading.Thread(target=lambda: (time.sleep(0.2), print("thread"))).start()',
        'if __name__ == "__main__":',
        '    print("main")',
      ),
    },
  ],
  [
    'file descriptors and environment',
    { code: py('import os', 'print(sorted(os.listdir("/proc/self/fd")))', 'print(sorted(os.environ))') },
  ],
  [
    'output written before a hard exit',
    { code: py('import os, sys', 'sys.stdout.write("partial")', 'sys.stderr.write("err")', 'os._exit(3)') },
  ],
  ['pickling a function of __main__', { code: py('import pickle', 'def f(): pass', 'print(pickle.loads(pickle.dumps(f)) is f)') }],
  ['artifacts', { code: 'open("output/out.txt", "w").write("written")' }],
  [
    'a file left open and an object with __del__, finalized at exit',
    {
      code: py(
        'f = open("output/unclosed.txt", "w")',
        'f.write("kept")',
        'class Noisy:',
        '    def __del__(self):',
        '        print("finalized")',
        'noisy = Noisy()',
      ),
    },
  ],
  ['sys.exit with a non-int code', { code: 'import sys\nsys.exit([1, 2])' }],
  [
    'a file held open by another module of the program',
    {
      files: [
        { path: 'helper.py', content: 'LOG = open("output/log.txt", "w")\n' },
        {
          path: 'main.py',
          content: py(
            'import helper',
            'helper.LOG.write("kept by helper")',
            'class Keep:',
            '    f = open("output/class.txt", "w")',
            'Keep.f.write("kept by class")',
          ),
        },
      ],
      entrypoint: 'main.py',
    },
  ],
  [
    'KeyboardInterrupt after registering atexit, with a file open',
    {
      code: py(
        'import atexit',
        'f = open("output/k.txt", "w")',
        'f.write("buffered")',
        'atexit.register(print, "ran")',
        'raise KeyboardInterrupt',
      ),
    },
  ],
  [
    'a module of the program named like one already loaded (json.py)',
    {
      files: [
        { path: 'json.py', content: 'def dumps(value):\n    return "mine"\n' },
        { path: 'main.py', content: 'import json\nprint(json.dumps(1))' },
      ],
      entrypoint: 'main.py',
    },
  ],
  ['sys.exit inside an atexit handler', { code: py('import atexit, sys', 'atexit.register(sys.exit, 4)', 'print("main done")') }],
];

const comparable = (result: Json) => {
  const { id: _id, duration_ms: _duration, queued_ms: _queued, usage: _usage, ...rest } = result;
  return rest;
};

describe('a program cannot tell the preloaded runtime from python3 main.py', () => {
  it.each(programs)('%s', async (_name, body) => {
    const expected = await runWarm(plain, 'plain', body);
    const got = await runWarm(preloaded, 'preloaded', body);
    expect(comparable(got)).toEqual(comparable(expected));
  });
});

describe('the preloaded path', () => {
  const check = 'import sys\nprint(sorted(m for m in ("numpy", "pandas", "matplotlib.pyplot") if m in sys.modules))';

  it("has the modules imported before the program starts, and reports the program's own CPU, not the preload's", async () => {
    const result = await runWarm(preloaded, 'preloaded', { code: check });
    expect(result.stdout).toBe("['matplotlib.pyplot', 'numpy', 'pandas']\n");
    // The imports cost ~600 ms of CPU in the waiting interpreter; the program's own share is a few ms.
    expect(result.usage.cpu_ms).toBeLessThan(300);
    expect(result.usage.max_rss_kb).toBeGreaterThan(50 * 1024);
  });

  it("a run whose memory_mb differs from the pool's takes a fresh plain container, and works", async () => {
    const result = await runWarm(preloaded, 'preloaded', { code: check, memory_mb: 64 });
    expect(result).toMatchObject({ status: 'ok', stdout: '[]\n' });
  });

  it('a chart script runs and returns its PNG', async () => {
    const code = py(
      'import numpy as np, pandas as pd, matplotlib.pyplot as plt',
      "df = pd.DataFrame({'x': np.arange(10), 'y': np.arange(10)**2})",
      "df.plot(x='x', y='y'); plt.savefig('output/chart.png')",
      'print(df.y.sum())',
    );
    const result = await runWarm(preloaded, 'preloaded', { code });
    expect(result).toMatchObject({ status: 'ok', stdout: '285\n', stderr: '' });
    expect(Buffer.from(result.artifacts[0].content, 'base64').subarray(1, 4).toString()).toBe('PNG');
  });

  it('GET / names the preload set, the policy and the least memory for the fast path', async () => {
    const about = (await (await fetch(`${preloaded.url}/`)).json()) as Json;
    expect(about.preload).toEqual({
      modules: ['numpy', 'pandas', 'matplotlib.pyplot'],
      policy: 'always',
      min_memory_mb: 256,
      member_memory_mb: 512,
    });
  });
});
