/**
 * `npm run hostile [responses] [bodies] [connections]`: denial-of-service attacks on the HTTP server, on
 * loopback, each against a fresh real server (`node dist/main.js`) for at most ~35 s.
 *
 * Per scenario it reports the server's peak RSS (VmRSS sampled every 100 ms, and VmHWM at the end if the
 * process lives), the worst and p50 latency of `GET /health` every 200 ms and of a trivial run every ~2 s
 * from a well-behaved client (a separate worker thread, so the attack traffic cannot stall its clock;
 * a timeout or a connection error counts as 20 000 ms), the server's CPU use (cores), whether it died (exit
 * code/signal, stderr tail), responses by status, and containers left behind (removed if they are ours).
 * Prints a table and writes JSON to bench/results/hostile-<timestamp>.json.
 *
 *   responses    clients that never read their (~72 MB) responses, beside 4 clients that do
 *   bodies       20 MB nested-array JSON bodies, gzip-compressed and plain
 *   connections  endless 1-byte chunked bodies, 1000 idle connections, 20 bodies cut short at ~19 of 20 MiB
 *
 * HOSTILE_SCENARIO_MS shortens or lengthens each scenario (default 35000). HOSTILE_PARTS runs only some
 * attackers of a scenario, to see which one does the damage: `gzip`, `plain` (bodies); `chunked`, `idle`,
 * `truncated` (connections); e.g. `HOSTILE_PARTS=chunked npm run hostile connections`.
 */
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { createDockerClient } from '../src/docker/client';
import { LABEL_INSTANCE, LABEL_RUN_ID } from '../src/sandbox/labels';
import { spawnServer } from '../test/support/server-process';
import { countBy, errCode, outcomeOf, percentile, writeResults } from './stats';

const API_KEY = 'bench-key-0123456789abcdef';
const INSTANCE_ID = `hostile-${process.pid}`;
const SCENARIO_MS = Number(process.env.HOSTILE_SCENARIO_MS ?? 35_000);
const PROBE_TIMEOUT_MS = 20_000;
const HEALTH_EVERY_MS = 200;
const RUN_EVERY_MS = 2_000;
const TERM_GRACE_MS = 15_000;
const TRIVIAL = JSON.stringify({ code: 'print(1)' });
/** The probes are another client than the attackers (127.0.0.1), so per-address limits tell them apart. */
const PROBE_ADDRESS = '127.0.0.2';
const PARTS = process.env.HOSTILE_PARTS ? process.env.HOSTILE_PARTS.split(',').map((p) => p.trim()) : undefined;
const part = (name: string) => PARTS === undefined || PARTS.includes(name);

// ---------------------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });

const round = (n: number, digits = 0) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

interface CallResult {
  status: number;
  outcome: string;
  ms: number;
  bytes: number;
  message?: string;
  failed: boolean;
}

/** One HTTP request on a fresh connection, bounded by timeoutMs and by `stop` (recorded as `cut`). */
function httpCall(
  port: number,
  o: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    timeoutMs: number;
    stop?: AbortSignal;
    /** Where the connection comes from; the well-behaved probes use their own address, as another client would. */
    localAddress?: string;
  },
): Promise<CallResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    if (o.stop?.aborted) return resolve({ status: 0, outcome: 'cut', ms: 0, bytes: 0, failed: false });
    let settled = false;
    let status = 0;
    let bytes = 0;
    let head = '';
    const finish = (outcome: string, failed: boolean, ms = performance.now() - t0) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.stop?.removeEventListener('abort', onStop);
      const message = /"message":"((?:[^"\\]|\\.){0,160})/.exec(head)?.[1];
      resolve({ status, outcome, ms, bytes, failed, ...(message ? { message } : {}) });
      req.destroy();
    };
    const req = http.request(
      { host: '127.0.0.1', port, localAddress: o.localAddress, method: o.method, path: o.path, headers: o.headers, agent: false },
      (res) => {
        status = res.statusCode ?? 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (head.length < 4096) head += chunk.subarray(0, 4096 - head.length).toString('latin1');
        });
        res.on('end', () => finish(outcomeOf(status, head), false));
        res.on('error', (e) => finish(`error ${errCode(e)}`, true));
        res.on('close', () => finish(res.complete ? outcomeOf(status, head) : 'error aborted', !res.complete));
      },
    );
    const timer = setTimeout(() => finish('timeout', true, o.timeoutMs), o.timeoutMs);
    const onStop = () => finish('cut', false);
    o.stop?.addEventListener('abort', onStop, { once: true });
    req.on('error', (e) => finish(`error ${errCode(e)}`, true));
    req.end(o.body);
  });
}

