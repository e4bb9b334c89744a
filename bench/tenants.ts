/**
 * `npm run bench:tenants`: what one tenant can cost another (issue 22, findings 1–3), on loopback.
 *
 * A real server (`node dist/main.js`, RUNBOX_MAX_CONCURRENT=4 by default) with a fresh store and two stored
 * keys made by `runbox keys add`: an "attacker" (`--concurrency 1 --rate 5 --daily-runs 100`) and a "victim"
 * with no limits. The victim runs `print(1)` through POST /v1/runs, one request after another (from
 * 127.0.0.2, as another client would), in each phase:
 *
 *   baseline     nothing else
 *   compat       2 attacker loops send ~20 MiB bodies of newlines as `code` to POST /run and /api/v1/execute
 *   base64       2 attacker loops send POST /v1/runs with a valid ~4.5 M-character base64 input file
 *   undelivered  the attacker starts runs whose responses are ~12 MiB of output and never reads them
 *
 * Per phase it reports the victim's p50 and worst latency and its non-2xx answers, the attacker's answers,
 * GET /health's p50 and worst (every 200 ms), the server's RSS (sampled every 100 ms, and VmHWM), the
 * gauges of GET /metrics (every 500 ms: slots in use, which warm pool members and containers being removed
 * take too; pool idle; queue depth, as the server defines it) and errors the server logged.
 * Prints a table and writes JSON to bench/results/tenants-<timestamp>.json.
 *
 * Every loop is bounded in count and time; the attack phases last TENANTS_PHASE_MS each (default 18000), the
 * baseline TENANTS_BASELINE_RUNS runs (default 15). TENANTS_MAX_CONCURRENT sets RUNBOX_MAX_CONCURRENT.
 * Exits 1 only when the bench itself failed or left containers of its own server behind.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { createDockerClient } from '../src/docker/client';
import { LABEL_INSTANCE } from '../src/sandbox/labels';
import { spawnServer } from '../test/support/server-process';
import { countBy, errCode, outcomeOf, percentile, rssOf, writeResults } from './stats';

const PHASE_MS = Number(process.env.TENANTS_PHASE_MS ?? 18_000);
const BASELINE_RUNS = Number(process.env.TENANTS_BASELINE_RUNS ?? 15);
const MAX_CONCURRENT = Number(process.env.TENANTS_MAX_CONCURRENT ?? 4);
const INSTANCE_ID = `tenants-${process.pid}`;
const METRICS_KEY = `tenants-bench-metrics-${process.pid}`;
/** Compiled, this runs from dist-bench/bench/: the repository root is two folders up. */
const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist/cli/main.js');
const MiB = 1024 * 1024;

/** The victim is another client than the attacker (127.0.0.1), so per-address limits tell them apart. */
const VICTIM_ADDRESS = '127.0.0.2';
const VICTIM_TIMEOUT_MS = 30_000;
const VICTIM_MAX_PER_PHASE = 150;
const ATTACK_TIMEOUT_MS = 30_000;
/** Requests at most per attacker loop and phase, and the least time between two starts of one loop. */
const ATTACK_MAX_PER_LOOP = 40;
/** Two loops each starting at most every 450 ms stay under the attacker's 5 requests per second. */
const ATTACK_PACE_MS = 450;
/** Runs whose responses the attacker never reads, one every 300 ms. */
const NON_READERS = 6;
const NON_READER_EVERY_MS = 300;

const TRIVIAL = JSON.stringify({ code: 'print(1)' });

/**
 * Finding 1: a body of just under 20 MiB (RUNBOX_MAX_BODY_BYTES) whose `code` is newlines (`\n` is 2 bytes in
 * JSON) and then `pass`, so that it is not blank: /run dedents it rather than refusing empty code.
 */
const NEWLINES_BODY = Buffer.from(`{"code":"${'\\n'.repeat(Math.floor((20 * MiB - 20) / 2))}pass"}`);

