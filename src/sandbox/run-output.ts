/**
 * Reads what a sandbox writes back through the engine's attach stream, without ever buffering past a cap:
 * the engine's multiplexed frames are split into stdout and stderr, stdout is split at the job's marker
 * into the program's output and the artifact archive (which the marker closes again), stderr ends at the
 * marker, and a run that floods is reported so it can be killed.
 */
import { ArtifactCollector, type ArtifactCaps } from './artifacts';
import { encodeOutput, type Encoded } from './encoding';
import { READY_SIGNAL } from './protocol';

const EMPTY = Buffer.alloc(0);

/** Keeps the first `cap` bytes of a stream and counts the rest. */
export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  constructor(private readonly cap: number) {}

  /** Returns the part of `chunk` that was kept (empty once the cap is reached). */
  push(chunk: Buffer): Buffer {
    this.total += chunk.length;
    const room = this.cap - this.kept;
    if (room <= 0) return EMPTY;
    const part = Buffer.from(chunk.length <= room ? chunk : chunk.subarray(0, room));
    this.chunks.push(part);
    this.kept += part.length;
    return part;
  }

  get truncated(): boolean {
    return this.total > this.cap;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }

  /** As it goes into JSON: UTF-8 text (invalid sequences become U+FFFD) or, for floods of control bytes, base64. */
  encoded(): Encoded {
    return encodeOutput(this.bytes());
  }
}

const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;

/**
 * Parses the engine's stream format (8-byte header: stream type, 3 zero bytes, big-endian payload size)
 * incrementally; payload bytes are handed on as they arrive, never gathered per frame.
 */
export class FrameDemuxer {
  private header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private remaining = 0;
  private stream = 0;

  constructor(private readonly onPayload: (stream: number, chunk: Buffer) => void) {}

  write(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill === HEADER_BYTES) {
          this.stream = this.header[0];
          this.remaining = this.header.readUInt32BE(4);
          this.headerFill = 0;
        }
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      this.onPayload(this.stream, chunk.subarray(offset, offset + take));
      this.remaining -= take;
      offset += take;
    }
  }
}

/** Finds `marker` in a byte stream split at arbitrary points; bytes before go to `before`, after to `after`. */
export class MarkerSplitter {
  private held = Buffer.alloc(0);
  found = false;

  constructor(
    private readonly marker: Buffer,
    private readonly before: (chunk: Buffer) => void,
    private readonly after: (chunk: Buffer) => void,
    private readonly onFound: () => void = () => undefined,
  ) {}

  write(chunk: Buffer): void {
    if (this.found) return this.after(chunk);
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const at = data.indexOf(this.marker);
    if (at >= 0) {
      this.found = true;
      this.held = Buffer.alloc(0);
      if (at > 0) this.before(data.subarray(0, at));
      this.onFound();
      const rest = data.subarray(at + this.marker.length);
      if (rest.length) this.after(rest);
      return;
    }
    // Hold back only an ending that could be the start of a marker straddling two chunks, so everything
    // else is passed on at once (live output must not wait for the next write).
    const keep = this.markerPrefixAtEnd(data);
    if (data.length > keep) this.before(data.subarray(0, data.length - keep));
    this.held = Buffer.from(data.subarray(data.length - keep));
  }

  /** The length of the longest ending of `data` that is a beginning of the marker. */
  private markerPrefixAtEnd(data: Buffer): number {
    for (let length = Math.min(this.marker.length - 1, data.length); length > 0; length--) {
      if (data.subarray(data.length - length).equals(this.marker.subarray(0, length))) return length;
    }
    return 0;
  }

  /** The stream ended: whatever was held back was program output after all. */
  end(): void {
    if (!this.found && this.held.length) this.before(this.held);
    this.held = Buffer.alloc(0);
  }
}

export interface RunOutputOptions {
  marker: string;
  maxOutputBytes: number;
  outputKillBytes: number;
  artifactCaps: ArtifactCaps;
  /** Called once when the run writes more than it may; the run should be killed. */
  onLimitExceeded: (what: 'output' | 'artifacts') => void;
  /** Told the program's output as it arrives: exactly the bytes kept for the result, and when a stream is cut. */
  live?: LiveOutput;
}