interface Sample {
  at_s: number;
  ms: number;
  status: number;
  outcome: string;
  failed: boolean;
}

/** Latency summary; a failed request (timeout, refused, reset) counts as PROBE_TIMEOUT_MS. */
function summarize(samples: Sample[]) {
  const effective = samples.map((s) => (s.failed ? PROBE_TIMEOUT_MS : s.ms));
  const worst = effective.length ? Math.max(...effective) : NaN;
  return {
    n: samples.length,
    failed: samples.filter((s) => s.failed).length,
    // Still waiting when the scenario ended: their time is a lower bound.
    cut: samples.filter((s) => s.outcome === 'cut').length,
    worst_ms: round(worst),
    worst_is_lower_bound: samples.some((s) => s.outcome === 'cut' && s.ms === worst),
    p50_ms: round(percentile(effective, 50)),
    p95_ms: round(percentile(effective, 95)),
    by_outcome: countBy(samples, (s) => s.outcome),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The well-behaved prober: a worker thread with its own event loop.

interface ProbeData {
  port: number;
  startAt: number;
  endAt: number;
}
interface ProbeResult {
  health: Sample[];
  runs: Sample[];
  loop_delay_max_ms: number;
}

async function probeWorker(d: ProbeData): Promise<void> {
  const stop = new AbortController();
  parentPort!.on('message', (m) => m === 'stop' && stop.abort());
  const endTimer = setTimeout(() => stop.abort(), Math.max(0, d.endAt - Date.now()));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const loop = async (everyMs: number, out: Sample[], send: () => Promise<CallResult>) => {
    const max = Math.ceil((d.endAt - d.startAt) / everyMs) + 5;
    for (let i = 0; i < max && !stop.signal.aborted; i++) {
      const t0 = Date.now();
      const r = await send();
      out.push({ at_s: round((t0 - d.startAt) / 1000, 1)!, ms: round(r.ms)!, status: r.status, outcome: r.outcome, failed: r.failed });
      await sleep(t0 + everyMs - Date.now(), stop.signal);
    }
  };
  const health: Sample[] = [];
  const runs: Sample[] = [];
  await Promise.all([
    loop(HEALTH_EVERY_MS, health, () =>
      httpCall(d.port, { method: 'GET', path: '/health', timeoutMs: PROBE_TIMEOUT_MS, stop: stop.signal, localAddress: PROBE_ADDRESS }),
    ),
    loop(RUN_EVERY_MS, runs, () =>
      httpCall(d.port, {
        method: 'POST',
        path: '/v1/runs',
        headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
        body: TRIVIAL,
        timeoutMs: PROBE_TIMEOUT_MS,
        stop: stop.signal,
        localAddress: PROBE_ADDRESS,
      }),
    ),
  ]);
  clearTimeout(endTimer);
  delay.disable();
  const result: ProbeResult = { health, runs, loop_delay_max_ms: round(delay.max / 1e6)! };
  parentPort!.postMessage(result);
}

// ---------------------------------------------------------------------------------------------------------
// The server process, seen through /proc

function procStatus(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** utime + stime in clock ticks. */
function procCpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function procFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

// ---------------------------------------------------------------------------------------------------------
// Scenarios

interface Ctx {
  port: number;
  url: string;
  /** Fires at the scenario's deadline, when the server dies (after 2 s), or on Ctrl-C. */
  stop: AbortSignal;
  startAt: number;
  deadline: number;
  /** Sockets held until the scenario ends, then destroyed. */
  hold(socket: net.Socket): net.Socket;
  at(): number;
}

interface Scenario {
  name: string;
  describe: string;
  /** Work done before the server starts (e.g. building bodies), returning the attack. */
  prepare(): (ctx: Ctx) => Promise<Record<string, unknown>>;
}

const FLOOD_PROGRAM = [
  'import sys',
  'sys.stdout.buffer.write(b"\\x01" * (1 << 20))',
  'sys.stderr.buffer.write(b"\\x01" * (1 << 20))',
  'for name in ("a", "b"):',
  '    with open(f"output/{name}.bin", "wb") as f:',
  '        f.write(b"\\x01" * (5 << 20))',
].join('\n');

function rawRequestHead(port: number, headers: Record<string, string>, method = 'POST', path = '/v1/runs'): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Connects (bounded by `stop` and 5 s); resolves whether it connected. */
function connected(socket: net.Socket, stop: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      socket.off('connect', onConnect).off('error', onError);
      resolve(ok);
    };
    const onConnect = () => done(true);
    const onError = () => done(false);
    const onStop = () => done(false);
    const timer = setTimeout(() => done(false), 5_000);
    socket.once('connect', onConnect).once('error', onError);
    stop.addEventListener('abort', onStop, { once: true });
  });
}