/** Finding 2: a valid base64 file of 4.5 M characters (3.4 MB decoded, under the 5 MiB file limit). */
const BASE64_CHARS = 4_500_000;
const BASE64_BODY = Buffer.from(
  JSON.stringify({
    code: 'import os\nprint(os.path.getsize("in.bin"))',
    files: [{ path: 'in.bin', content: randomBytes((BASE64_CHARS / 4) * 3).toString('base64'), encoding: 'base64' }],
  }),
);

/** Finding 3: 1 MiB of \x01 on stdout and on stderr, two 5 MiB files of it: a response of ~12 MiB or more. */
const FLOOD_BODY = JSON.stringify({
  code: [
    'import os',
    'os.write(1, b"\\x01" * (1 << 20))',
    'os.write(2, b"\\x01" * (1 << 20))',
    'for name in ("a.bin", "b.bin"):',
    '    open("output/" + name, "wb").write(b"\\x01" * (5 << 20))',
  ].join('\n'),
  timeout_ms: 30_000,
});

// ---------------------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
const round = (n: number) => (Number.isFinite(n) ? Math.round(n) : null);

interface Call {
  at_s: number;
  ms: number;
  status: number;
  outcome: string;
}

/** One request on a fresh connection, bounded by timeoutMs; a timeout or a connection error has status 0. */
function call(
  port: number,
  o: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | string; timeoutMs: number; localAddress?: string },
): Promise<Omit<Call, 'at_s'>> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let settled = false;
    let status = 0;
    let head = '';
    const finish = (outcome: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, status, outcome });
      req.destroy();
    };
    const headers = o.body === undefined ? o.headers : { 'content-length': String(Buffer.byteLength(o.body)), ...o.headers };
    const req = http.request(
      { host: '127.0.0.1', port, localAddress: o.localAddress, method: o.method, path: o.path, headers, agent: false },
      (res) => {
        status = res.statusCode ?? 0;
        res.on('data', (chunk: Buffer) => {
          if (head.length < 2048) head += chunk.subarray(0, 2048 - head.length).toString('latin1');
        });
        res.on('end', () => finish(outcomeOf(status, head)));
        res.on('close', () => finish(res.complete ? outcomeOf(status, head) : `${outcomeOf(status, head)} (cut)`));
      },
    );
    const timer = setTimeout(() => finish('timeout'), o.timeoutMs);
    // Once a response has begun, its own events settle the call (a 413 may close while the body is still going).
    req.on('error', (e) => status === 0 && finish(`error ${errCode(e)}`));
    req.end(o.body);
  });
}

/** Runs `tick` every `everyMs` (back to back when a tick takes longer) until `stop`, at most `max` times. */
async function every(everyMs: number, max: number, stop: AbortSignal, tick: () => Promise<void> | void): Promise<void> {
  for (let i = 0; i < max && !stop.aborted; i++) {
    const t0 = Date.now();
    await tick();
    if (stop.aborted) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, t0 + everyMs - Date.now()));
      function done() {
        clearTimeout(timer);
        stop.removeEventListener('abort', done);
        resolve();
      }
      stop.addEventListener('abort', done, { once: true });
    });
  }
}

const latency = (calls: Call[]) => {
  const ms = calls.map((c) => c.ms);
  return { n: calls.length, p50_ms: round(percentile(ms, 50)), worst_ms: round(ms.length ? Math.max(...ms) : NaN) };
};

// ---------------------------------------------------------------------------------------------------------
// The bench

type Server = Awaited<ReturnType<typeof spawnServer>>;

interface Ctx {
  server: Server;
  port: number;
  attacker: string;
  victim: string;
  /** Set once the server process has exited. */
  exit?: number | null;
}

interface Gauges {
  at_s: number;
  slots_in_use: number;
  pool_idle: number;
  queue_depth: number;
}

