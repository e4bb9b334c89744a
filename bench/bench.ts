/**
 * `npm run bench`: runbox against `docker run --rm` one-shots of the same image, in one run on this machine.
 * Latency p50/p95 at concurrency 1, back to back and with a pause between requests (as an agent's tool calls
 * come), throughput at concurrency 4 and 8, a request with one input file and one artifact, a data-science
 * chart script (pandas, numpy, matplotlib) at concurrency 1 and 4, the server's peak RSS, and runs with a
 * wheelhouse dependency: first use of a set (installed) and the same set again. Then the p50 of each phase
 * the server reports in Server-Timing, for the trivial and the chart runs.
 * Where the engine has runsc (gVisor) registered, the trivial and data-science runs again under it.
 * Loopback only; every phase is bounded in count and time.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeWheel } from '../test/support/wheels';
import { spawnServer } from '../test/support/server-process';
import {
  CHART_SCRIPT,
  DATA_SCIENCE_ONE_SHOT,
  dockerRun,
  measure,
  parseServerTiming,
  phaseMedians,
  type Attempt,
  type ServerTimings,
} from './harness';
import { rssOf, writeResults } from './stats';
import { postRun } from '../test/support/http';
import { createDockerClient } from '../src/docker/client';

const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 30);
const THROUGHPUT_RUNS = Number(process.env.BENCH_THROUGHPUT_RUNS ?? 40);
const DS_LATENCY_RUNS = Number(process.env.BENCH_DS_LATENCY_RUNS ?? 15);
const DS_THROUGHPUT_RUNS = Number(process.env.BENCH_DS_THROUGHPUT_RUNS ?? 24);
/** The server's own default unless set: the README's figures are what a default install gets. */
const POOL: Record<string, string> = process.env.RUNBOX_POOL_SIZE ? { RUNBOX_POOL_SIZE: process.env.RUNBOX_POOL_SIZE } : {};
const DEPS_FIRST_RUNS = Number(process.env.BENCH_DEPS_FIRST_RUNS ?? 8);
const DEPS_CACHED_RUNS = Number(process.env.BENCH_DEPS_CACHED_RUNS ?? 15);
const SPACED_RUNS = Number(process.env.BENCH_SPACED_RUNS ?? 12);
/** The pause between spaced requests: an agent's tool calls, a CI job's snippets, come one after the other. */
const TRIVIAL_SPACING_MS = 1000;
const CHART_SPACING_MS = 1500;

/** A wheelhouse of small pure-Python wheels, one per first-use run, readable by the sandbox user. */
function benchWheelhouse(): string {
  const dir = mkdtempSync(join(tmpdir(), 'runbox-bench-wheels-'));
  chmodSync(dir, 0o755);
  for (let i = 0; i < DEPS_FIRST_RUNS + 1; i++) {
    const { file, bytes } = makeWheel({ name: `bench-pkg-${i}`, version: '1.0' });
    writeFileSync(join(dir, file), bytes, { mode: 0o644 });
  }
  return dir;
}

const TRIVIAL = { code: 'print(2+2)' };
const DATA_SCIENCE = { code: CHART_SCRIPT };
const FILE_AND_ARTIFACT = {
  code: 'data = open("input.txt").read()\nopen("output/result.txt", "w").write(data.upper())\nprint(len(data))',
  files: [{ path: 'input.txt', content: 'hello runbox\n'.repeat(64) }],
};