/** Resolves on 'drain', close, or stop. */
function drained(socket: net.Socket, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done).off('close', done);
      stop.removeEventListener('abort', done);
      resolve();
    };
    socket.once('drain', done).once('close', done);
    stop.addEventListener('abort', done, { once: true });
  });
}

const responses: Scenario = {
  name: 'responses',
  describe: 'a new never-reading client every 1.3 s (≤25) + 4 reading clients (≤15 each); each response ~72 MB',
  prepare() {
    const body = JSON.stringify({ code: FLOOD_PROGRAM });
    return async (ctx) => {
      const hostile: { at_s: number; connected: boolean; closed_at_s?: number; error?: string }[] = [];
      const hostileLoop = async () => {
        for (let i = 0; i < 25 && !ctx.stop.aborted; i++) {
          const socket = ctx.hold(net.connect({ host: '127.0.0.1', port: ctx.port }));
          socket.pause();
          const rec: (typeof hostile)[number] = { at_s: ctx.at(), connected: false };
          hostile.push(rec);
          socket.on('error', (e) => (rec.error ??= errCode(e)));
          socket.on('close', () => (rec.closed_at_s ??= ctx.at()));
          socket.write(
            rawRequestHead(ctx.port, {
              'Content-Type': 'application/json',
              'X-API-Key': API_KEY,
              'Content-Length': String(Buffer.byteLength(body)),
            }) + body,
          );
          void connected(socket, ctx.stop).then((ok) => (rec.connected = ok));
          await sleep(1_300, ctx.stop);
        }
      };
      type Shape = {
        stdout_chars?: number;
        stderr_chars?: number;
        stdout_truncated?: boolean;
        artifacts?: string[];
        artifacts_truncated?: boolean;
      };
      const good: (Sample & { bytes: number; shape?: Shape })[] = [];
      const shapeOf = (text: string): Shape | undefined => {
        try {
          const j = JSON.parse(text) as {
            stdout?: string;
            stderr?: string;
            stdout_truncated?: boolean;
            artifacts?: { path: string; size: number }[];
            artifacts_truncated?: boolean;
          };
          return {
            stdout_chars: j.stdout?.length,
            stderr_chars: j.stderr?.length,
            stdout_truncated: j.stdout_truncated,
            artifacts: j.artifacts?.map((a) => `${a.path}:${a.size}`),
            artifacts_truncated: j.artifacts_truncated,
          };
        } catch {
          return undefined;
        }
      };
      const goodClient = async () => {
        for (let i = 0; i < 15 && !ctx.stop.aborted; i++) {
          const at = ctx.at();
          const t0 = performance.now();
          let status = 0;
          let bytes = 0;
          let head = '';
          const chunks: Uint8Array[] = [];
          try {
            const res = await fetch(`${ctx.url}/v1/runs`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
              body,
              signal: ctx.stop,
            });
            status = res.status;
            const reader = res.body!.getReader();
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              bytes += value.length;
              chunks.push(value);
              if (head.length < 1024) head += Buffer.from(value.subarray(0, 1024 - head.length)).toString('latin1');
            }
            const ms = round(performance.now() - t0)!;
            const shape = shapeOf(Buffer.concat(chunks).toString('utf8'));
            chunks.length = 0;
            good.push({ at_s: at, ms, status, outcome: outcomeOf(status, head), failed: false, bytes, ...(shape ? { shape } : {}) });
            const retryAfter = Number(res.headers.get('retry-after'));
            if (status === 503 && retryAfter > 0) await sleep(Math.min(retryAfter, 5) * 1000, ctx.stop);
          } catch (e) {
            const cut = ctx.stop.aborted;
            good.push({
              at_s: at,
              ms: round(performance.now() - t0)!,
              status,
              outcome: cut ? 'cut' : `error ${errCode((e as Error).cause ?? e)}`,
              failed: !cut,
              bytes,
            });
            if (!cut) await sleep(500, ctx.stop);
          }
        }
      };
      await Promise.all([hostileLoop(), ...Array.from({ length: 4 }, goodClient)]);
      const sizes = good.filter((g) => g.status === 200).map((g) => g.bytes);
      return {
        hostile_requests: hostile.length,
        hostile_connected: hostile.filter((h) => h.connected).length,
        hostile_closed_by_server_or_error: hostile.filter((h) => h.closed_at_s !== undefined).length,
        hostile: hostile,
        good_clients: {
          ...summarize(good),
          response_bytes: {
            min: sizes.length ? Math.min(...sizes) : null,
            p50: percentile(sizes, 50) || null,
            max: sizes.length ? Math.max(...sizes) : null,
          },
        },
        good_samples: good,
      };
    };
  },
};