async function gauges(ctx: Ctx, at_s: number): Promise<Gauges | undefined> {
  try {
    const res = await fetch(`${ctx.server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_KEY}` },
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return {
      at_s,
      slots_in_use: gauge('runbox_slots_in_use'),
      pool_idle: gauge('runbox_pool_idle'),
      queue_depth: gauge('runbox_queue_depth'),
    };
  } catch {
    return undefined;
  }
}

function serverRss(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    return rssOf(pid, field) / 1024;
  } catch {
    return NaN;
  }
}

/** The victim's sequential `print(1)` runs until `until` (the one under way finishes) or its count. */
async function victimLoop(ctx: Ctx, startedAt: number, until: number, max: number): Promise<Call[]> {
  const out: Call[] = [];
  for (let i = 0; i < max && Date.now() < until; i++) {
    const at_s = (Date.now() - startedAt) / 1000;
    const r = await call(ctx.port, {
      method: 'POST',
      path: '/v1/runs',
      headers: { 'content-type': 'application/json', 'x-api-key': ctx.victim },
      body: TRIVIAL,
      timeoutMs: VICTIM_TIMEOUT_MS,
      localAddress: VICTIM_ADDRESS,
    });
    out.push({ at_s, ...r });
    if (r.status === 0) await sleep(250);
  }
  return out;
}

/** An attacker loop: up to ATTACK_MAX_PER_LOOP requests, one start per ATTACK_PACE_MS at most, until the deadline. */
async function attackLoop(ctx: Ctx, startedAt: number, deadline: number, request: (i: number) => { path: string; body: Buffer }) {
  const out: (Call & { path: string })[] = [];
  for (let i = 0; i < ATTACK_MAX_PER_LOOP && Date.now() < deadline; i++) {
    const t0 = Date.now();
    const { path, body } = request(i);
    const r = await call(ctx.port, {
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', 'x-api-key': ctx.attacker },
      body,
      timeoutMs: ATTACK_TIMEOUT_MS,
    });
    out.push({ at_s: (t0 - startedAt) / 1000, path, ...r });
    await sleep(t0 + ATTACK_PACE_MS - Date.now());
  }
  return out;
}

function summarizeAttack(calls: (Call & { path: string })[]) {
  return {
    ...latency(calls),
    by_outcome: countBy(calls, (c) => `${c.path} ${c.outcome}`),
    requests: calls.map((c) => ({ ...c, at_s: Number(c.at_s.toFixed(1)), ms: Math.round(c.ms) })),
  };
}

type Attack = (ctx: Ctx, startedAt: number, deadline: number) => Promise<{ summary: Record<string, unknown>; statuses: string }>;

const compatAttack: Attack = async (ctx, startedAt, deadline) => {
  const loops = await Promise.all(
    [0, 1].map((loop) =>
      attackLoop(ctx, startedAt, deadline, (i) => ({ path: (i + loop) % 2 === 0 ? '/run' : '/api/v1/execute', body: NEWLINES_BODY })),
    ),
  );
  const calls = loops.flat();
  const summary = { body_bytes: NEWLINES_BODY.length, ...summarizeAttack(calls) };
  return { summary, statuses: statusesText(calls) };
};

const base64Attack: Attack = async (ctx, startedAt, deadline) => {
  const loops = await Promise.all([0, 1].map(() => attackLoop(ctx, startedAt, deadline, () => ({ path: '/v1/runs', body: BASE64_BODY }))));
  const calls = loops.flat();
  const summary = { base64_chars: BASE64_CHARS, body_bytes: BASE64_BODY.length, ...summarizeAttack(calls) };
  return { summary, statuses: statusesText(calls) };
};

