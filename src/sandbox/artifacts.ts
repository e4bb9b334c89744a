/**
 * Reads the artifact archive the sandbox appends to its stdout. The archive comes from a container the
 * program controls, so it is hostile input: only regular-file entries are returned, never links, devices
 * or FIFOs; count, per-file and total caps hold while streaming; nothing touches the server's filesystem.
 */
import { createHash } from 'node:crypto';
import { extract, type ExtractEvents, type Header } from 'tar-stream';
import { encodeExact, type Encoding } from './encoding';
import { mediaType } from './media-type';
import { relativePathProblem } from './paths';
import { RESULT_ENTRY, type ArtifactCaps } from './protocol';

export type { ArtifactCaps };

export interface Artifact {
  path: string;
  size: number;
  mimeType: string;
  /** Hex SHA-256 of the file's bytes, so a client can check what it saves or cache by content. */
  sha256: string;
  encoding: Encoding;
  content: string;
}

/** What the launcher says the program used, from getrusage: the container's word, to be bounded by the caller. */
export interface ReportedUsage {
  cpuMs: number;
  maxRssKb: number;
}

export interface ArtifactsResult {
  artifacts: Artifact[];
  truncated: boolean;
  usage?: ReportedUsage;
  /** The program's exit status, as the launcher reports it behind the marker (as it would to the engine). */
  exitCode?: number;
  /**
   * After an exit by SIGKILL: whether the kernel's count of OOM kills in the container's memory cgroup grew
   * while the program ran. Absent where the launcher cannot read it (gVisor); then only the engine can say.
   */
  oomKilled?: boolean;
}

const SUMMARY_MAX_BYTES = 4096;
/** Room for tar headers and padding on top of the content caps. */
const ARCHIVE_OVERHEAD_PER_ENTRY = 3 * 512;
const ARCHIVE_OVERHEAD = 64 * 1024;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The entry's name, or undefined when it is not valid UTF-8. Plain and GNU names arrive as raw bytes (the
 * parser is told latin1), so two different invalid names can never collapse into one; PAX names are UTF-8
 * by definition and already decoded, with U+FFFD where they were not, which relativePathProblem refuses.
 */
function entryName(header: Header): string | undefined {
  if ((header.pax as { path?: string } | null | undefined)?.path !== undefined) return header.name;
  try {
    return strictUtf8.decode(Buffer.from(header.name, 'latin1'));
  } catch {
    return undefined;
  }
}

export function encodeArtifact(path: string, data: Buffer): Artifact {
  return {
    path,
    size: data.length,
    mimeType: mediaType(path, data),
    sha256: createHash('sha256').update(data).digest('hex'),
    ...encodeExact(data),
  };
}

/** A tar entry's content stream (a streamx stream, not a Node one). */
type EntryStream = ExtractEvents['entry'][1];

function readAll(stream: EntryStream, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (data) => {
      const chunk = data as Buffer;
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    stream.on('end', () => (size <= limit ? resolve(Buffer.concat(chunks)) : reject(new Error('entry over its limit'))));
    stream.on('error', (err: Error) => reject(err));
  });
}

/** Incremental reader: feed it the bytes after the marker, then call finish(). */
export class ArtifactCollector {
  // tar-stream takes filenameEncoding; its type declarations do not list it.
  private readonly parser = extract({ filenameEncoding: 'latin1' } as Parameters<typeof extract>[0]);
  private readonly artifacts: Artifact[] = [];
  /** Names taken so far, in NFC: names that differ only in normalization would look the same to a user. */
  private readonly taken = new Set<string>();
  private readonly rawLimit: number;
  private rawBytes = 0;
  private keptBytes = 0;
  private truncated = false;
  private usage: ReportedUsage | undefined;
  private exitCode: number | undefined;
  private oomKilled: boolean | undefined;
  private closed = false;
  private readonly done: Promise<void>;

  constructor(private readonly caps: ArtifactCaps) {
    this.rawLimit = caps.maxTotalBytes + ARCHIVE_OVERHEAD + (caps.maxFiles + 1) * ARCHIVE_OVERHEAD_PER_ENTRY;
    this.parser.on('entry', (header, stream, next) => {
      this.onEntry(header, stream).then(
        () => next(),
        () => next(),
      );
    });
    this.done = new Promise((resolve) => {
      this.parser.on('finish', resolve);
      this.parser.on('close', resolve);
      this.parser.on('error', () => {
        // A malformed or cut-off archive: keep what was read, say that something is missing.
        this.truncated = true;
        resolve();
      });
    });
  }

  /** Returns false once the archive exceeds what the caps can explain; the caller should stop the run. */
  write(chunk: Buffer): boolean {
    if (this.closed) return false;
    this.rawBytes += chunk.length;
    if (this.rawBytes > this.rawLimit) {
      this.truncated = true;
      this.close();
      return false;
    }
    this.parser.write(chunk);
    return true;
  }

  async finish(): Promise<ArtifactsResult> {
    this.close();
    await this.done;
    return { artifacts: this.artifacts, truncated: this.truncated, usage: this.usage, exitCode: this.exitCode, oomKilled: this.oomKilled };
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.end(undefined);
  }

  private async onEntry(header: Header, stream: EntryStream): Promise<void> {
    const name = entryName(header) ?? '';
    if (name === RESULT_ENTRY.summary && header.type === 'file') {
      try {
        const summary = JSON.parse((await readAll(stream, SUMMARY_MAX_BYTES)).toString('utf8')) as {
          skipped?: unknown;
          usage?: { cpu_ms?: unknown; max_rss_kb?: unknown };
          exit_code?: unknown;
          oom_killed?: unknown;
        };
        if (typeof summary.oom_killed === 'boolean') this.oomKilled = summary.oom_killed;
        const exitCode = summary.exit_code;
        // An exit status as a process can have one (0-255).
        if (Number.isInteger(exitCode) && (exitCode as number) >= 0 && (exitCode as number) <= 255) this.exitCode = exitCode as number;
        if (typeof summary.skipped === 'number' && summary.skipped > 0) this.truncated = true;
        const { cpu_ms: cpuMs, max_rss_kb: maxRssKb } = summary.usage ?? {};
        if (Number.isSafeInteger(cpuMs) && Number.isSafeInteger(maxRssKb))
          this.usage = { cpuMs: cpuMs as number, maxRssKb: maxRssKb as number };
      } catch {
        this.truncated = true;
      }
      return;
    }
    const prefix = RESULT_ENTRY.artifactsPrefix;
    const path = name.startsWith(prefix) ? name.slice(prefix.length) : '';
    const size = header.size ?? 0;
    const acceptable =
      header.type === 'file' &&
      relativePathProblem(path) === undefined &&
      !this.taken.has(path.normalize('NFC')) &&
      this.artifacts.length < this.caps.maxFiles &&
      size <= this.caps.maxFileBytes &&
      this.keptBytes + size <= this.caps.maxTotalBytes;
    if (!acceptable) {
      // Directories are structure, not content; anything else left out is reported.
      if (header.type !== 'directory') this.truncated = true;
      // A cut-off archive errors the entry being drained; the collector's own error handler reports it.
      stream.on('error', () => undefined);
      stream.resume();
      return;
    }
    this.keptBytes += size;
    this.taken.add(path.normalize('NFC'));
    const data = await readAll(stream, size);
    this.artifacts.push(encodeArtifact(path, data));
  }
}