const bodies: Scenario = {
  name: 'bodies',
  describe: '2 clients (≤15 each): 20 MB nested [[[…]]] JSON, (a) gzip-compressed, (b) plain',
  prepare() {
    const nested = Buffer.from('['.repeat(10_000_000) + ']'.repeat(10_000_000));
    const gz = gzipSync(nested, { level: 9 });
    return async (ctx) => {
      const loop = async (body: Buffer, gzip: boolean) => {
        const out: (Sample & { message?: string })[] = [];
        for (let i = 0; i < 15 && !ctx.stop.aborted; i++) {
          const at = ctx.at();
          const r = await httpCall(ctx.port, {
            method: 'POST',
            path: '/v1/runs',
            headers: {
              'content-type': 'application/json',
              'x-api-key': API_KEY,
              'content-length': String(body.length),
              ...(gzip ? { 'content-encoding': 'gzip' } : {}),
            },
            body,
            timeoutMs: Math.max(1, ctx.deadline - Date.now()),
            stop: ctx.stop,
          });
          out.push({
            at_s: at,
            ms: round(r.ms)!,
            status: r.status,
            outcome: r.outcome,
            failed: r.failed,
            ...(r.message ? { message: r.message } : {}),
          });
          if (r.failed) await sleep(500, ctx.stop);
        }
        return out;
      };
      const [gzipped, plain] = await Promise.all([part('gzip') ? loop(gz, true) : [], part('plain') ? loop(nested, false) : []]);
      const brief = (s: Sample[]) => ({
        n: s.length,
        by_outcome: countBy(s, (x) => x.outcome),
        ms_p50: round(
          percentile(
            s.map((x) => x.ms),
            50,
          ),
        ),
        ms_max: s.length ? round(Math.max(...s.map((x) => x.ms))) : null,
      });
      return {
        body_bytes: nested.length,
        gzip_bytes: gz.length,
        gzip: { ...brief(gzipped), requests: gzipped },
        plain: { ...brief(plain), requests: plain },
      };
    };
  },
};