/** Runs with ~12 MiB answers on bare sockets that are written to and never read, held until the deadline. */
const undeliveredAttack: Attack = async (ctx, startedAt, deadline) => {
  const sockets: { socket: net.Socket; at_s: number; closed_at_s?: number; error?: string }[] = [];
  const head = (length: number) =>
    [
      'POST /v1/runs HTTP/1.1',
      `Host: 127.0.0.1:${ctx.port}`,
      'Content-Type: application/json',
      `X-API-Key: ${ctx.attacker}`,
      `Content-Length: ${length}`,
      '',
      '',
    ].join('\r\n');
  for (let i = 0; i < NON_READERS && Date.now() < deadline; i++) {
    const socket = net.connect({ host: '127.0.0.1', port: ctx.port });
    // Paused: the kernel's buffers fill and then nothing more is taken from the server.
    socket.pause();
    const rec: (typeof sockets)[number] = { socket, at_s: Number(((Date.now() - startedAt) / 1000).toFixed(1)) };
    sockets.push(rec);
    socket.on('error', (e) => (rec.error ??= errCode(e)));
    socket.on('close', () => (rec.closed_at_s ??= Number(((Date.now() - startedAt) / 1000).toFixed(1))));
    socket.write(head(Buffer.byteLength(FLOOD_BODY)) + FLOOD_BODY);
    await sleep(NON_READER_EVERY_MS);
  }
  await sleep(deadline - Date.now());
  for (const { socket } of sockets) socket.destroy();
  const summary = {
    non_readers: sockets.length,
    closed_by_server_before_the_end: sockets.filter((s) => s.closed_at_s !== undefined).length,
    sockets: sockets.map(({ socket: _socket, ...rest }) => rest),
  };
  return { summary, statuses: `${sockets.length} runs sent, never read` };
};

function statusesText(calls: Call[]): string {
  return Object.entries(countBy(calls, (c) => c.outcome))
    .map(([k, v]) => `${v}× ${k}`)
    .join(', ');
}

interface Phase {
  name: string;
  describe: string;
  durationMs: number;
  victimMax: number;
  attack?: Attack;
}

