/** POST /v1/runs with Accept: text/event-stream, against the real engine. */
import { eventually, instanceContainers, startServer } from '../support/engine';
import { postRun, type Json } from '../support/http';
import { postStream, streamed } from '../support/sse';

const py = (...lines: string[]) => lines.join('\n');

/** The parts of a result that differ between two runs of the same program. */
const comparable = (result: Json) => {
  const rest = { ...result };
  for (const field of ['id', 'duration_ms', 'queued_ms', 'usage']) delete rest[field];
  return rest;
};

describe('streaming runs (Server-Sent Events)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    server = await startServer({
      RUNBOX_POOL_SIZE: '0',
      RUNBOX_MAX_OUTPUT_BYTES: '65536',
      RUNBOX_OUTPUT_KILL_BYTES: '1048576',
      RUNBOX_STREAM_KEEP_ALIVE_MS: '500',
    });
  });

  afterAll(async () => {
    await server.close(30_000);
    expect(await instanceContainers(server.config.instanceId)).toEqual([]);
  });

  it('streams stdout and stderr in order, then artifacts, then the result the JSON call gives', async () => {
    const program = py(
      'import sys, time',
      'for i in range(3):',
      '    print("out", i, flush=True)',
      '    print("err", i, file=sys.stderr, flush=True)',
      '    time.sleep(0.15)',
      'open("output/table.csv", "w").write("a,b\\n1,2\\n")',
      'sys.exit(3)',
    );
    const { status, contentType, events } = await postStream(server.url, { code: program });
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/event-stream/);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('start');
    expect(names.slice(-2)).toEqual(['artifact', 'result']);
    // Each pair went out while the program paused after it: the two streams interleave, each in order. (Their
    // relative order within a pair is the engine's: stdout and stderr reach it through separate pipes.)
    const output = names.slice(1, -2);
    expect(output.filter((n) => n === 'stdout').length).toBeGreaterThanOrEqual(3);
    expect(output.filter((n) => n === 'stderr').length).toBeGreaterThanOrEqual(3);
    expect(output.indexOf('stderr')).toBeLessThan(output.lastIndexOf('stdout'));
    expect(output.indexOf('stdout')).toBeLessThan(output.lastIndexOf('stderr'));
    const result = events[events.length - 1].data;
    expect(streamed(events, 'stdout')).toBe(result.stdout);
    expect(streamed(events, 'stderr')).toBe(result.stderr);
    expect(events.find((e) => e.event === 'artifact')!.data).toEqual({
      path: 'table.csv',
      size: 8,
      mime_type: 'text/csv',
      sha256: result.artifacts[0].sha256,
    });
    expect(events[0].data).toEqual({ id: result.id, queued_ms: expect.any(Number) });
    const json = await postRun(server.url, { code: program });
    expect(comparable(result)).toEqual(comparable(json.body));
    expect(result).toMatchObject({ status: 'error', exit_code: 3, stdout: 'out 0\nout 1\nout 2\n' });
  });

  it('sends the first line as soon as it is written, long before the run ends', async () => {
    const { events } = await postStream(server.url, {
      code: py('import time', 'print("first", flush=True)', 'time.sleep(2)', 'print("last")'),
    });
    const result = events.find((e) => e.event === 'result')!;
    // The server sends a keep-alive comment every RUNBOX_STREAM_KEEP_ALIVE_MS (500 ms here): one between the first
    // line and the end says that line went out during the program's 2 s pause, not with the rest at the end.
    // (print() may write its text and its newline separately: both are out before the pause.)
    const early = events.filter((e) => e.event === 'stdout' && e.commentsBefore < result.commentsBefore);
    expect(streamed(early, 'stdout')).toBe('first\n');
  });

  it('coalesces small writes, and never splits a UTF-8 character between events', async () => {
    const { events } = await postStream(server.url, {
      code: py(
        'import sys, time',
        'for i in range(2000):',
        '    sys.stdout.write("x"); sys.stdout.flush()',
        'word = "naïve 日本 🎉\\n".encode()',
        'for i in range(len(word)):',
        '    sys.stdout.buffer.write(word[i:i + 1]); sys.stdout.flush(); time.sleep(0.03)',
      ),
    });
    const chunks = events.filter((e) => e.event === 'stdout');
    expect(chunks.length).toBeLessThan(100);
    for (const chunk of chunks) {
      expect(chunk.data.encoding).toBe('utf8');
      expect(chunk.data.content).not.toContain('\uFFFD');
    }
    expect(chunks.map((c) => c.data.content).join('')).toBe(`${'x'.repeat(2000)}naïve 日本 🎉\n`);
  });

  it('keeps to the output cap, marks the cut, and still ends a flood with output_limit', async () => {
    const { events } = await postStream(server.url, { code: py('import sys', 'while True:', '    sys.stdout.write("y" * 4096)') });
    const result = events[events.length - 1];
    expect(result.event).toBe('result');
    expect(result.data).toMatchObject({ status: 'output_limit', stdout_truncated: true });
    const chunks = events.filter((e) => e.event === 'stdout');
    expect(chunks.filter((c) => c.data.truncated === true)).toHaveLength(1);
    expect(streamed(events, 'stdout')).toBe(result.data.stdout);
    expect(streamed(events, 'stdout').length).toBe(65536);
  });

  it('sends keep-alive comments while a run is silent', async () => {
    const { events } = await postStream(server.url, { code: py('import time', 'time.sleep(1.6)') });
    // After the start event, before the result.
    expect(events[0]).toMatchObject({ event: 'start', commentsBefore: 0 });
    const result = events[events.length - 1];
    expect(result.data.status).toBe('ok');
    expect(result.commentsBefore).toBeGreaterThan(0);
  });

  it('kills the run and removes its container when the client goes away', async () => {
    const controller = new AbortController();
    await postStream(
      server.url,
      { code: py('import time', 'print("up", flush=True)', 'time.sleep(120)'), timeout_ms: 200_000 },
      {
        signal: controller.signal,
        onEvent: (event) => {
          if (event.event === 'stdout') controller.abort();
        },
      },
    );
    expect(await eventually(async () => (await instanceContainers(server.config.instanceId)).length === 0, 20_000)).toBe(true);
  });

  it('refuses before the run starts with plain JSON errors and their status', async () => {
    const bad = await postStream(server.url, { code: 42 });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_request');
    const big = await postStream(server.url, { code: 'x'.repeat(300_000) });
    expect(big.status).toBe(413);
  });
});

describe('streaming runs against a busy server', () => {
  it('answers 503 busy as JSON when no slot or queue place is free', async () => {
    const server = await startServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_MAX_CONCURRENT: '1', RUNBOX_MAX_QUEUE: '0' });
    try {
      const holding = postStream(server.url, { code: 'import time; time.sleep(3)' });
      expect(await eventually(() => server.admission.inUse === 1, 15_000, 20)).toBe(true);
      const busy = await postStream(server.url, { code: 'print(1)' });
      expect(busy.status).toBe(503);
      expect(busy.json.error.code).toBe('busy');
      expect((await holding).events.pop()!.data.status).toBe('ok');
    } finally {
      await server.close();
    }
  });
});