const connections: Scenario = {
  name: 'connections',
  describe: '3 endless 1-byte-chunk bodies without a key, 1000 idle connections, 20 keyed 20 MiB bodies stopped at 19 MiB',
  prepare() {
    const CHUNKS_PER_WRITE = 2048;
    const chunkBatch = Buffer.from('1\r\nx\r\n'.repeat(CHUNKS_PER_WRITE));
    const FLOOD_CAP_BYTES = 4 * 1024 ** 3;
    const DECLARED = 20 * 1024 * 1024;
    const SENT = 19 * 1024 * 1024;
    const piece = Buffer.alloc(1024 * 1024, 'a');
    return async (ctx) => {
      // (a) chunked bodies, one byte per chunk, as fast as the socket takes them
      const chunked = async () => {
        const socket = ctx.hold(net.connect({ host: '127.0.0.1', port: ctx.port }));
        const rec = {
          connected: false,
          chunks_sent: 0,
          bytes_sent: 0,
          response: null as string | null,
          response_at_s: null as number | null,
          server_end_at_s: null as number | null,
          closed_at_s: null as number | null,
          error: null as string | null,
        };
        let closed = false;
        let received = '';
        socket.on('data', (d: Buffer) => {
          if (received.length < 256) received += d.toString('latin1');
          if (rec.response === null && received.includes('\r\n')) {
            rec.response = received.slice(0, received.indexOf('\r\n'));
            rec.response_at_s = ctx.at();
          }
        });
        socket.on('end', () => (rec.server_end_at_s ??= ctx.at()));
        socket.on('error', (e) => (rec.error ??= errCode(e)));
        socket.on('close', () => {
          closed = true;
          if (!ctx.stop.aborted) rec.closed_at_s ??= ctx.at();
        });
        rec.connected = await connected(socket, ctx.stop);
        if (!rec.connected) return rec;
        socket.write(rawRequestHead(ctx.port, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }));
        while (!ctx.stop.aborted && !closed && rec.bytes_sent < FLOOD_CAP_BYTES) {
          const ok = socket.write(chunkBatch);
          rec.bytes_sent += chunkBatch.length;
          rec.chunks_sent += CHUNKS_PER_WRITE;
          if (!ok) await drained(socket, ctx.stop);
          else await new Promise((r) => setImmediate(r));
        }
        return rec;
      };

      // (b) 1000 idle connections: even ones send nothing, odd ones half a request line
      const idle = async () => {
        const recs: {
          connected: boolean;
          server_closed_at_s: number | null;
          got_bytes: number;
          first_line: string | null;
          error: string | null;
        }[] = [];
        for (let i = 0; i < 1000 && !ctx.stop.aborted; i++) {
          const socket = ctx.hold(net.connect({ host: '127.0.0.1', port: ctx.port }));
          const rec = {
            connected: false,
            server_closed_at_s: null as number | null,
            got_bytes: 0,
            first_line: null as string | null,
            error: null as string | null,
          };
          recs.push(rec);
          socket.on('connect', () => {
            rec.connected = true;
            if (i % 2 === 1) socket.write('POST /v1/ru');
          });
          socket.on('data', (d: Buffer) => {
            rec.got_bytes += d.length;
            rec.first_line ??= d.toString('latin1').split('\r\n')[0].slice(0, 80);
          });
          socket.on('error', (e) => (rec.error ??= errCode(e)));
          const closedByServer = () => {
            if (!ctx.stop.aborted) rec.server_closed_at_s ??= ctx.at();
          };
          socket.on('end', closedByServer);
          socket.on('close', closedByServer);
          if (i % 50 === 49) await sleep(20, ctx.stop);
        }
        await sleep(ctx.deadline - Date.now(), ctx.stop);
        const closedTimes = recs.map((r) => r.server_closed_at_s).filter((t): t is number => t !== null);
        return {
          opened: recs.length,
          connected: recs.filter((r) => r.connected).length,
          closed_by_server: closedTimes.length,
          first_close_at_s: closedTimes.length ? Math.min(...closedTimes) : null,
          got_a_response: recs.filter((r) => r.got_bytes > 0).length,
          responses: countBy(
            recs.filter((r) => r.first_line),
            (r) => r.first_line!,
          ),
          errors: countBy(
            recs.filter((r) => r.error),
            (r) => r.error!,
          ),
        };
      };

      // (c) keyed bodies declared as 20 MiB, sent up to 19 MiB, then nothing
      const truncated = async () => {
        const socket = ctx.hold(net.connect({ host: '127.0.0.1', port: ctx.port }));
        const rec = {
          connected: false,
          bytes_sent: 0,
          sent_all_at_s: null as number | null,
          response: null as string | null,
          closed_at_s: null as number | null,
          error: null as string | null,
        };
        socket.on('data', (d: Buffer) => (rec.response ??= d.toString('latin1').split('\r\n')[0].slice(0, 80)));
        socket.on('error', (e) => (rec.error ??= errCode(e)));
        socket.on('close', () => {
          if (!ctx.stop.aborted) rec.closed_at_s ??= ctx.at();
        });
        rec.connected = await connected(socket, ctx.stop);
        if (!rec.connected) return rec;
        socket.write(
          rawRequestHead(ctx.port, { 'Content-Type': 'application/json', 'X-API-Key': API_KEY, 'Content-Length': String(DECLARED) }),
        );
        socket.write('{"code":"');
        rec.bytes_sent = 9;
        while (rec.bytes_sent < SENT && !ctx.stop.aborted && !socket.destroyed) {
          const part = piece.subarray(0, Math.min(piece.length, SENT - rec.bytes_sent));
          rec.bytes_sent += part.length;
          if (!socket.write(part)) await drained(socket, ctx.stop);
        }
        if (rec.bytes_sent >= SENT) {
          // Wait until the kernel has taken it all, then hold the connection open until the scenario ends.
          await Promise.race([new Promise((r) => socket.write('', r)), sleep(ctx.deadline - Date.now(), ctx.stop)]);
          rec.sent_all_at_s = ctx.at();
        }
        return rec;
      };

      const [flooders, idleReport, cutShort] = await Promise.all([
        Promise.all(Array.from({ length: part('chunked') ? 3 : 0 }, chunked)),
        part('idle') ? idle() : undefined,
        Promise.all(Array.from({ length: part('truncated') ? 20 : 0 }, truncated)),
      ]);
      await sleep(ctx.deadline - Date.now(), ctx.stop);
      return {
        chunked_unauthenticated: flooders.map((f) => ({ ...f, mb_sent: round(f.bytes_sent / 1e6, 1) })),
        idle_connections: idleReport,
        truncated_bodies: {
          clients: cutShort.length,
          all_19mib_sent: cutShort.filter((c) => c.sent_all_at_s !== null).length,
          last_sent_at_s: cutShort.length ? Math.max(...cutShort.map((c) => c.sent_all_at_s ?? -1)) : null,
          closed_by_server: cutShort.filter((c) => c.closed_at_s !== null).length,
          responses: countBy(
            cutShort.filter((c) => c.response),
            (c) => c.response!,
          ),
          errors: countBy(
            cutShort.filter((c) => c.error),
            (c) => c.error!,
          ),
        },
      };
    };
  },
};