async function runPhase(ctx: Ctx, phase: Phase) {
  console.log(`phase ${phase.name}: ${phase.describe}`);
  const startedAt = Date.now();
  const deadline = startedAt + phase.durationMs;
  const logFrom = ctx.server.log().length;
  const stop = new AbortController();
  const at = () => (Date.now() - startedAt) / 1000;
  const health: Call[] = [];
  const rss: number[] = [];
  const metrics: Gauges[] = [];
  const rssStart = serverRss(ctx.server.pid);
  const slotsBefore = (await gauges(ctx, 0))?.slots_in_use ?? MAX_CONCURRENT;
  // A bound on sampler ticks: the phase plus the time an in-flight request may still take.
  const ticks = (everyMs: number) => Math.ceil((phase.durationMs + 2 * VICTIM_TIMEOUT_MS) / everyMs) + 5;
  const samplers = Promise.all([
    every(200, ticks(200), stop.signal, async () => {
      const at_s = at();
      const r = await call(ctx.port, { method: 'GET', path: '/health', timeoutMs: 20_000, localAddress: VICTIM_ADDRESS });
      health.push({ at_s, ...r });
    }),
    every(100, ticks(100), stop.signal, () => {
      rss.push(serverRss(ctx.server.pid));
    }),
    every(500, ticks(500), stop.signal, async () => {
      const g = await gauges(ctx, Number(at().toFixed(1)));
      if (g) metrics.push(g);
    }),
  ]);
  const [victim, attack] = await Promise.all([
    victimLoop(ctx, startedAt, deadline, phase.victimMax),
    phase.attack ? phase.attack(ctx, startedAt, deadline) : Promise.resolve(undefined),
  ]);
  stop.abort();
  await samplers;
  const elapsed = at();

  // Let what the attack left (held slots, waiting requests) go before the next phase: at most 20 s. The
  // warm pool takes slots too, so "settled" is back to as many as before the phase.
  let settledAfterS: number | null = null;
  if (phase.attack) {
    const settleFrom = Date.now();
    while (Date.now() - settleFrom < 20_000 && ctx.exit === undefined) {
      const g = await gauges(ctx, 0);
      if (g && g.queue_depth === 0 && g.slots_in_use <= slotsBefore) break;
      await sleep(250);
    }
    settledAfterS = Number(((Date.now() - settleFrom) / 1000).toFixed(1));
  }

  const newLog = ctx.server.log().slice(logFrom);
  const errorsLogged = newLog.split('\n').filter((line) => /"level":(50|60)/.test(line));
  const nonOk = victim.filter((c) => c.status < 200 || c.status > 299);
  const healthMs = health.map((h) => (h.status === 200 ? h.ms : 20_000));
  const finite = rss.filter(Number.isFinite);
  const result = {
    phase: phase.name,
    describe: phase.describe,
    elapsed_s: Number(elapsed.toFixed(1)),
    victim: {
      ...latency(victim),
      ok: victim.length - nonOk.length,
      non_2xx: countBy(nonOk, (c) => c.outcome),
      by_outcome: countBy(victim, (c) => c.outcome),
      samples: victim.map((c) => ({ ...c, at_s: Number(c.at_s.toFixed(1)), ms: Math.round(c.ms) })),
    },
    attacker: attack?.summary ?? null,
    attacker_statuses: attack?.statuses ?? '-',
    health: {
      n: health.length,
      failed: health.filter((h) => h.status !== 200).length,
      p50_ms: round(percentile(healthMs, 50)),
      worst_ms: round(healthMs.length ? Math.max(...healthMs) : NaN),
    },
    server_rss_mb: {
      start: round(rssStart),
      peak_sampled: round(finite.length ? Math.max(...finite) : NaN),
      hwm_so_far: round(serverRss(ctx.server.pid, 'VmHWM')),
    },
    metrics: {
      samples: metrics.length,
      slots_in_use_before: slotsBefore,
      slots_in_use_max: metrics.length ? Math.max(...metrics.map((m) => m.slots_in_use)) : null,
      pool_idle_min: metrics.length ? Math.min(...metrics.map((m) => m.pool_idle)) : null,
      queue_depth_max: metrics.length ? Math.max(...metrics.map((m) => m.queue_depth)) : null,
      timeline: metrics,
    },
    settled_after_s: settledAfterS,
    server_errors_logged: errorsLogged.length,
    server_error_messages: countBy(errorsLogged, (line) => {
      const msg = /"msg":"([^"]{0,80})/.exec(line)?.[1] ?? '?';
      const err = /"message":"([^"]{0,80})/.exec(line)?.[1];
      return err ? `${msg}: ${err}` : msg;
    }),
  };
  console.log(
    `  victim p50 ${result.victim.p50_ms} ms, worst ${result.victim.worst_ms} ms, n ${result.victim.n}, ` +
      `non-2xx ${JSON.stringify(result.victim.non_2xx)}; attacker: ${result.attacker_statuses}; ` +
      `/health worst ${result.health.worst_ms} ms; RSS peak ${result.server_rss_mb.peak_sampled} MB; ` +
      `slots max ${result.metrics.slots_in_use_max}, queue max ${result.metrics.queue_depth_max}`,
  );
  return result;
}

async function addKey(dataDir: string, name: string, limits: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'keys', 'add', '--name', name, '--env', 'test', ...limits], {
    env: { PATH: process.env.PATH, RUNBOX_DATA_DIR: dataDir },
  });
  return stdout.trim();
}

