/**
 * `npm run load`: a bounded load test on loopback. A real server process (`node dist/main.js`) gets a fixed
 * number of requests at several times its concurrency limit, mixing normal, failing and hostile programs.
 * Reports statuses, unexpected 5xx, containers left, the server's peak RSS, and normal-request latency.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDockerClient } from '../src/docker/client';
import { LABEL_RUN_ID } from '../src/sandbox/labels';
import { spawnServer } from '../test/support/server-process';
import { percentile, rssOf, writeResults } from './stats';
import { postRun } from '../test/support/http';

const REQUESTS = Number(process.env.LOAD_REQUESTS ?? 240);
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 24);
const MAX_CONCURRENT = Number(process.env.LOAD_MAX_CONCURRENT ?? 4);
const MAX_QUEUE = Number(process.env.LOAD_MAX_QUEUE ?? 12);
const TIME_BUDGET_MS = Number(process.env.LOAD_TIME_BUDGET_MS ?? 240_000);

const attack = (name: string) => readFileSync(join(__dirname, '..', '..', 'test/attacks/programs', `${name}.py`), 'utf8');

type Kind = 'normal' | 'failing' | 'hostile';
const MIX: { kind: Kind; weight: number; body: () => object }[] = [
  { kind: 'normal', weight: 6, body: () => ({ code: 'print(2 + 2)' }) },
  { kind: 'failing', weight: 1, body: () => ({ code: 'import sys; sys.exit(3)' }) },
  { kind: 'failing', weight: 1, body: () => ({ code: '1 / 0' }) },
  { kind: 'hostile', weight: 1, body: () => ({ code: attack('fork-bomb'), timeout_ms: 10_000 }) },
  { kind: 'hostile', weight: 1, body: () => ({ code: attack('memory-bomb'), memory_mb: 64 }) },
  { kind: 'hostile', weight: 1, body: () => ({ code: attack('flood-stdout'), timeout_ms: 10_000 }) },
  { kind: 'hostile', weight: 1, body: () => ({ code: attack('cpu-burn'), timeout_ms: 2000 }) },
];
const schedule = MIX.flatMap((m) => Array<typeof m>(m.weight).fill(m));

interface Sample {
  kind: Kind;
  status: number;
  outcome: string;
  ms: number;
  runMs?: number;
}

async function main() {
  const server = await spawnServer({
    RUNBOX_INSTANCE_ID: `load-${process.pid}`,
    RUNBOX_MAX_CONCURRENT: String(MAX_CONCURRENT),
    RUNBOX_MAX_QUEUE: String(MAX_QUEUE),
  });
  // Whatever fails below, the server this started is stopped before the process ends.
  try {
    await measure(server);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

async function measure(server: Awaited<ReturnType<typeof spawnServer>>) {
  const docker = createDockerClient({ callTimeoutMs: 15_000 });
  const deadline = Date.now() + TIME_BUDGET_MS;
  const samples: Sample[] = [];
  let next = 0;
  let peakContainers = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakContainers = Math.max(peakContainers, (await docker.listByLabel(LABEL_RUN_ID)).length);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const rssStartMb = rssOf(server.pid) / 1024;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS && Date.now() < deadline) {
        const { kind, body } = schedule[next++ % schedule.length];
        const t0 = performance.now();
        try {
          const res = await postRun(server.url, body(), { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
          const json = res.body as { status?: string; duration_ms?: number; error?: { code: string } };
          const outcome = json.status ?? json.error?.code ?? '?';
          samples.push({ kind, status: res.status, outcome, ms: performance.now() - t0, runMs: json.duration_ms });
          // Clients behave as asked: a refusal carries Retry-After, and they wait that long.
          const retryAfter = Number(res.headers.get('retry-after'));
          if (res.status === 503 && retryAfter > 0) await new Promise((r) => setTimeout(r, retryAfter * 1000));
        } catch (err) {
          samples.push({ kind, status: 0, outcome: (err as Error).name, ms: performance.now() - t0 });
        }
      }
    }),
  );
  const elapsedS = (Date.now() - started) / 1000;
  sampling = false;
  await sampler;
  const peakRssMb = rssOf(server.pid, 'VmHWM') / 1024;
  const rssEndMb = rssOf(server.pid) / 1024;

  server.child.kill('SIGTERM');
  await server.exited;
  const left = (await docker.listByLabel(LABEL_RUN_ID)).length;

  const count = (pred: (s: Sample) => boolean) => samples.filter(pred).length;
  const byOutcome: Record<string, number> = {};
  for (const s of samples) byOutcome[`${s.kind} ${s.status} ${s.outcome}`] = (byOutcome[`${s.kind} ${s.status} ${s.outcome}`] ?? 0) + 1;
  const normal = samples.filter((s) => s.kind === 'normal' && s.status === 200);
  const normalOk = normal.map((s) => s.ms);
  const normalRun = normal.map((s) => s.runMs ?? NaN);
  const report = {
    requests: samples.length,
    concurrency: CONCURRENCY,
    max_concurrent: MAX_CONCURRENT,
    max_queue: MAX_QUEUE,
    elapsed_s: Number(elapsedS.toFixed(1)),
    completed_200: count((s) => s.status === 200),
    busy_503: count((s) => s.status === 503 && s.outcome === 'busy'),
    unexpected_5xx: count((s) => s.status >= 500 && s.outcome !== 'busy'),
    transport_errors: count((s) => s.status === 0),
    by_outcome: byOutcome,
    // Request latency includes queueing behind hostile runs; run time is the container's own wall time.
    normal_latency_ms: { p50: Math.round(percentile(normalOk, 50)), p95: Math.round(percentile(normalOk, 95)), n: normalOk.length },
    normal_run_ms: { p50: Math.round(percentile(normalRun, 50)), p95: Math.round(percentile(normalRun, 95)) },
    peak_live_containers: peakContainers,
    containers_left: left,
    server_rss_mb: { start: Number(rssStartMb.toFixed(1)), peak: Number(peakRssMb.toFixed(1)), end: Number(rssEndMb.toFixed(1)) },
  };
  console.table(Object.entries(byOutcome).map(([k, v]) => ({ 'kind status outcome': k, count: v })));
  console.log(JSON.stringify(report, null, 2));
  writeResults('load', report);
  process.exit(report.unexpected_5xx === 0 && left === 0 && peakContainers <= MAX_CONCURRENT ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error('load test failed:', err);
  process.exit(1);
});
