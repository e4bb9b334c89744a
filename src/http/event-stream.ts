/**
 * POST /v1/runs as Server-Sent Events: the run's output as it happens, then the same result body as the
 * JSON call. Output is coalesced for up to FLUSH_MS (no event per byte of a flood) and split only between whole
 * UTF-8 characters; each chunk is encoded as the result's output is (text, or base64 for escape-heavy
 * bytes), and only bytes the result keeps are sent, so the stream obeys the same caps. The stream opens
 * when the run starts: a refusal before that (400, 401, 413, 503) is a plain JSON error.
 */
import type { ServerResponse } from 'node:http';
import type { RunResponse } from '../api/run-response';
import { encodeOutput } from '../sandbox/encoding';
import type { OutputStream } from '../sandbox/run-output';
import { PhaseClock } from '../sandbox/phases';
import type { LiveRun } from '../sandbox/runner';
import { serverTiming } from './server-timing';

/**
 * At most one output event per this long: output after a quiet spell goes at once, more within it waits
 * to be coalesced, never longer than this (well inside the 100 ms a watcher would notice).
 */
export const FLUSH_MS = 50;
/** Pending output past this is sent at once, so no event carries much more than this. */
const FLUSH_BYTES = 64 * 1024;

/** What holding one more chunk costs, counted with its bytes, so a stream of 1-byte writes is flushed often enough. */
const CHUNK_OVERHEAD = 64;

const EMPTY = Buffer.alloc(0);

/** How many bytes at the end of `bytes` begin a UTF-8 character that is not complete yet (0 to 3). */
export function incompleteUtf8Tail(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    if (byte >= 0xf8) return 0; // never a lead byte
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

export class RunEventStream implements LiveRun {
  /**
   * Output not sent yet: per stream, in the order the streams first wrote within this window. One event per
   * stream per flush, however the program alternates between them, so the events' framing stays small
   * beside the output itself (at most two events per FLUSH_MS).
   */
  private pending = new Map<OutputStream, Buffer[]>();
  private pendingBytes = 0;
  /** Each stream's incomplete last character, held for its next chunk. */
  private readonly carry: Record<OutputStream, Buffer> = { stdout: EMPTY, stderr: EMPTY };
  private flushTimer: NodeJS.Timeout | undefined;
  private lastFlush = -Infinity;
  private keepAlive: NodeJS.Timeout | undefined;
  private opened = false;

  /**
   * `keepAliveMs`: how often a comment goes out on the open stream, so idle proxies do not cut a long silent run.
   * `clock`: the run's phases: those before it started go in the Server-Timing header, all of them in the
   * Server-Timing trailer at the end.
   */
  constructor(
    private readonly res: ServerResponse,
    private readonly keepAliveMs: number,
    private readonly clock = new PhaseClock(),
    private readonly flushMs = FLUSH_MS,
  ) {
    res.once('close', () => this.stopTimers());
  }

  /** Whether the stream has begun (its status line is sent): from then on, even errors are events. */
  get open(): boolean {
    return this.opened;
  }

  started({ id, queuedMs }: { id: string; queuedMs: number }): void {
    this.opened = true;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
      'server-timing': serverTiming(this.clock),
      trailer: 'Server-Timing',
    });
    this.send('start', { id, queued_ms: queuedMs });
    this.keepAlive = setInterval(() => this.write(': keep-alive\n\n'), this.keepAliveMs);
  }

  output(stream: OutputStream, bytes: Buffer): void {
    const chunks = this.pending.get(stream);
    if (chunks) chunks.push(bytes);
    else this.pending.set(stream, [bytes]);
    this.pendingBytes += bytes.length + CHUNK_OVERHEAD;
    if (this.pendingBytes >= FLUSH_BYTES) return this.flush();
    if (this.flushTimer) return;
    // Output after a quiet spell goes at once; more within FLUSH_MS of the last event waits to be coalesced.
    const wait = this.lastFlush + this.flushMs - performance.now();
    if (wait <= 0) this.flush();
    else this.flushTimer = setTimeout(() => this.flush(), wait);
  }

  truncated(stream: OutputStream): void {
    // Everything before the cut goes before the mark, a held-back part of a character included.
    this.flush();
    this.sendCarry(stream);
    this.send(stream, { content: '', encoding: 'utf8', truncated: true });
  }

  /** The run's end: the rest of its output, each artifact's metadata, then the result body. */
  finish(result: RunResponse): void {
    this.flush(true);
    for (const { path, size, mime_type, sha256 } of result.artifacts) this.send('artifact', { path, size, mime_type, sha256 });
    this.send('result', result);
    this.end();
  }

  /** The run failed after the stream began: the rest of its output, then the error as `/v1/runs` would state it. */
  fail(error: { code: string; message: string }): void {
    this.flush(true);
    this.send('error', error);
    this.end();
  }

  private flush(final = false): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.lastFlush = performance.now();
    const pending = this.pending;
    this.pending = new Map();
    this.pendingBytes = 0;
    for (const [stream, chunks] of pending) {
      const all = Buffer.concat([this.carry[stream], ...chunks]);
      const cut = all.length - incompleteUtf8Tail(all);
      this.carry[stream] = all.subarray(cut);
      if (cut > 0) this.send(stream, encodeOutput(all.subarray(0, cut)));
    }
    if (final) {
      this.sendCarry('stdout');
      this.sendCarry('stderr');
    }
  }

  /** A stream's held-back bytes, when no more will come to complete them. */
  private sendCarry(stream: OutputStream): void {
    if (this.carry[stream].length > 0) this.send(stream, encodeOutput(this.carry[stream]));
    this.carry[stream] = EMPTY;
  }

  private send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(text: string): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(text);
  }

  private end(): void {
    this.stopTimers();
    if (this.res.writableEnded) return;
    this.res.addTrailers({ 'Server-Timing': serverTiming(this.clock) });
    this.res.end();
  }

  private stopTimers(): void {
    clearTimeout(this.flushTimer);
    clearInterval(this.keepAlive);
  }
}
