/** What the benchmarks share: timing a bounded phase, and the `docker run --rm` baseline. */
import { spawn } from 'node:child_process';
import { percentile } from './stats';

/** No phase runs longer than this, whatever its count. */
const PHASE_BUDGET_MS = 90_000;

export type Attempt = () => Promise<void>;

/** What agent platforms send: pandas, numpy and a matplotlib chart saved as an artifact. */
export const CHART_SCRIPT = [
  'import numpy as np, pandas as pd, matplotlib.pyplot as plt',
  "df = pd.DataFrame({'x': np.arange(10), 'y': np.arange(10)**2})",
  "df.plot(x='x', y='y'); plt.savefig('output/chart.png')",
  'print(df.y.sum())',
].join('\n');
/**
 * The same for `docker run --rm ... python3 -c`: the chart goes to a tmpfs, and matplotlib's font cache is
 * copied in first as runbox's launcher does (without it every one-shot would rebuild the cache for seconds).
 */
export const DATA_SCIENCE_ONE_SHOT = [
  'import os, shutil',
  "shutil.copytree('/opt/runbox/mplcache', os.environ['MPLCONFIGDIR'], dirs_exist_ok=True)",
  "os.makedirs('/tmp/output'); os.chdir('/tmp')",
  CHART_SCRIPT,
].join('\n');

export function dockerRun(image: string, code = 'print(2+2)', expected = '4\n'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'docker',
      ['run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp', '--entrypoint', 'python3', image, '-c', code],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (status) => (status === 0 && out === expected ? resolve() : reject(new Error(`docker run exited ${status}: ${out}`))));
  });
}

/**
 * Runs `count` attempts with `concurrency` workers; returns per-run latencies (ms) and throughput (runs/s).
 * `spacingMs`: each worker pauses that long after each attempt, as a client with think time does (the
 * pauses are not in the latencies; throughput is then not meaningful).
 */
export async function measure(attempt: Attempt, count: number, concurrency: number, spacingMs = 0) {
  const latencies: number[] = [];
  const deadline = Date.now() + PHASE_BUDGET_MS;
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < count && Date.now() < deadline) {
        started++;
        const t = performance.now();
        await attempt();
        latencies.push(performance.now() - t);
        if (spacingMs > 0 && started < count) await new Promise((resolve) => setTimeout(resolve, spacingMs));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    n: latencies.length,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    perSecond: latencies.length / seconds,
  };
}

/** One run's Server-Timing, as milliseconds per metric name (`queue`, `program`, ..., `total`). */
export type ServerTimings = Record<string, number>;

export function parseServerTiming(header: string | null): ServerTimings {
  const timings: ServerTimings = {};
  for (const metric of (header ?? '').split(',')) {
    const [name, ...params] = metric.trim().split(';');
    const dur = params.find((p) => p.startsWith('dur='));
    if (name && dur) timings[name] = Number(dur.slice(4));
  }
  return timings;
}

/** The p50 of each metric over many runs' Server-Timing, in the order first met; a run without it counts 0. */
export function phaseMedians(samples: ServerTimings[]): Record<string, number> {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s)))];
  return Object.fromEntries(
    names.map((name) => [
      name,
      Number(
        percentile(
          samples.map((s) => s[name] ?? 0),
          50,
        ).toFixed(1),
      ),
    ]),
  );
}