/** `timings`: where each answer's Server-Timing goes, when the phases are wanted. */
async function runboxRequest(url: string, body: object, timings?: ServerTimings[]): Promise<void> {
  const res = await postRun(url, body);
  if (res.status !== 200 || res.body.status !== 'ok')
    throw new Error(`runbox answered ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
  timings?.push(parseServerTiming(res.headers.get('server-timing')));
}

const ms = (v: number) => Math.round(v);
const two = (v: number) => Number(v.toFixed(2));

async function main() {
  const wheelhouse = benchWheelhouse();
  const server = await spawnServer({
    RUNBOX_WHEELHOUSE: wheelhouse,
    RUNBOX_INSTANCE_ID: `bench-${process.pid}`,
    RUNBOX_MAX_CONCURRENT: '8',
    RUNBOX_MAX_QUEUE: '64',
    ...POOL,
  });
  const image = /"image":"([^"]+)"/.exec(server.log())![1];
  const runbox =
    (body: object, timings?: ServerTimings[]): Attempt =>
    () =>
      runboxRequest(server.url, body, timings);
  const trivialPhases: ServerTimings[] = [];
  const trivialSpacedPhases: ServerTimings[] = [];
  const chartPhases: ServerTimings[] = [];
  const chartSpacedPhases: ServerTimings[] = [];
  const docker: Attempt = () => dockerRun(image);
  const dockerDataScience: Attempt = () => dockerRun(image, DATA_SCIENCE_ONE_SHOT, '285\n');

  try {
    await measure(runbox(TRIVIAL), 6, 1);
    await measure(docker, 2, 1);
    const settle = () => new Promise((r) => setTimeout(r, 1500)); // let the pool refill between phases

    await settle();
    const latencyRunbox = await measure(runbox(TRIVIAL, trivialPhases), LATENCY_RUNS, 1);
    const latencyDocker = await measure(docker, LATENCY_RUNS, 1);
    await settle();
    const spacedRunbox = await measure(runbox(TRIVIAL, trivialSpacedPhases), SPACED_RUNS, 1, TRIVIAL_SPACING_MS);
    const spacedDocker = await measure(docker, SPACED_RUNS, 1, TRIVIAL_SPACING_MS);
    await settle();
    const fileArtifact = await measure(runbox(FILE_AND_ARTIFACT), LATENCY_RUNS, 1);
    await settle();
    const c4Runbox = await measure(runbox(TRIVIAL), THROUGHPUT_RUNS, 4);
    const c4Docker = await measure(docker, THROUGHPUT_RUNS, 4);
    await settle();
    const c8Runbox = await measure(runbox(TRIVIAL), THROUGHPUT_RUNS, 8);
    const c8Docker = await measure(docker, THROUGHPUT_RUNS, 8);
    // Data science: the pool turns to preloaded members as these requests arrive (warm-up), then measure.
    await measure(runbox(DATA_SCIENCE), 8, 1);
    await measure(dockerDataScience, 2, 1);
    await settle();
    const dsRunbox = await measure(runbox(DATA_SCIENCE, chartPhases), DS_LATENCY_RUNS, 1);
    const dsDocker = await measure(dockerDataScience, DS_LATENCY_RUNS, 1);
    await settle();
    const dsSpacedRunbox = await measure(runbox(DATA_SCIENCE, chartSpacedPhases), SPACED_RUNS, 1, CHART_SPACING_MS);
    const dsSpacedDocker = await measure(dockerDataScience, SPACED_RUNS, 1, CHART_SPACING_MS);
    await settle();
    const dsC4Runbox = await measure(runbox(DATA_SCIENCE), DS_THROUGHPUT_RUNS, 4);
    const dsC4Docker = await measure(dockerDataScience, DS_THROUGHPUT_RUNS, 4);
    // Dependencies: each first-use run names a set never installed before; then one set, again and again.
    await settle();
    let nextSet = 1;
    const firstUse: Attempt = () => {
      const i = nextSet++;
      return runboxRequest(server.url, { code: `import bench_pkg_${i}; print(2+2)`, dependencies: [`bench-pkg-${i}`] });
    };
    const depsFirst = await measure(firstUse, DEPS_FIRST_RUNS, 1);
    const cachedSet = { code: 'import bench_pkg_0; print(2+2)', dependencies: ['bench-pkg-0'] };
    await measure(runbox(cachedSet), 1, 1);
    // Measured like the trivial run: back to back, after the pool settled.
    await settle();
    const depsCached = await measure(runbox(cachedSet), DEPS_CACHED_RUNS, 1);
    const peakRssMb = rssOf(server.pid, 'VmHWM') / 1024;
    const runsc = await underRunsc(settle);

    const rows = [
      {
        metric: 'trivial p50 latency, c=1 (ms)',
        runbox: ms(latencyRunbox.p50),
        docker_run: ms(latencyDocker.p50),
        ratio: two(latencyRunbox.p50 / latencyDocker.p50),
        target: '<= 0.25',
      },
      {
        metric: `trivial p50, ${TRIVIAL_SPACING_MS / 1000} s between requests (ms)`,
        runbox: ms(spacedRunbox.p50),
        docker_run: ms(spacedDocker.p50),
        ratio: two(spacedRunbox.p50 / spacedDocker.p50),
        target: '<= 0.20',
      },
      {
        metric: 'trivial p95 latency, c=1 (ms)',
        runbox: ms(latencyRunbox.p95),
        docker_run: ms(latencyDocker.p95),
        ratio: two(latencyRunbox.p95 / latencyDocker.p95),
        target: '',
      },
      {
        metric: 'file + artifact p50, c=1 (ms)',
        runbox: ms(fileArtifact.p50),
        docker_run: '',
        ratio: two(fileArtifact.p50 / latencyRunbox.p50),
        target: '<= 1.2 x trivial',
      },
      {
        metric: 'throughput c=4 (runs/s)',
        runbox: two(c4Runbox.perSecond),
        docker_run: two(c4Docker.perSecond),
        ratio: two(c4Runbox.perSecond / c4Docker.perSecond),
        target: '>= 1.5',
      },
      {
        metric: 'throughput c=8 (runs/s)',
        runbox: two(c8Runbox.perSecond),
        docker_run: two(c8Docker.perSecond),
        ratio: two(c8Runbox.perSecond / c8Docker.perSecond),
        target: '',
      },
      {
        metric: 'data science p50, c=1 (ms)',
        runbox: ms(dsRunbox.p50),
        docker_run: ms(dsDocker.p50),
        ratio: two(dsRunbox.p50 / dsDocker.p50),
        target: '<= 0.30',
      },
      {
        metric: `data science p50, ${CHART_SPACING_MS / 1000} s between requests (ms)`,
        runbox: ms(dsSpacedRunbox.p50),
        docker_run: ms(dsSpacedDocker.p50),
        ratio: two(dsSpacedRunbox.p50 / dsSpacedDocker.p50),
        target: '<= 0.20',
      },
      {
        metric: 'data science p95, c=1 (ms)',
        runbox: ms(dsRunbox.p95),
        docker_run: ms(dsDocker.p95),
        ratio: two(dsRunbox.p95 / dsDocker.p95),
        target: '',
      },
      {
        metric: 'data science throughput c=4 (runs/s)',
        runbox: two(dsC4Runbox.perSecond),
        docker_run: two(dsC4Docker.perSecond),
        ratio: two(dsC4Runbox.perSecond / dsC4Docker.perSecond),
        target: '>= 1.0',
      },
      {
        metric: 'one wheelhouse dependency, first use p50, c=1 (ms)',
        runbox: ms(depsFirst.p50),
        docker_run: '',
        ratio: `+${ms(depsFirst.p50 - latencyRunbox.p50)} ms`,
        target: '<= trivial + 1500 ms',
      },
      {
        metric: 'the same dependency set again p50, c=1 (ms)',
        runbox: ms(depsCached.p50),
        docker_run: '',
        ratio: two(depsCached.p50 / latencyRunbox.p50),
        target: '<= 1.3 x trivial',
      },
      { metric: 'server peak RSS (MB)', runbox: two(peakRssMb), docker_run: '', ratio: '', target: '< 150' },
      ...(runsc
        ? [
            {
              metric: 'trivial p50 under runsc (gVisor), c=1 (ms)',
              runbox: ms(runsc.trivial.p50),
              docker_run: '',
              ratio: `${two(runsc.trivial.p50 / latencyRunbox.p50)} x runc`,
              target: '',
            },
            {
              metric: 'data science p50 under runsc (gVisor), c=1 (ms)',
              runbox: ms(runsc.dataScience.p50),
              docker_run: '',
              ratio: `${two(runsc.dataScience.p50 / dsRunbox.p50)} x runc`,
              target: '',
            },
          ]
        : [
            {
              metric: 'runsc (gVisor) not registered: RUNBOX_RUNTIME=runsc npm run provision',
              runbox: '',
              docker_run: '',
              ratio: '',
              target: '',
            },
          ]),
    ];
    console.table(rows);
    // Where the server's time went, phase by phase (p50 of each, from Server-Timing; they need not add up to total's p50).
    const phases = {
      'trivial, back to back': phaseMedians(trivialPhases),
      [`trivial, ${TRIVIAL_SPACING_MS / 1000} s apart`]: phaseMedians(trivialSpacedPhases),
      'chart, back to back': phaseMedians(chartPhases),
      [`chart, ${CHART_SPACING_MS / 1000} s apart`]: phaseMedians(chartSpacedPhases),
    };
    console.log('p50 per phase (ms), from Server-Timing:');
    console.table(phases);
    const results = {
      at: new Date().toISOString(),
      pool_size: POOL.RUNBOX_POOL_SIZE === undefined ? 'default' : Number(POOL.RUNBOX_POOL_SIZE),
      image,
      latency_c1: { runbox: latencyRunbox, docker_run: latencyDocker },
      latency_c1_spaced: { spacing_ms: TRIVIAL_SPACING_MS, runbox: spacedRunbox, docker_run: spacedDocker },
      data_science_c1_spaced: { spacing_ms: CHART_SPACING_MS, runbox: dsSpacedRunbox, docker_run: dsSpacedDocker },
      phases_p50_ms: phases,
      dependencies: { first_use: depsFirst, cached_set: depsCached },
      runsc,
      file_and_artifact_c1: fileArtifact,
      throughput_c4: { runbox: c4Runbox, docker_run: c4Docker },
      throughput_c8: { runbox: c8Runbox, docker_run: c8Docker },
      data_science_c1: { runbox: dsRunbox, docker_run: dsDocker },
      data_science_c4: { runbox: dsC4Runbox, docker_run: dsC4Docker },
      server_peak_rss_mb: two(peakRssMb),
      ratios: {
        latency_p50: two(latencyRunbox.p50 / latencyDocker.p50),
        latency_p50_spaced: two(spacedRunbox.p50 / spacedDocker.p50),
        data_science_p50_spaced: two(dsSpacedRunbox.p50 / dsSpacedDocker.p50),
        throughput_c4: two(c4Runbox.perSecond / c4Docker.perSecond),
        throughput_c8: two(c8Runbox.perSecond / c8Docker.perSecond),
        data_science_p50: two(dsRunbox.p50 / dsDocker.p50),
        data_science_c4: two(dsC4Runbox.perSecond / dsC4Docker.perSecond),
        file_artifact_vs_trivial: two(fileArtifact.p50 / latencyRunbox.p50),
      },
    };
    writeResults('bench', results, results.at);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(wheelhouse, { recursive: true, force: true });
  }
}

/** The trivial and data-science runs again with sandboxes under gVisor, if the engine has it; else undefined. */
async function underRunsc(settle: () => Promise<unknown>) {
  const runtimes = await createDockerClient({ callTimeoutMs: 10_000 }).runtimes();
  if (!runtimes.runsc) return undefined;
  const server = await spawnServer({
    RUNBOX_RUNTIME: 'runsc',
    RUNBOX_INSTANCE_ID: `bench-runsc-${process.pid}`,
    RUNBOX_MAX_CONCURRENT: '8',
    ...POOL,
  });
  try {
    await measure(() => runboxRequest(server.url, TRIVIAL), 4, 1);
    await settle();
    const trivial = await measure(() => runboxRequest(server.url, TRIVIAL), LATENCY_RUNS, 1);
    await measure(() => runboxRequest(server.url, DATA_SCIENCE), 6, 1);
    await settle();
    const dataScience = await measure(() => runboxRequest(server.url, DATA_SCIENCE), DS_LATENCY_RUNS, 1);
    return { trivial, dataScience };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

void main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