const SCENARIOS = [responses, bodies, connections];

// ---------------------------------------------------------------------------------------------------------
// One scenario against one fresh server

let currentServer: ChildProcess | undefined;
const interrupted = new AbortController();

async function runScenario(scenario: Scenario) {
  const attack = scenario.prepare();
  console.error(`\n== ${scenario.name}: ${scenario.describe}`);
  const server = await spawnServer({
    RUNBOX_API_KEY: API_KEY,
    RUNBOX_INSTANCE_ID: INSTANCE_ID,
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
  });
  currentServer = server.child;
  const pid = server.pid;
  const port = Number(new URL(server.url).port);
  let stderrTail = '';
  let stdoutTail = '';
  server.child.stderr!.on('data', (d: Buffer) => (stderrTail = (stderrTail + d.toString()).slice(-3000)));
  server.child.stdout!.on('data', (d: Buffer) => (stdoutTail = (stdoutTail + d.toString()).slice(-3000)));
  let exit: { code: number | null; signal: string | null; at_s: number | null } | undefined;
  let signalled = false;
  const exited = new Promise<void>((resolve) =>
    server.child.once('exit', (code, signal) => {
      exit = { code, signal, at_s: null };
      resolve();
    }),
  );

  // Ready (engine and image) and a moment for the warm pool to fill.
  const readyBy = Date.now() + 30_000;
  let ready = false;
  while (!ready && Date.now() < readyBy && !exit && !interrupted.signal.aborted) {
    ready = (await httpCall(port, { method: 'GET', path: '/ready', timeoutMs: 5_000 })).status === 200;
    if (!ready) await sleep(500);
  }
  await sleep(1_000, interrupted.signal);

  const startAt = Date.now();
  const deadline = startAt + SCENARIO_MS;
  const at = () => round((Date.now() - startAt) / 1000, 1)!;
  const stopper = new AbortController();
  setMaxListeners(10_000, stopper.signal);
  const stopTimer = setTimeout(() => stopper.abort(), SCENARIO_MS);
  const onInterrupt = () => stopper.abort();
  interrupted.signal.addEventListener('abort', onInterrupt, { once: true });
  void exited.then(() => {
    if (signalled) return;
    exit!.at_s = at();
    console.error(`   server died at ${exit!.at_s}s (code ${exit!.code}, signal ${exit!.signal})`);
    setTimeout(() => stopper.abort(), 2_000);
  });

  // /proc sampling every 100 ms
  const rss0 = procStatus(pid);
  const cpu0 = procCpuTicks(pid) ?? 0;
  const fds0 = procFds(pid) ?? 0;
  let peakRssKb = rss0?.rssKb ?? 0;
  let lastCpu = cpu0;
  let lastCpuAt = Date.now();
  let peakFds = fds0;
  const perSecondRssMb: number[] = [];
  let benchPeakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    const s = procStatus(pid);
    if (s) {
      peakRssKb = Math.max(peakRssKb, s.rssKb);
      const second = Math.floor((Date.now() - startAt) / 1000);
      perSecondRssMb[second] = Math.max(perSecondRssMb[second] ?? 0, round(s.rssKb / 1024)!);
    }
    const cpu = procCpuTicks(pid);
    if (cpu !== undefined) {
      lastCpu = cpu;
      lastCpuAt = Date.now();
    }
    peakFds = Math.max(peakFds, procFds(pid) ?? 0);
    benchPeakRss = Math.max(benchPeakRss, process.memoryUsage.rss());
  }, 100);
  const benchCpu0 = process.cpuUsage();
  const mainDelay = monitorEventLoopDelay({ resolution: 10 });
  mainDelay.enable();

  // The well-behaved prober, in its own thread
  const worker = new Worker(__filename, { workerData: { port, startAt, endAt: deadline } satisfies ProbeData });
  const probed = new Promise<ProbeResult | undefined>((resolve) => {
    worker.once('message', (m: ProbeResult) => resolve(m));
    worker.once('error', (e) => {
      console.error(`   prober failed: ${e.message}`);
      resolve(undefined);
    });
    worker.once('exit', () => resolve(undefined));
  });

  // The attack, bounded by the scenario's time (and a hard guard in case a loop misbehaves)
  const held = new Set<net.Socket>();
  const ctx: Ctx = {
    port,
    url: server.url,
    stop: stopper.signal,
    startAt,
    deadline,
    hold: (socket) => {
      held.add(socket);
      socket.on('error', () => undefined);
      return socket;
    },
    at,
  };
  let attackReport: Record<string, unknown>;
  try {
    attackReport = (await Promise.race([attack(ctx), sleep(SCENARIO_MS + 10_000).then(() => undefined)])) ?? {
      error: 'attack did not finish within the scenario time + 10 s',
    };
  } catch (err) {
    attackReport = { error: (err as Error).stack ?? String(err) };
  }
  stopper.abort();
  clearTimeout(stopTimer);
  interrupted.signal.removeEventListener('abort', onInterrupt);
  worker.postMessage('stop');
  const probe = await Promise.race([probed, sleep(5_000).then(() => undefined)]);
  await worker.terminate();
  const elapsedS = (Date.now() - startAt) / 1000;

  // Final figures while the server still lives (if it does)
  clearInterval(sampler);
  mainDelay.disable();
  const benchCpu = process.cpuUsage(benchCpu0);
  const end = exit ? undefined : procStatus(pid);
  const cpuEnd = exit ? lastCpu : (procCpuTicks(pid) ?? lastCpu);
  const cpuWindowS = ((exit ? lastCpuAt : Date.now()) - startAt) / 1000;
  if (end) peakRssKb = Math.max(peakRssKb, end.rssKb);

  // Let go of the hostile sockets, then stop the server: SIGTERM, SIGKILL after 15 s.
  for (const socket of held) socket.destroy();
  const died = exit !== undefined;
  let shutdown: Record<string, unknown> = { sent: 'none (already dead)' };
  if (!died) {
    signalled = true;
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    let sent = 'SIGTERM';
    if (!(await Promise.race([exited.then(() => true), sleep(TERM_GRACE_MS).then(() => false)]))) {
      sent = 'SIGTERM, then SIGKILL';
      server.child.kill('SIGKILL');
      await Promise.race([exited, sleep(10_000)]);
    }
    shutdown = { sent, exit_code: exit?.code ?? null, exit_signal: exit?.signal ?? null, ms: Date.now() - t0 };
  }
  currentServer = undefined;

  const containers = await cleanContainers();
  const statsOf = (samples: Sample[] | undefined) => (samples ? summarize(samples) : { error: 'prober gave no result' });
  return {
    scenario: scenario.name,
    describe: scenario.describe,
    ready_before_attack: ready,
    elapsed_s: round(elapsedS, 1),
    server: {
      pid,
      died,
      ...(died
        ? {
            exit_code: exit!.code,
            exit_signal: exit!.signal,
            died_at_s: exit!.at_s,
            stderr_tail: stderrTail.slice(-1500),
            stdout_tail: stdoutTail.slice(-1000),
          }
        : {}),
      shutdown,
    },
    rss_mb: {
      start: round((rss0?.rssKb ?? NaN) / 1024),
      peak_sampled: round(peakRssKb / 1024),
      hwm_end: end ? round(end.hwmKb / 1024) : null,
      peak: round(Math.max(peakRssKb, end?.hwmKb ?? 0) / 1024),
      end: end ? round(end.rssKb / 1024) : null,
      per_second_max: perSecondRssMb,
    },
    cpu: { seconds: round((cpuEnd - cpu0) / CLK_TCK, 1), cores: round((cpuEnd - cpu0) / CLK_TCK / Math.max(cpuWindowS, 0.001), 2) },
    fds: { start: fds0, peak: peakFds },
    health: statsOf(probe?.health),
    trivial_run: statsOf(probe?.runs),
    attack: attackReport,
    containers,
    bench: {
      main_loop_delay_max_ms: round(mainDelay.max / 1e6),
      prober_loop_delay_max_ms: probe?.loop_delay_max_ms ?? null,
      bench_peak_rss_mb: round(benchPeakRss / 1024 / 1024),
      bench_cpu_cores: round((benchCpu.user + benchCpu.system) / 1e6 / Math.max(elapsedS, 0.001), 2),
    },
    samples: { health: probe?.health ?? [], trivial_run: probe?.runs ?? [] },
  };
}