/** Our server's containers (by its instance label): waits up to 20 s for them to go, then removes what is left. */
async function containersLeft() {
  const docker = createDockerClient({ callTimeoutMs: 15_000 });
  const label = `${LABEL_INSTANCE}=${INSTANCE_ID}`;
  const until = Date.now() + 20_000;
  let left = await docker.listByLabel(label);
  while (left.length > 0 && Date.now() < until) {
    await sleep(500);
    left = await docker.listByLabel(label);
  }
  for (const c of left) await docker.remove(c.id).catch(() => undefined);
  return left.length;
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'runbox-tenants-'));
  let server: Server | undefined;
  const onSignal = () => {
    server?.child.kill('SIGTERM');
    setTimeout(() => process.exit(130), 15_000).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const attacker = await addKey(dataDir, 'attacker', ['--concurrency', '1', '--rate', '5', '--daily-runs', '100']);
    const victim = await addKey(dataDir, 'victim', []);
    server = await spawnServer({
      RUNBOX_INSTANCE_ID: INSTANCE_ID,
      RUNBOX_DATA_DIR: dataDir,
      RUNBOX_MAX_CONCURRENT: String(MAX_CONCURRENT),
      RUNBOX_METRICS_KEY: METRICS_KEY,
    });
    const ctx: Ctx = { server, port: Number(new URL(server.url).port), attacker, victim };
    void server.exited.then((code) => (ctx.exit = code));
    const started = Date.now();
    const phases: Phase[] = [
      { name: 'baseline', describe: `${BASELINE_RUNS} victim runs, nothing else`, durationMs: 60_000, victimMax: BASELINE_RUNS },
      {
        name: 'compat',
        describe: `2 attacker loops: ${(NEWLINES_BODY.length / MiB).toFixed(1)} MiB of newlines as code to POST /run and /api/v1/execute`,
        durationMs: PHASE_MS,
        victimMax: VICTIM_MAX_PER_PHASE,
        attack: compatAttack,
      },
      {
        name: 'base64',
        describe: `2 attacker loops: POST /v1/runs with a valid ${(BASE64_CHARS / 1e6).toFixed(1)} M-character base64 file`,
        durationMs: PHASE_MS,
        victimMax: VICTIM_MAX_PER_PHASE,
        attack: base64Attack,
      },
      {
        name: 'undelivered',
        describe: `${NON_READERS} attacker runs with ~12 MiB answers, never read`,
        durationMs: PHASE_MS,
        victimMax: VICTIM_MAX_PER_PHASE,
        attack: undeliveredAttack,
      },
    ];
    const results = [];
    for (const phase of phases) {
      if (ctx.exit !== undefined) break;
      results.push(await runPhase(ctx, phase));
    }
    const peakRssMb = round(serverRss(server.pid, 'VmHWM'));
    server.child.kill('SIGTERM');
    const exitCode = await Promise.race([server.exited, sleep(30_000).then(() => 'timeout' as const)]);
    if (exitCode === 'timeout') {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    const left = await containersLeft();

    const report = {
      max_concurrent: MAX_CONCURRENT,
      phase_ms: PHASE_MS,
      keys: { attacker: '--concurrency 1 --rate 5 --daily-runs 100', victim: 'no limits' },
      elapsed_s: Number(((Date.now() - started) / 1000).toFixed(1)),
      server_exited_early: results.length < phases.length,
      server_peak_rss_mb: peakRssMb,
      server_exit: exitCode,
      containers_left: left,
      phases: results,
    };
    console.table(
      results.map((r) => ({
        phase: r.phase,
        'victim p50 ms': r.victim.p50_ms,
        'victim worst ms': r.victim.worst_ms,
        'victim n': r.victim.n,
        'victim non-2xx': Object.entries(r.victim.non_2xx)
          .map(([k, v]) => `${v}× ${k}`)
          .join(', '),
        attacker: r.attacker_statuses,
        'health worst ms': r.health.worst_ms,
        'RSS peak MB': r.server_rss_mb.peak_sampled,
        'slots max': r.metrics.slots_in_use_max,
        'queue max': r.metrics.queue_depth_max,
      })),
    );
    console.log(`server peak RSS (VmHWM) ${peakRssMb} MB; containers left ${left}; ${report.elapsed_s} s`);
    writeResults('tenants', report);
    process.exitCode = left === 0 && results.length === phases.length ? 0 : 1;
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error('tenants bench failed:', err);
  process.exit(1);
});
