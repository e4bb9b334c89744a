/**
 * `npm run bench:stream`: how soon a line a program prints reaches the client, through runbox's streaming
 * API and through `docker run --rm` attached to the same image, in the same run. The program prints its own
 * clock (the container shares the host's) every 100 ms; the client notes when each line arrives.
 * Loopback only; bounded in lines and runs.
 */
import { spawn } from 'node:child_process';
import { spawnServer } from '../test/support/server-process';
import { postStream } from '../test/support/sse';
import { percentile, writeResults } from './stats';

const LINES = 20;
const RUNS = Number(process.env.BENCH_STREAM_RUNS ?? 5);
const PROGRAM = `import time\nfor i in range(${LINES}):\n    print(f"{time.time() * 1000:.1f}", flush=True)\n    time.sleep(0.1)\n`;

/** Delivery delays (ms) of each line: arrival time minus the time the program printed in it. */
function delays(lines: { text: string; at: number }[]): number[] {
  return lines.flatMap(({ text, at }) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((stamp) => at - Number(stamp)),
  );
}

async function viaRunbox(url: string): Promise<number[]> {
  const lines: { text: string; at: number }[] = [];
  await postStream(
    url,
    { code: PROGRAM },
    { onEvent: (e) => e.event === 'stdout' && lines.push({ text: e.data.content, at: Date.now() }) },
  );
  return delays(lines);
}

function viaDockerRun(image: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const lines: { text: string; at: number }[] = [];
    const child = spawn('docker', ['run', '--rm', '--network', 'none', '--read-only', '--entrypoint', 'python3', image, '-c', PROGRAM]);
    child.stdout.on('data', (chunk: Buffer) => lines.push({ text: chunk.toString(), at: Date.now() }));
    child.on('exit', (code) => (code === 0 ? resolve(delays(lines)) : reject(new Error(`docker run exited ${code}`))));
  });
}

async function main() {
  const server = await spawnServer({ RUNBOX_INSTANCE_ID: `bench-stream-${process.pid}`, RUNBOX_POOL_SIZE: '2' });
  const image = /"image":"([^"]+)"/.exec(server.log())![1];
  try {
    const runbox: number[] = [];
    const docker: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      runbox.push(...(await viaRunbox(server.url)));
      docker.push(...(await viaDockerRun(image)));
    }
    const row = (name: string, values: number[]) => ({
      path: name,
      lines: values.length,
      p50_ms: Number(percentile(values, 50).toFixed(1)),
      p95_ms: Number(percentile(values, 95).toFixed(1)),
      max_ms: Number(Math.max(...values).toFixed(1)),
    });
    const rows = [row('runbox POST /v1/runs (SSE)', runbox), row('docker run --rm (attached)', docker)];
    console.table(rows);
    writeResults('stream', { image, rows });
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

void main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