export type OutputStream = 'stdout' | 'stderr';

export interface LiveOutput {
  output(stream: OutputStream, bytes: Buffer): void;
  /** The stream reached its cap: the rest of it is dropped (said once per stream). */
  truncated(stream: OutputStream): void;
}

export interface CollectedOutput {
  stdout: Encoded;
  stderr: Encoded;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** The launcher finished normally and appended the artifact archive. */
  completed: boolean;
}

export class RunOutput {
  readonly stdout: CappedBuffer;
  readonly stderr: CappedBuffer;
  readonly artifacts: ArtifactCollector;
  /**
   * Resolves once the launcher has closed both streams with the marker: the program and everything it
   * started are gone and all they wrote is here, archive included. Never rejects; a run that is killed, or
   * whose launcher is, never seals.
   */
  readonly sealed: Promise<void>;
  private readonly demuxer: FrameDemuxer;
  private readonly splitter: MarkerSplitter;
  private readonly archive: MarkerSplitter;
  private readonly stderrSplitter: MarkerSplitter;
  /** Drops the launcher's ready signal, which comes first on stdout, before the program's output. */
  private readonly ready: MarkerSplitter;
  private limitReported = false;

  constructor(private readonly options: RunOutputOptions) {
    this.stdout = new CappedBuffer(options.maxOutputBytes);
    this.stderr = new CappedBuffer(options.maxOutputBytes);
    this.artifacts = new ArtifactCollector(options.artifactCaps);
    const marker = Buffer.from(options.marker, 'utf8');
    let sealedStreams = 0;
    let seal!: () => void;
    this.sealed = new Promise((resolve) => (seal = resolve));
    const closed = () => ++sealedStreams === 2 && seal();
    // Nothing may follow the archive's closing marker, or stderr's: what does is dropped.
    const archive = (this.archive = new MarkerSplitter(
      marker,
      (chunk) => {
        if (!this.artifacts.write(chunk)) this.limit('artifacts');
      },
      () => undefined,
      closed,
    ));
    this.splitter = new MarkerSplitter(
      marker,
      (chunk) => this.program('stdout', chunk),
      (chunk) => archive.write(chunk),
    );
    this.stderrSplitter = new MarkerSplitter(
      marker,
      (chunk) => this.program('stderr', chunk),
      () => undefined,
      closed,
    );
    const splitter = this.splitter;
    this.ready = new MarkerSplitter(
      READY_SIGNAL,
      (chunk) => splitter.write(chunk),
      (chunk) => splitter.write(chunk),
    );
    this.demuxer = new FrameDemuxer((stream, chunk) => {
      if (stream === STDOUT) this.ready.write(chunk);
      else if (stream === STDERR) this.stderrSplitter.write(chunk);
    });
  }

  write(chunk: Buffer): void {
    this.demuxer.write(chunk);
  }

  end(): void {
    this.ready.end();
    this.splitter.end();
    this.archive.end();
    this.stderrSplitter.end();
  }

  get completed(): boolean {
    return this.splitter.found;
  }

  collected(): CollectedOutput {
    return {
      stdout: this.stdout.encoded(),
      stderr: this.stderr.encoded(),
      stdoutTruncated: this.stdout.truncated,
      stderrTruncated: this.stderr.truncated,
      completed: this.completed,
    };
  }

  /** Adds runbox's own words to a stream, after the program's, for the result and the live watcher alike. */
  append(stream: OutputStream, chunk: Buffer): void {
    this.keep(stream, chunk);
  }

  private program(stream: OutputStream, chunk: Buffer): void {
    this.keep(stream, chunk);
    if (this.stdout.total + this.stderr.total > this.options.outputKillBytes) this.limit('output');
  }

  private keep(stream: OutputStream, chunk: Buffer): void {
    const buffer = this[stream];
    const wasTruncated = buffer.truncated;
    const kept = buffer.push(chunk);
    const { live } = this.options;
    if (live && kept.length > 0) live.output(stream, kept);
    if (live && buffer.truncated && !wasTruncated) live.truncated(stream);
  }

  private limit(what: 'output' | 'artifacts'): void {
    if (this.limitReported) return;
    this.limitReported = true;
    this.options.onLimitExceeded(what);
  }
}