/** Containers labelled runbox.run-id: ours (this bench's instance) are removed; others are only reported. */
async function cleanContainers() {
  const docker = createDockerClient({ callTimeoutMs: 15_000 });
  try {
    const all = await docker.listByLabel(LABEL_RUN_ID);
    const ours = all.filter((c) => c.labels[LABEL_INSTANCE] === INSTANCE_ID);
    const removed: string[] = [];
    const failed: string[] = [];
    for (const c of ours) {
      try {
        await docker.remove(c.id);
        removed.push(c.id.slice(0, 12));
      } catch {
        failed.push(c.id.slice(0, 12));
      }
    }
    return { left: ours.length, removed, removal_failed: failed, other_instances: all.length - ours.length };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

// ---------------------------------------------------------------------------------------------------------

function tableRow(r: Awaited<ReturnType<typeof runScenario>>) {
  const h = r.health as { worst_ms?: number | null; p50_ms?: number | null; failed?: number };
  const t = r.trivial_run as { worst_ms?: number | null; p50_ms?: number | null; failed?: number };
  return {
    scenario: r.scenario,
    'peak RSS MB': r.rss_mb.peak,
    'health worst ms': h.worst_ms,
    'health p50 ms': h.p50_ms,
    'health failed': h.failed,
    'run worst ms': t.worst_ms,
    'run p50 ms': t.p50_ms,
    'run failed': t.failed,
    died: r.server.died ? `yes @${r.server.died_at_s}s (${r.server.exit_code ?? r.server.exit_signal})` : 'no',
    'CPU cores': r.cpu.cores,
    'containers left': (r.containers as { left?: number }).left ?? '?',
  };
}

function statusLines(r: Awaited<ReturnType<typeof runScenario>>): string[] {
  const fmt = (o: unknown) =>
    o && typeof o === 'object'
      ? Object.entries(o as Record<string, number>)
          .map(([k, v]) => `${k}×${v}`)
          .join(', ')
      : '-';
  const lines = [
    `  health: ${fmt((r.health as { by_outcome?: unknown }).by_outcome)}`,
    `  trivial run: ${fmt((r.trivial_run as { by_outcome?: unknown }).by_outcome)}`,
  ];
  const a = r.attack as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (r.scenario === 'responses' && a.good_clients) {
    lines.push(`  hostile never-reading requests: ${a.hostile_requests} (closed: ${a.hostile_closed_by_server_or_error})`);
    lines.push(`  good clients: ${fmt(a.good_clients.by_outcome)}; response bytes ${JSON.stringify(a.good_clients.response_bytes)}`);
  } else if (r.scenario === 'bodies' && a.gzip) {
    lines.push(`  gzip: ${fmt(a.gzip.by_outcome)} (p50 ${a.gzip.ms_p50} ms, max ${a.gzip.ms_max} ms; ${a.gzip_bytes} B each)`);
    lines.push(`  plain: ${fmt(a.plain.by_outcome)} (p50 ${a.plain.ms_p50} ms, max ${a.plain.ms_max} ms)`);
  } else if (r.scenario === 'connections' && a.truncated_bodies) {
    for (const f of a.chunked_unauthenticated) {
      lines.push(
        `  chunked: ${f.mb_sent} MB sent, response "${f.response}" @${f.response_at_s}s, server end @${f.server_end_at_s}, closed @${f.closed_at_s}`,
      );
    }
    const i = a.idle_connections;
    if (i)
      lines.push(
        `  idle: ${i.connected}/${i.opened} connected, ${i.closed_by_server} closed by server (first @${i.first_close_at_s}s); fds ${r.fds.start}→${r.fds.peak}`,
      );
    const t = a.truncated_bodies;
    lines.push(
      `  19/20 MiB bodies: ${t.all_19mib_sent}/${t.clients} sent all, ${t.closed_by_server} closed by server, responses ${fmt(t.responses)}`,
    );
  }
  if (a.error) lines.push(`  attack error: ${String(a.error).split('\n')[0]}`);
  if (r.server.died) lines.push(`  stderr tail: ${String(r.server.stderr_tail).trim().split('\n').slice(-3).join(' | ')}`);
  return lines;
}

async function main() {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; choose from ${SCENARIOS.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const chosen = names.length ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;
  process.on('SIGINT', () => {
    if (interrupted.signal.aborted) process.exit(130);
    console.error('interrupted: ending the current scenario (Ctrl-C again to quit at once)');
    interrupted.abort();
  });
  process.on('exit', () => currentServer?.kill('SIGKILL'));

  const results = [];
  for (const scenario of chosen) {
    if (interrupted.signal.aborted) break;
    results.push(await runScenario(scenario));
  }
  const report = {
    at: new Date().toISOString(),
    node: process.version,
    scenario_ms: SCENARIO_MS,
    parts: PARTS ?? 'all',
    probe: {
      health_every_ms: HEALTH_EVERY_MS,
      run_every_ms: RUN_EVERY_MS,
      timeout_ms: PROBE_TIMEOUT_MS,
      failures_count_as_ms: PROBE_TIMEOUT_MS,
    },
    results,
  };
  console.table(results.map(tableRow));
  for (const r of results) console.log([`${r.scenario}:`, ...statusLines(r)].join('\n'));
  writeResults('hostile', report);
  process.exit(0);
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    currentServer?.kill('SIGKILL');
    process.exit(1);
  });
} else {
  void probeWorker(workerData as ProbeData);
}
